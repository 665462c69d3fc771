import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, runCommand, runDenul, useCliTestDir } from './helpers.js';

const dir = useCliTestDir();

function logWithNuls(name: string, mib: number): string {
  const file = path.join(dir.path, name);
  const block = Buffer.alloc(1024 * 1024, 'a log line that goes on\n');
  for (let i = 0; i < block.length; i += 4096) block[i] = 0;
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < mib; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);
  return file;
}

describe('progress on a terminal', () => {
  test('shows a progress line on stderr when it is a terminal', async () => {
    const file = logWithNuls('progress.log', 8);
    // script(1) gives the child a pseudo-terminal, as an operator's shell would.
    const command = `node ${CLI} --count --progress-min 1 --chunk-size 64k ${file}`;
    const result = await runCommand('script', ['-qec', command, '/dev/null']);
    const output = result.stdout.toString();
    assert.match(output, /denul: .*progress\.log {2}\d+% {2}[\d.]+ [KMG]i?B of 8\.0 MiB/);
    assert.ok(output.includes('\r\u001b[K'), 'the line is redrawn and cleared in place');
  });

  test('writes nothing to stderr when it is not a terminal', async () => {
    const file = logWithNuls('quiet.log', 8);
    const result = await runDenul(['--count', '--progress-min', '1', file]);
    assert.equal(result.code, 0);
    assert.equal(result.stderr, '');
  });
});

describe('rotation while denul -i runs', () => {
  test('a copytruncate during the run is detected: denul starts over on the new content and keeps the new lines', async () => {
    const file = logWithNuls('rotating.log', 128);
    const cleanBlock = Buffer.from(
      Buffer.alloc(1024 * 1024, 'a log line that goes on\n').filter((_, i) => i % 4096 !== 0),
    );
    const denul = spawn(process.execPath, [CLI, '-i', '--chunk-size', '4k', file]);
    let stderr = '';
    denul.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const closed = new Promise<number | null>((resolve) => denul.on('close', (code) => resolve(code)));
    try {
      const tempSize = () => {
        const temp = fs.readdirSync(dir.path).find((name) => name.includes('.denul-'));
        return temp === undefined ? 0 : fs.statSync(path.join(dir.path, temp)).size;
      };
      for (let i = 0; i < 1000 && tempSize() < 40 * 1024 * 1024; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.ok(tempSize() >= 40 * 1024 * 1024, 'denul has cleaned past 40 MiB');
      // copytruncate cuts the file (here to 32 MiB, below where denul is), and the writer, without
      // O_APPEND, goes on at its old offset: the file now ends in a hole of NULs and a new line.
      fs.truncateSync(file, 32 * 1024 * 1024);
      // The writer's next line would make the file longer than before; written at once, it could
      // land before denul looks at the size and hide the truncation. Wait (bounded) for the report.
      for (let i = 0; i < 2000 && !/was truncated/.test(stderr); i++)
        await new Promise((r) => setTimeout(r, 10));
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, 'fresh line after rotation\n', 128 * 1024 * 1024);
      fs.closeSync(fd);
      assert.equal(await closed, 0, stderr);
    } finally {
      denul.kill();
    }
    assert.match(stderr, /was truncated while being cleaned .*starting over/);
    const expected = Buffer.concat([
      ...Array.from({ length: 32 }, () => cleanBlock),
      Buffer.from('fresh line after rotation\n'),
    ]);
    const content = fs.readFileSync(file);
    assert.equal(content.indexOf(0), -1, 'no NUL left');
    assert.ok(content.equals(expected), 'the cut content, cleaned, then the new line');
    assert.deepEqual(
      fs.readdirSync(dir.path).filter((name) => name.includes('.denul-')),
      [],
    );
  });
});
