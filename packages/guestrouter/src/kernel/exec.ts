import { spawn } from 'node:child_process';
import { CommandFailedError } from '../errors.js';

export interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program without a shell; stdin is written and closed when given. */
export function execFile(
  file: string,
  args: readonly string[],
  stdin?: string,
  timeoutMs = 60_000,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => {
      // The child may exit before reading all of stdin (ip -batch stops at the first error); its exit code tells.
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Prefixes a command so it runs inside a network namespace when one is given. */
export function inNetns(
  netns: string | undefined,
  file: string,
  args: readonly string[],
): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, file, ...args]] : [file, [...args]];
}

export async function execChecked(file: string, args: readonly string[], stdin?: string): Promise<string> {
  const result = await execFile(file, args, stdin);
  if (result.code !== 0)
    throw new CommandFailedError([file, ...args].join(' ').slice(0, 200), result.code, result.stderr);
  return result.stdout;
}
