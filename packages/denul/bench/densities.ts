import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type InputCase, SPARSE_FILE_CASE, TEXT_CASES } from './inputs.js';

/**
 * denul against `tr -d '\000'` (the anchor) and `cat` (the floor: reading and writing the bytes)
 * over a range of NUL densities. For each input the tools run alternately, N rounds, in this
 * process tree; the best run of each counts (on a shared machine the fastest run is the least
 * disturbed). Input from the file, output to /dev/null, page cache warm. Peak RSS and CPU time
 * (user + system) come from GNU time (wait4 rusage); CPU time is printed too because it moves
 * less than wall time when other jobs share the CPUs.
 *
 *   node --import tsx bench/densities.ts [--quick | --full] [--reps N] [--only a,b] [--variants]
 *
 * Default: every input at both sizes the targets were set at, one size after the other: 256 MiB
 * text inputs and a 512 MiB sparse file, then 1 GiB text inputs and a 2 GiB sparse file (5-10
 * minutes). `--quick`: only the small size; `--full`: only the large one. `--variants` also times
 * denul's single-path strategies, a 1 MiB chunk size and reading the holes of the sparse file, to
 * see what each step pays. Files live in a temporary directory that is removed at the end (also
 * on Ctrl-C).
 */
const MIB = 1024 * 1024;
const args = process.argv.slice(2);
const full = args.includes('--full');
const quick = args.includes('--quick');
const repsIndex = args.indexOf('--reps');
const reps = repsIndex >= 0 ? Number(args[repsIndex + 1]) : 3;
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? new Set((args[onlyIndex + 1] ?? '').split(',')) : null;
const variants = args.includes('--variants');
/** [text input bytes, sparse file bytes] per size measured. */
const SMALL: [number, number] = [256 * MIB, 512 * MIB];
const LARGE: [number, number] = [1024 * MIB, 2048 * MIB];
const sizes = full ? [LARGE] : quick ? [SMALL] : [SMALL, LARGE];
const cli = path.resolve(import.meta.dirname, '..', 'bin', 'denul.js');

interface Tool {
  label: string;
  command: string;
  args: string[];
}

const TR: Tool = { label: 'tr', command: 'tr', args: ['-d', '\\000'] };
const CAT: Tool = { label: 'cat', command: 'cat', args: [] };
// Run through its shebang, as `denul` runs once installed (the shebang is part of its start-up).
const DENUL: Tool = { label: 'denul', command: cli, args: [] };
const VARIANTS: Tool[] = [
  { label: 'denul js only', command: cli, args: ['--strategy', 'js'] },
  { label: 'denul wasm only', command: cli, args: ['--strategy', 'wasm'] },
  { label: 'denul 1 MiB chunks', command: cli, args: ['--chunk-size', '1m'] },
  { label: 'denul reading holes', command: cli, args: ['--read-holes'] },
];

interface Timing {
  wall: number;
  cpu: number;
  peakRssKib: number;
}

