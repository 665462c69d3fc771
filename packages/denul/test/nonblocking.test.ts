import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, runCommand, runTr, useCliTestDir } from './helpers.js';

const dir = useCliTestDir();

/**
 * Python hands denul pipe ends that are set O_NONBLOCK (the flag lives on the shared open file
 * description, so denul inherits it), then feeds and drains them slowly: every read and write
 * meets EAGAIN many times.
 */
const SLOW_PIPES = `
import os, subprocess, sys, time
node, cli, src, out = sys.argv[1:5]
in_r, in_w = os.pipe()
out_r, out_w = os.pipe()
os.set_blocking(in_r, False)
os.set_blocking(out_w, False)
child = subprocess.Popen([node, cli], stdin=in_r, stdout=out_w)
os.close(in_r); os.close(out_w)
data = open(src, 'rb').read()
received = bytearray()
os.set_blocking(out_r, False)
os.set_blocking(in_w, False)
# Let denul find an empty stdin and then fill its stdout before anything is drained.
time.sleep(0.3)
sent = 0
while True:
    if sent < len(data):
        try:
            sent += os.write(in_w, data[sent:sent + 65536])
        except BlockingIOError:
            pass
        if sent >= len(data):
            os.close(in_w)
    try:
        chunk = os.read(out_r, 16384)
        if chunk == b'':
            break
        received += chunk
    except BlockingIOError:
        time.sleep(0.001)
open(out, 'wb').write(received)
sys.exit(child.wait())
`;

describe('pipes set non-blocking by the parent', () => {
  test('denul waits through EAGAIN on stdin and stdout and loses nothing: same bytes as tr', async () => {
    const source = path.join(dir.path, 'source.bin');
    const block = Buffer.alloc(1024 * 1024, 'some log text\n');
    for (let i = 0; i < block.length; i += 1000) block[i] = 0;
    fs.writeFileSync(source, Buffer.concat([block, block, block, block]));
    const out = path.join(dir.path, 'out.bin');
    const result = await runCommand('/usr/bin/python3', [
      '-c',
      SLOW_PIPES,
      process.execPath,
      CLI,
      source,
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.ok(fs.readFileSync(out).equals(await runTr(source)));
  });
});
