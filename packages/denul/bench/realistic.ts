import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateLog } from './generate-log.js';

/**
 * denul against tr on the same realistic 1 GiB log, in one run: tr and denul alternate so both
 * see the same page cache and machine load. Wall time is measured around each child; peak RSS
 * comes from GNU time. Environment: DENUL_BENCH_MIB (file size, default 1024),
 * DENUL_BENCH_REPS (runs per case, the best is reported, default 2), DENUL_BENCH_DIR.
 */
const MIB = 1024 * 1024;
const sizeMib = Number(process.env.DENUL_BENCH_MIB ?? 1024);
const reps = Number(process.env.DENUL_BENCH_REPS ?? 2);
const benchDir = process.env.DENUL_BENCH_DIR ?? path.join(os.tmpdir(), 'denul-bench');
const cli = path.resolve(import.meta.dirname, '..', 'bin', 'denul.js');

interface Timing {
  seconds: number;
  peakRssKib: number;
}

function run(command: string, args: string[], stdinFile: string, stdoutFile: string): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const report = path.join(benchDir, 'time.txt');
    const input = fs.openSync(stdinFile, 'r');
    const output = fs.openSync(stdoutFile, 'w');
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', report, command, ...args], {
      stdio: [input, output, 'inherit'],
    });
    fs.closeSync(input);
    fs.closeSync(output);
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}`));
      resolve({ seconds, peakRssKib: Number(fs.readFileSync(report, 'utf8').trim().split('\n').pop()) });
    });
  });
}

/** Best of the runs: on a shared machine the fastest run is the one least disturbed by others. */
function best(values: number[]): number {
  return Math.min(...values);
}

function hashFile(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 * MIB);
  for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

interface Case {
  name: string;
  anchor: [string, string[]];
  ours: [string, string[]];
  sink: 'null' | 'file';
}

async function main(): Promise<void> {
  fs.mkdirSync(benchDir, { recursive: true });
  const input = path.join(benchDir, `realistic-${sizeMib}mib.log`);
  if (!fs.existsSync(input) || fs.statSync(input).size !== sizeMib * MIB) {
    process.stdout.write(`generating ${input} (${sizeMib} MiB) ... `);
    generateLog(input, sizeMib * MIB);
    process.stdout.write('done\n');
  }
  const outFile = path.join(benchDir, 'out.tmp');
  const cases: Case[] = [
    {
      name: 'strip -> /dev/null',
      anchor: ['tr', ['-d', '\\000']],
      ours: [process.execPath, [cli]],
      sink: 'null',
    },
    { name: 'strip -> file', anchor: ['tr', ['-d', '\\000']], ours: [process.execPath, [cli]], sink: 'file' },
    {
      name: 'count (tr -cd | wc -c)',
      anchor: ['sh', ['-c', "tr -cd '\\000' | wc -c"]],
      ours: [process.execPath, [cli, '--count', '-']],
      sink: 'null',
    },
  ];
  // Warm the page cache so the first timed run does not pay for the disk.
  hashFile(input);
  const mb = (sizeMib * MIB) / 1e6;
  const rows: string[] = [];
  let identical = true;
  for (const c of cases) {
    const sink = c.sink === 'null' ? '/dev/null' : outFile;
    const anchorTimes: Timing[] = [];
    const ourTimes: Timing[] = [];
    for (let i = 0; i < reps; i++) {
      anchorTimes.push(await run(c.anchor[0], c.anchor[1], input, sink));
      if (c.sink === 'file' && i === 0) {
        const anchorHash = hashFile(outFile);
        ourTimes.push(await run(c.ours[0], c.ours[1], input, sink));
        identical = identical && hashFile(outFile) === anchorHash;
        continue;
      }
      ourTimes.push(await run(c.ours[0], c.ours[1], input, sink));
    }
    const anchorSeconds = best(anchorTimes.map((t) => t.seconds));
    const ourSeconds = best(ourTimes.map((t) => t.seconds));
    const peak = Math.max(...ourTimes.map((t) => t.peakRssKib)) / 1024;
    rows.push(
      `${c.name.padEnd(26)} ${(mb / anchorSeconds).toFixed(0).padStart(8)} ${(mb / ourSeconds).toFixed(0).padStart(10)}` +
        ` ${(anchorSeconds / ourSeconds).toFixed(2).padStart(8)}x ${peak.toFixed(1).padStart(10)} MiB`,
    );
  }
  fs.rmSync(outFile, { force: true });
  console.log(`input: ${input} (${sizeMib} MiB), best of ${reps} runs each, tr and denul alternating`);
  console.log(
    `${'case'.padEnd(26)} ${'tr MB/s'.padStart(8)} ${'denul MB/s'.padStart(10)} ${'speedup'.padStart(9)} ${'denul peak RSS'.padStart(14)}`,
  );
  for (const row of rows) console.log(row);
  console.log(`output byte-identical to tr -d '\\000': ${identical ? 'yes' : 'NO'}`);
}

await main();
