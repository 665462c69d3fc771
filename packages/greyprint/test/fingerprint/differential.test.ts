import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSignatureFile } from '../../src/os/fingerprint/index.js';
import { type PacketSpec, prng, randomSyn, readP0fSynLog, synForSignature, writePcap } from './syn-specs.js';

const P0F_FP = '/etc/p0f/p0f.fp';
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), `gp-diff-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Ours {
  port: number;
  os: string;
  distance: number;
  distance_bound: boolean;
  params: string;
  signature: string;
  generic: boolean;
  fuzzy: boolean;
}

function runP0f(pcap: string): ReturnType<typeof readP0fSynLog> {
  const log = join(dir, `${Date.now()}-${Math.random()}.log`);
  execFileSync('p0f', ['-r', pcap, '-o', log, '-f', P0F_FP], { stdio: 'ignore', timeout: 60_000 });
  return readP0fSynLog(readFileSync(log, 'utf8'));
}

function runOurs(pcap: string): Map<number, Ours> {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', CLI, 'fingerprint', '--quiet', '--json', '--signatures', P0F_FP, pcap],
    { encoding: 'utf8', timeout: 60_000 },
  );
  const m = new Map<number, Ours>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const o = JSON.parse(line) as Ours;
    m.set(o.port, o);
  }
  return m;
}

function compare(name: string, specs: PacketSpec[], link: 'ether' | 'sll' | 'raw'): number {
  const pcap = join(dir, `${name}.pcap`);
  writePcap(pcap, specs, link);
  const theirs = runP0f(pcap);
  const ours = runOurs(pcap);
  assert.ok(theirs.size > specs.length / 2, `p0f reported only ${theirs.size} of ${specs.length} SYNs`);
  const diffs: string[] = [];
  for (const [port, p] of theirs) {
    const o = ours.get(port);
    if (o === undefined) {
      diffs.push(`${port}: p0f ${p.os} ${p.raw}, greyprint nothing`);
      continue;
    }
    const dist = o.distance_bound ? `<= ${o.distance}` : String(o.distance);
    const mine = `${o.os} | ${dist} | ${o.params} | ${o.signature}`;
    const its = `${p.os} | ${p.dist} | ${p.params} | ${p.raw}`;
    if (mine !== its) diffs.push(`${port}:\n  p0f       ${its}\n  greyprint ${mine}`);
    // The JSON flags say the same as p0f's params.
    assert.equal(o.generic, p.params.split(' ').includes('generic'));
    assert.equal(o.fuzzy, p.params.split(' ').includes('fuzzy'));
  }
  for (const port of ours.keys()) if (!theirs.has(port)) diffs.push(`${port}: greyprint only`);
  assert.deepEqual(diffs, [], `${diffs.length} of ${theirs.size} verdicts differ`);
  return theirs.size;
}

describe('greyprint fingerprint --signatures p0f.fp gives p0f 3.09b verdicts (p0f -r, same pcap)', () => {
  const db = loadSignatureFile(P0F_FP);
  const rnd = prng(15);

  test('one SYN made for each [tcp:request] signature of p0f.fp, several hop counts, Ethernet', () => {
    const specs: PacketSpec[] = [];
    for (const [i, rec] of db.request.entries()) {
      for (let k = 0; k < 3; k++) {
        const s = synForSignature(rec, i * 3 + k, rnd);
        if (s !== undefined) specs.push(s);
      }
    }
    assert.ok(specs.length > 200, `only ${specs.length} SYNs could be made`);
    const n = compare('per-signature', specs, 'ether');
    process.stdout.write(`# ${n} SYNs from p0f.fp signatures agree\n`);
  });

  test('random SYNs (IPv4 and IPv6, quirks, malformed options), Ethernet', () => {
    const specs = Array.from({ length: 800 }, (_, i) => randomSyn(i, rnd));
    const n = compare('random-ether', specs, 'ether');
    process.stdout.write(`# ${n} random SYNs agree\n`);
  });

  test('random SYNs over Linux cooked capture and raw IP', () => {
    compare(
      'random-sll',
      Array.from({ length: 150 }, (_, i) => randomSyn(1000 + i, rnd)),
      'sll',
    );
    compare(
      'random-raw',
      Array.from({ length: 150 }, (_, i) => randomSyn(2000 + i, rnd)),
      'raw',
    );
  });
});
