import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, runCommand, runDenul, runTr, useCliTestDir } from './helpers.js';

const dir = useCliTestDir();

function writeFile(name: string, content: Buffer | string): string {
  const file = path.join(dir.path, name);
  fs.writeFileSync(file, content);
  return file;
}

describe('denul FILE writes the file without NUL bytes, like tr -d \\000', () => {
  const cases: Record<string, Buffer> = {
    'no NULs': Buffer.from('a clean line\nand another\n'),
    'only NULs': Buffer.alloc(10_000),
    'NULs at the start': Buffer.concat([Buffer.alloc(4096), Buffer.from('line after a hole\n')]),
    'NULs at the end': Buffer.concat([Buffer.from('line before a hole\n'), Buffer.alloc(300)]),
    'NULs in the middle': Buffer.concat([Buffer.from('one\n'), Buffer.alloc(77), Buffer.from('two\n')]),
    empty: Buffer.alloc(0),
    'binary input': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
  };
  for (const [name, content] of Object.entries(cases)) {
    test(`${name}: output is byte-identical to tr, with the default and a 3-byte chunk size`, async () => {
      const file = writeFile(`${name.replace(/\W/g, '_')}.log`, content);
      const expected = await runTr(file);
      for (const extra of [[], ['--chunk-size', '3']]) {
        const result = await runDenul([...extra, file]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(result.stdout, expected);
        assert.equal(result.stderr, '');
      }
    });
  }

  test('random inputs with NUL runs across chunk boundaries: byte-identical to tr', async () => {
    for (let round = 0; round < 8; round++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < 60; i++) {
        parts.push(randomInt(3) === 0 ? Buffer.alloc(randomInt(5000)) : randomBytes(randomInt(5000)));
      }
      const file = writeFile(`random-${round}.bin`, Buffer.concat(parts));
      const expected = await runTr(file);
      const chunk = String(1 + randomInt(9000));
      const result = await runDenul(['--chunk-size', chunk, file]);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.equals(expected), `round ${round}, chunk size ${chunk}`);
    }
  });

  test('every search path (--strategy js, wasm, auto) at small and odd chunk sizes: byte-identical to tr, same counts', async () => {
    // Long clean stretches, NUL runs of every length, and a stretch with a NUL every other byte.
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const kind = randomInt(4);
      const size = randomInt(3000);
      if (kind === 0) parts.push(Buffer.alloc(size));
      else if (kind === 1) parts.push(randomBytes(size));
      else if (kind === 2) parts.push(Buffer.from(randomBytes(size).map((b, j) => (j % 2 === 0 ? 0 : b))));
      else parts.push(Buffer.from(randomBytes(size).map((b) => (randomInt(5) === 0 ? 0 : b))));
    }
    const content = Buffer.concat(parts);
    const file = writeFile('strategies.bin', content);
    const expected = await runTr(file);
    const nuls = content.length - expected.length;
    for (const strategy of ['js', 'wasm', 'auto']) {
      for (const chunk of ['1', '15', '16', '17', '4093', '131072']) {
        const where = `--strategy ${strategy} --chunk-size ${chunk}`;
        const result = await runDenul(['--strategy', strategy, '--chunk-size', chunk, file]);
        assert.equal(result.code, 0, result.stderr);
        assert.ok(result.stdout.equals(expected), where);
        const counted = await runDenul([
          '--strategy',
          strategy,
          '--chunk-size',
          chunk,
          '--count',
          '--json',
          file,
        ]);
        assert.equal(JSON.parse(counted.stdout.toString()).nulBytes, nuls, where);
      }
    }
  });

  test('reads standard input when given no file or "-", and concatenates several inputs', async () => {
    const input = Buffer.from('in\0put\0\0\n');
    const piped = await runDenul([], { input });
    assert.equal(piped.stdout.toString(), 'input\n');
    const file = writeFile('concat.log', 'file\0\n');
    const mixed = await runDenul([file, '-', file], { input });
    assert.equal(mixed.stdout.toString(), 'file\ninput\nfile\n');
  });

  test('keeps NULs after the first byte with --leading-only', async () => {
    const file = writeFile('leading.log', Buffer.concat([Buffer.alloc(50), Buffer.from('a\0b\n')]));
    const result = await runDenul(['--leading-only', file]);
    assert.deepEqual(result.stdout, Buffer.from('a\0b\n'));
  });
});

