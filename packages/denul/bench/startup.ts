import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * What denul costs before it reads a byte: `node -e 0` (the floor any Node.js program pays),
 * `denul --version` (commander's path), denul on an empty file (the tr replacement's path), the
 * unbundled ES modules started by `node` (what denul ran before the bundle and its shebang) and
 * `tr -d '\000'` on the same empty file (the anchor), alternately, N rounds. Prints the minimum
 * and median wall time and CPU time (user + system, from GNU time, i.e. wait4's rusage).
 *
 *   node --import tsx bench/startup.ts [--reps N] [--extra "label=command args"]...
 */
const args = process.argv.slice(2);
const repsIndex = args.indexOf('--reps');
const reps = repsIndex >= 0 ? Number(args[repsIndex + 1]) : 30;
const cli = path.resolve(import.meta.dirname, '..', 'bin', 'denul.js');

interface Tool {
  label: string;
  argv: string[];
}

const tools: Tool[] = [
  { label: 'tr -d (empty file)', argv: ['tr', '-d', '\\000'] },
  { label: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { label: 'denul --version', argv: [cli, '--version'] },
  { label: 'denul (empty file)', argv: [cli] },
  {
    label: 'node dist/cli.js (ESM)',
    argv: [process.execPath, path.join(path.dirname(cli), '..', 'dist', 'cli.js')],
  },
];
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--extra') continue;
  const [label, command] = (args[i + 1] ?? '').split('=', 2);
  if (label && command) tools.push({ label, argv: command.split(' ') });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'denul-startup-'));
const empty = path.join(dir, 'empty');
const report = path.join(dir, 'time.txt');
fs.writeFileSync(empty, '');

const samples = new Map<string, { wall: number[]; cpu: number[] }>(
  tools.map((t) => [t.label, { wall: [], cpu: [] }]),
);
try {
  for (let round = 0; round < reps; round++) {
    for (const tool of tools) {
      const stdin = fs.openSync(empty, 'r');
      const started = process.hrtime.bigint();
      const result = spawnSync('/usr/bin/time', ['-f', '%U %S', '-o', report, ...tool.argv], {
        stdio: [stdin, 'ignore', 'inherit'],
      });
      const wall = Number(process.hrtime.bigint() - started) / 1e6;
      fs.closeSync(stdin);
      if (result.status !== 0) throw new Error(`${tool.label} exited ${result.status}`);
      const [user, system] =
        fs.readFileSync(report, 'utf8').trim().split('\n').pop()?.split(' ').map(Number) ?? [];
      const s = samples.get(tool.label);
      s?.wall.push(wall);
      s?.cpu.push(((user ?? 0) + (system ?? 0)) * 1000);
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] ?? 0;
const min = (xs: number[]) => sorted(xs)[0] ?? 0;
console.log(
  `start-up, ${reps} alternating rounds; ${os.cpus().length} CPUs, load average ${os.loadavg()[0]?.toFixed(1)} at end`,
);
console.log(
  `${'command'.padEnd(22)} ${'wall min'.padStart(9)} ${'median'.padStart(7)} ${'cpu min'.padStart(8)} ${'median'.padStart(7)}  (ms)`,
);
for (const tool of tools) {
  const s = samples.get(tool.label);
  if (!s) continue;
  console.log(
    `${tool.label.padEnd(22)} ${min(s.wall).toFixed(1).padStart(9)} ${median(s.wall).toFixed(1).padStart(7)} ` +
      `${min(s.cpu).toFixed(0).padStart(8)} ${median(s.cpu).toFixed(0).padStart(7)}`,
  );
}
