// Benchmark: SYNs classified per second, greyprint's engine against p0f 3.09b
// (`p0f -r`, the anchor), the same large pcap, one run each, in this process
// tree. Both read the whole file and write one line per client SYN to a
// regular file (p0f: `-o LOG`, greyprint: `fingerprint > OUT`), so both pay
// for their output. greyprint runs from the compiled CLI (dist/), as installed.
// `node --import tsx bench/fingerprint.ts [--syns N]` (default 300000)
//
// The pcap is generated here: Ethernet frames of client SYNs shaped like
// Windows 10 and 7, Linux over IPv4 and IPv6 (flow label), macOS and FreeBSD,
// with varied addresses, ports, hop counts and MSS, plus 1% non-SYN TCP.
// Columns: wall seconds, CPU seconds (user + system, from /usr/bin/time),
// SYN lines written, SYNs per wall second and per CPU second, and the ratio of
// greyprint's SYNs per CPU second to p0f's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const packageDir = resolve(import.meta.dirname, '..');
const argN = process.argv.indexOf('--syns');
const SYNS = argN === -1 ? 300_000 : Number(process.argv[argN + 1]);

function build(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', packageDir], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tsc -b ${packageDir} failed (exit ${r.status})`);
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Shape {
  v6: boolean;
  ttl: number;
  win: (mss: number) => number;
  opts: (mss: number) => number[];
  df: boolean;
  flow: boolean;
}

const mssOpt = (mss: number) => [2, 4, mss >> 8, mss & 0xff];
const ts = [8, 10, 0, 1, 0, 0, 0, 0, 0, 0];
const SHAPES: Shape[] = [
  {
    v6: false,
    ttl: 128,
    win: () => 64240,
    opts: (m) => [...mssOpt(m), 1, 3, 3, 8, 1, 1, 4, 2],
    df: true,
    flow: false,
  },
  {
    v6: false,
    ttl: 128,
    win: () => 8192,
    opts: (m) => [...mssOpt(m), 1, 3, 3, 2, 1, 1, 4, 2],
    df: true,
    flow: false,
  },
  {
    v6: false,
    ttl: 64,
    win: () => 64240,
    opts: (m) => [...mssOpt(m), 4, 2, ...ts, 1, 3, 3, 7],
    df: true,
    flow: false,
  },
  {
    v6: true,
    ttl: 64,
    win: (m) => 45 * m,
    opts: (m) => [...mssOpt(m), 4, 2, ...ts, 1, 3, 3, 7],
    df: false,
    flow: true,
  },
  {
    v6: false,
    ttl: 64,
    win: () => 65535,
    opts: (m) => [...mssOpt(m), 1, 3, 3, 6, 1, 1, ...ts, 4, 2, 0, 0],
    df: true,
    flow: false,
  },
  {
    v6: false,
    ttl: 64,
    win: () => 65535,
    opts: (m) => [...mssOpt(m), 1, 3, 3, 6, 4, 2, ...ts],
    df: true,
    flow: false,
  },
];

function frame(rnd: () => number, i: number): Buffer {
  const s = SHAPES[i % SHAPES.length] as Shape;
  const mss = s.v6 ? ([1440, 1420, 1380][i % 3] as number) : ([1460, 1452, 1400, 1360][i % 4] as number);
  const opts = s.opts(mss);
  const synOnly = rnd() >= 0.01;
  const tcpLen = 20 + opts.length;
  const ipLen = s.v6 ? 40 : 20;
  const b = Buffer.alloc(14 + ipLen + tcpLen);
  b.writeUInt16BE(s.v6 ? 0x86dd : 0x0800, 12);
  const ip = 14;
  const hops = Math.floor(rnd() * 20);
  if (s.v6) {
    b.writeUInt32BE((6 << 28) | (s.flow ? 1 + Math.floor(rnd() * 0xffffe) : 0), ip);
    b.writeUInt16BE(tcpLen, ip + 4);
    b[ip + 6] = 6;
    b[ip + 7] = s.ttl - hops;
    b.writeUInt16BE(0x2001, ip + 8);
    b.writeUInt16BE(0x0db8, ip + 10);
    b.writeUInt32BE(i, ip + 20);
    b.writeUInt16BE(0x2001, ip + 24);
    b.writeUInt16BE(0x0db8, ip + 26);
    b[ip + 39] = 0x25;
  } else {
    b[ip] = 0x45;
    b.writeUInt16BE(ipLen + tcpLen, ip + 2);
    b.writeUInt16BE(1 + Math.floor(rnd() * 65534), ip + 4);
    b[ip + 6] = s.df ? 0x40 : 0;
    b[ip + 8] = s.ttl - hops;
    b[ip + 9] = 6;
    b.writeUInt32BE((10 << 24) | (i & 0xffffff), ip + 12);
    b.writeUInt32BE(0xc0000219, ip + 16);
  }
  const tcp = ip + ipLen;
  b.writeUInt16BE(1024 + (i % 60000), tcp);
  b.writeUInt16BE(25, tcp + 2);
  b.writeUInt32BE(1 + Math.floor(rnd() * 0xfffffffe), tcp + 4);
  b[tcp + 12] = (tcpLen / 4) << 4;
  b[tcp + 13] = synOnly ? 0x02 : 0x10;
  if (!synOnly) b.writeUInt32BE(1, tcp + 8);
  b.writeUInt16BE(s.win(mss) & 0xffff, tcp + 14);
  Buffer.from(opts).copy(b, tcp + 20);
  return b;
}

function writeCapture(path: string, n: number): void {
  const rnd = prng(2026);
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const parts: Buffer[] = [head];
  for (let i = 0; i < n; i++) {
    const f = frame(rnd, i);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1700000000 + Math.floor(i / 1000), 0);
    rec.writeUInt32LE((i % 1000) * 1000, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  }
  writeFileSync(path, Buffer.concat(parts));
}

interface Run {
  name: string;
  wall: number;
  cpu: number;
  lines: number;
}

/** Runs a command under /usr/bin/time, stdout to a file; returns wall and CPU seconds. */
function timed(name: string, cmd: string[], out: string, countLines: () => number): Run {
  const timeFile = `${out}.time`;
  const r = spawnSync(
    '/usr/bin/time',
    ['-o', timeFile, '-f', '%e %U %S', 'sh', '-c', '"$@" > "$0"', out, ...cmd],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr.toString()}`);
  const [wall, user, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
  return { name, wall: wall ?? 0, cpu: (user ?? 0) + (sys ?? 0), lines: countLines() };
}

const countMatching = (file: string, re: RegExp): number =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => re.test(l)).length;

function main(): void {
  build();
  const dir = mkdtempSync(join(tmpdir(), `gp-fpbench-${process.pid}-`));
  try {
    const pcap = join(dir, 'syns.pcap');
    writeCapture(pcap, SYNS);
    const cli = join(packageDir, 'dist/cli.js');
    const p0fLog = join(dir, 'p0f.log');
    const runs: Run[] = [];
    runs.push(
      timed('p0f 3.09b -r (p0f.fp)', ['p0f', '-r', pcap, '-o', p0fLog], join(dir, 'p0f.out'), () =>
        countMatching(p0fLog, /\] mod=syn\|/),
      ),
    );
    const ours = join(dir, 'greyprint.out');
    runs.push(
      timed(
        'greyprint fingerprint --signatures p0f.fp',
        [process.execPath, cli, 'fingerprint', '--quiet', '--signatures', '/etc/p0f/p0f.fp', pcap],
        ours,
        () => countMatching(ours, / raw_sig=/),
      ),
    );
    const builtin = join(dir, 'builtin.out');
    runs.push(
      timed(
        'greyprint fingerprint (built-in set)',
        [process.execPath, cli, 'fingerprint', '--quiet', pcap],
        builtin,
        () => countMatching(builtin, / raw_sig=/),
      ),
    );
    const anchor = runs[0] as Run;
    const mb = (statSync(pcap).size / 1e6).toFixed(1);
    console.log(`# ${SYNS} frames (${mb} MB pcap, Ethernet), one run each, ${new Date().toISOString()}`);
    console.log('| tool | wall s | CPU s | SYN lines | SYNs/s (wall) | SYNs/CPU-s | x p0f (CPU) |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of runs) {
      const perCpu = r.lines / r.cpu;
      const ratio = perCpu / (anchor.lines / anchor.cpu);
      console.log(
        `| ${r.name} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.lines} | ${Math.round(r.lines / r.wall)} | ${Math.round(perCpu)} | ${r === anchor ? '' : ratio.toFixed(2)} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