describe('--count and --check report without writing data', () => {
  test('--count prints NUL bytes and runs per file and a total, exit 0, and writes no data', async () => {
    const a = writeFile('count-a.log', Buffer.from('x\0\0y\0z'));
    const b = writeFile('count-b.log', 'clean\n');
    const result = await runDenul(['--count', a, b]);
    assert.equal(result.code, 0);
    assert.equal(
      result.stdout.toString(),
      `${a}: 3 NUL bytes in 2 runs (6 bytes read)\n${b}: 0 NUL bytes in 0 runs (6 bytes read)\n` +
        'total: 3 NUL bytes in 2 runs in 2 files\n',
    );
  });

  test('-c still counts, with a warning that it is deprecated (-c is --config elsewhere)', async () => {
    const a = writeFile('count-c.log', Buffer.from('x\0y'));
    const result = await runDenul(['-c', a]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), `${a}: 1 NUL byte in 1 run (3 bytes read)\n`);
    assert.match(result.stderr.toString(), /-c is deprecated and will go; use --count/);
  });

  test('--version prints the package version', async () => {
    const result = await runDenul(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout.toString(), /^\d+\.\d+\.\d+\n$/);
  });

  test('--count --json prints one JSON object per file with stable fields', async () => {
    const a = writeFile('json.log', Buffer.from('\0\0ab\0'));
    const result = await runDenul(['--count', '--json', a]);
    const parsed = JSON.parse(result.stdout.toString());
    assert.deepEqual(parsed, {
      file: a,
      mode: 'all',
      nulBytes: 3,
      runs: 2,
      firstNulOffset: 0,
      bytesIn: 5,
      bytesOut: 2,
      complete: true,
    });
  });

  test('--check exits 1 and names the file when a NUL is present, 0 when none is', async () => {
    const dirty = writeFile('check-dirty.log', Buffer.from('ok\nbad\0line\n'));
    const clean = writeFile('check-clean.log', 'ok\n');
    const found = await runDenul(['--check', clean, dirty]);
    assert.equal(found.code, 1);
    assert.equal(found.stdout.toString(), `${dirty}: has NUL bytes (first at byte 6)\n`);
    const none = await runDenul(['--check', clean]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout.length, 0);
    const quiet = await runDenul(['--check', '-q', dirty]);
    assert.equal(quiet.code, 1);
    assert.equal(quiet.stdout.length, 0);
  });

  test('--check --leading-only ignores NULs that do not start the file', async () => {
    const middle = writeFile('check-middle.log', Buffer.from('a\0b'));
    assert.equal((await runDenul(['--check', '--leading-only', middle])).code, 0);
    const start = writeFile('check-start.log', Buffer.from('\0a'));
    assert.equal((await runDenul(['--check', '--leading-only', start])).code, 1);
  });

  test('--check exits 2 when a file cannot be read, because it cannot tell', async () => {
    const result = await runDenul(['--check', path.join(dir.path, 'missing.log')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /missing\.log: no such file or directory/);
  });
});

describe('exit codes and errors', () => {
  test('a missing file is reported by name, the other files are still written, exit 1', async () => {
    const file = writeFile('present.log', 'here\0\n');
    const result = await runDenul([path.join(dir.path, 'absent.log'), file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout.toString(), 'here\n');
    assert.match(result.stderr, /^denul: .*absent\.log: no such file or directory\n$/);
  });

  test('a directory argument is an error naming it, exit 1', async () => {
    const result = await runDenul([dir.path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is a directory/);
  });

  test('usage errors exit 2 with a hint: unknown option, bad chunk size, -i on stdin, -i with --check', async () => {
    for (const args of [
      ['--bogus'],
      ['--chunk-size', 'lots'],
      ['--strategy', 'fastest'],
      ['-i'],
      ['-i', '--check', 'x'],
      ['--same-inode', 'x'],
    ]) {
      const result = await runDenul(args);
      assert.equal(result.code, 2, `denul ${args.join(' ')}`);
      assert.match(result.stderr, /denul --help/);
    }
  });

  test('--help exits 0 and shows examples and exit codes', async () => {
    const result = await runDenul(['--help']);
    assert.equal(result.code, 0);
    const help = result.stdout.toString();
    for (const text of [
      'Examples:',
      'denul --count',
      '--version',
      '--check',
      '--in-place',
      '--leading-only',
      'Exit status',
    ]) {
      assert.ok(help.includes(text), `help mentions ${text}`);
    }
  });

  test('a reader that closes the pipe early ends denul quietly, like tr', async () => {
    const file = writeFile('long.log', Buffer.alloc(8 * 1024 * 1024, 'line of text\n'));
    const result = await runCommand('sh', [
      '-c',
      `node "$0" "$1" | head -c 10 >/dev/null; echo "$?"`,
      CLI,
      file,
    ]);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout.toString(), '0\n');
  });
});