function run(tool: Tool, input: string, reportFile: string): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const stdin = fs.openSync(input, 'r');
    const stdout = fs.openSync('/dev/null', 'w');
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', reportFile, tool.command, ...tool.args], {
      stdio: [stdin, stdout, 'inherit'],
    });
    fs.closeSync(stdin);
    fs.closeSync(stdout);
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${tool.label} exited ${code}`));
      const last = fs.readFileSync(reportFile, 'utf8').trim().split('\n').pop() ?? '';
      const [user, system, rss] = last.split(' ').map(Number);
      resolve({ wall, cpu: (user ?? 0) + (system ?? 0), peakRssKib: rss ?? 0 });
    });
  });
}

/** SHA-256 of what `tool` writes for `input` (not timed: the pipe into this process costs). */
function outputHash(tool: Tool, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = fs.openSync(input, 'r');
    const child = spawn(tool.command, tool.args, { stdio: [stdin, 'pipe', 'inherit'] });
    fs.closeSync(stdin);
    const hash = createHash('sha256');
    child.stdout?.on('data', (d: Buffer) => hash.update(d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(hash.digest('hex')) : reject(new Error(`${tool.label} exited ${code}`)),
    );
  });
}

function warmPageCache(file: string): void {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 * MIB);
  while (fs.readSync(fd, buf) > 0);
  fs.closeSync(fd);
}

interface Row {
  input: InputCase;
  bytes: number;
  best: Map<string, Timing>;
  identical: boolean;
}

async function measure(input: InputCase, bytes: number, dir: string): Promise<Row> {
  const file = path.join(dir, `${input.name}.log`);
  input.write(file, bytes);
  warmPageCache(file);
  const identical = (await outputHash(DENUL, file)) === (await outputHash(TR, file));
  // indexOf alone on a NUL every other byte runs at about 10 MB/s: minutes per run at 1 GiB.
  const shownVariants = VARIANTS.filter(
    (v) =>
      !(input.name === 'every-other' && v.label === 'denul js only') &&
      (v.label !== 'denul reading holes' || input.name === SPARSE_FILE_CASE.name),
  );
  const tools = [CAT, TR, DENUL, ...(variants ? shownVariants : [])];
  const best = new Map<string, Timing>();
  const report = path.join(dir, 'time.txt');
  for (let round = 0; round < reps; round++) {
    for (const tool of tools) {
      const t = await run(tool, file, report);
      const previous = best.get(tool.label);
      best.set(tool.label, {
        wall: Math.min(t.wall, previous?.wall ?? Number.POSITIVE_INFINITY),
        cpu: Math.min(t.cpu, previous?.cpu ?? Number.POSITIVE_INFINITY),
        peakRssKib: Math.max(t.peakRssKib, previous?.peakRssKib ?? 0),
      });
    }
  }
  fs.rmSync(file, { force: true });
  return { input, bytes, best, identical };
}

function formatRow(row: Row, label: string): string {
  const t = row.best.get(label) as Timing;
  const tr = row.best.get('tr') as Timing;
  const cat = row.best.get('cat') as Timing;
  const mbs = (s: number) => (row.bytes / 1e6 / s).toFixed(0);
  return [
    `${row.input.name.padEnd(14)}`,
    `${(row.bytes / MIB).toFixed(0).padStart(5)}`,
    label.padEnd(19),
    mbs(t.wall).padStart(7),
    `${(tr.wall / t.wall).toFixed(2)}x`.padStart(8),
    `${(cat.wall / t.wall).toFixed(2)}`.padStart(7),
    `${t.wall.toFixed(3)}`.padStart(8),
    `${t.cpu.toFixed(2)}`.padStart(7),
    `${(tr.cpu / Math.max(t.cpu, 0.005)).toFixed(2)}x`.padStart(8),
    `${(t.peakRssKib / 1024).toFixed(1)}`.padStart(9),
  ].join(' ');
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'denul-bench-'));
  const cleanUp = () => fs.rmSync(dir, { recursive: true, force: true });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      cleanUp();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  try {
    const cases: [InputCase, number][] = sizes.flatMap(([textBytes, sparseBytes]) => [
      ...TEXT_CASES.map((c): [InputCase, number] => [c, textBytes]),
      [SPARSE_FILE_CASE, sparseBytes],
    ]);
    const rows: Row[] = [];
    console.log(
      `denul vs tr -d '\\000' and cat: input from a page-cached file, output to /dev/null, ` +
        `best of ${reps} alternating runs; ${os.cpus().length} CPUs, load average ${os.loadavg()[0]?.toFixed(1)} at start`,
    );
    console.log(
      `${'input'.padEnd(14)} ${'MiB'.padStart(5)} ${'tool'.padEnd(19)} ${'MB/s'.padStart(7)} ${'vs tr'.padStart(8)} ` +
        `${'of cat'.padStart(7)} ${'wall s'.padStart(8)} ${'cpu s'.padStart(7)} ${'cpu vs tr'.padStart(8)} ${'RSS MiB'.padStart(9)}`,
    );
    for (const [input, bytes] of cases) {
      if (only !== null && !only.has(input.name)) continue;
      const row = await measure(input, bytes, dir);
      rows.push(row);
      for (const label of row.best.keys()) console.log(formatRow(row, label));
    }
    console.log('\ninputs:');
    for (const row of rows) console.log(`  ${row.input.name.padEnd(14)} ${row.input.description}`);
    console.log('\ntargets (wall time, best runs):');
    for (const row of rows) {
      const denul = row.best.get('denul') as Timing;
      const tr = row.best.get('tr') as Timing;
      const cat = row.best.get('cat') as Timing;
      const ratio = tr.wall / denul.wall;
      console.log(
        `  ${row.input.name.padEnd(14)} ${(row.bytes / MIB).toFixed(0).padStart(4)} MiB ` +
          `${ratio >= 1.5 ? 'ok  ' : 'MISS'} ${ratio.toFixed(2)}x tr (>= 1.50x); ` +
          `${(denul.wall / cat.wall).toFixed(2)}x cat's time; peak RSS ${(denul.peakRssKib / 1024).toFixed(1)} MiB ` +
          `${denul.peakRssKib < 64 * 1024 ? 'ok' : 'MISS'} (< 64); output ${row.identical ? 'identical to tr' : 'DIFFERS FROM tr'}`,
      );
    }
    console.log("  (the 3x-of-cat target is for a 1 GiB file with rare NULs: row 'sparse-runs' at 1024 MiB)");
    console.log(
      `load average at end: ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    cleanUp();
  }
}

await main();
