import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CLI, REPO_ROOT } from '../helpers/daemon.js';
import { writePcap } from './syn-specs.js';

const dir = mkdtempSync(join(tmpdir(), `gp-fpcli-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], input?: Buffer): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'fingerprint', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    ...(input === undefined ? {} : { input }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('greyprint fingerprint (CLI)', () => {
  const pcap = join(dir, 'two.pcap');
  writePcap(pcap, [
    {
      v: 4,
      src: '198.51.100.7',
      dst: '192.0.2.25',
      sport: 50001,
      dport: 25,
      ttl: 128,
      df: true,
      id: 9,
      win: 64240,
      opts: '020405b40103030801010402',
    },
    {
      v: 6,
      src: '2001:db8::20',
      dst: '2001:db8::25',
      sport: 50002,
      dport: 587,
      ttl: 64,
      flow: 77,
      win: 64800,
      opts: '020405a00402080a0001e2400000000001030307',
    },
  ]);

  test('--json: one object per SYN with the documented fields; counts on stderr', () => {
    const r = run(['--json', pcap]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    for (const key of [
      'client',
      'port',
      'os',
      'class',
      'generic',
      'fuzzy',
      'distance',
      'signature',
      'ja4t',
    ]) {
      assert.ok(key in (lines[0] as object), key);
    }
    assert.equal(lines[0]?.class, 'win');
    assert.equal(lines[1]?.client, '2001:db8::20');
    assert.equal(lines[1]?.port, 50002);
    assert.match(r.stderr, /2 frames, 2 SYNs classified/);
  });

  test('reads stdin with -', () => {
    const r = run(['-', '--quiet'], readFileSync(pcap));
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^198\.51\.100\.7:50001 -> 192\.0\.2\.25:25 os=Windows 10 or 11/m);
    assert.equal(r.stderr, '');
  });

  test('an input that is missing or not pcap: named on stderr, the others still read, exit 1', () => {
    const junk = join(dir, 'junk.pcap');
    writeFileSync(junk, 'not a capture');
    const r = run([join(dir, 'missing.pcap'), junk, pcap]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.pcap: ENOENT/);
    assert.match(r.stderr, /junk\.pcap: not a pcap file/);
    assert.equal(r.stdout.trim().split('\n').length, 2);
  });

  test('a bad signature file is refused with its line, exit 2', () => {
    const fp = join(dir, 'bad.fp');
    writeFileSync(
      fp,
      'classes = win\n[tcp:request]\nlabel = s:win:Windows:X\nsig = *:128:0:*:8192,0:mss,bogus:df:0\n',
    );
    const r = run(['--signatures', fp, pcap]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.fp:4: unrecognized TCP option/);
    assert.equal(r.stdout, '');
  });
});
