import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { runCli } from 'opskit/testing';

export const PACKAGE_DIR = path.resolve(import.meta.dirname, '..');
export const CLI = path.join(PACKAGE_DIR, 'bin', 'denul.js');
const TSC = path.resolve(PACKAGE_DIR, '../../node_modules/typescript/bin/tsc');

const BUNDLER = path.join(PACKAGE_DIR, 'scripts', 'bundle.mjs');
const NATIVE_BUILDER = path.join(PACKAGE_DIR, 'scripts', 'build-native.mjs');

/**
 * CLI tests run the real program (bin/denul.js over the bundle of dist/, with the lseek addon) in
 * a child process, so dist/, the bundle and the addon must match their sources: an incremental build costs little when nothing changed.
 */
export function buildOnce(): void {
  execFileSync(process.execPath, [TSC, '-b', PACKAGE_DIR], { stdio: 'inherit' });
  execFileSync(process.execPath, [BUNDLER], { stdio: 'inherit' });
  execFileSync(process.execPath, [NATIVE_BUILDER], { stdio: 'inherit' });
}

/**
 * The setup every CLI test file needs: dist/ built from src/, and a temporary directory removed in
 * `after` (also when a test failed). Call at the top level of a test file; `path` is valid inside tests.
 */
export function useCliTestDir(): { readonly path: string } {
  let dir = '';
  before(() => {
    buildOnce();
    dir = makeTempDir();
  });
  after(() => {
    if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      return dir;
    },
  };
}

export function makeTempDir(prefix = 'denul-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  input?: Buffer | string;
  /** A file opened as standard input instead of `input`. */
  stdinFile?: string;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Environment of the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs `command args` and collects everything, stdout as bytes; never throws on a non-zero exit.
 * opskit's runner, with a timeout long enough for the 2 GiB inputs of the large tests.
 */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const r = await runCli(command, args, { ...options, input: options.input ?? '', timeoutMs: 600_000 });
  return { code: r.code, signal: r.signal, stdout: r.stdoutBytes, stderr: r.stderr };
}

export function runDenul(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [CLI, ...args], options);
}

/** Runs `tr -d '\000'` on the same input, the anchor our default mode must match byte for byte. */
export async function runTr(file: string): Promise<Buffer> {
  const result = await runCommand('tr', ['-d', '\\000'], { stdinFile: file });
  if (result.code !== 0) throw new Error(`tr failed: ${result.stderr}`);
  return result.stdout;
}

/** Peak RSS in bytes of a command, measured by GNU time around it. */
export async function runWithPeakRss(
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult & { peakRssBytes: number }> {
  const dir = makeTempDir('denul-rss-');
  const report = path.join(dir, 'time.txt');
  try {
    const result = await runCommand(
      '/usr/bin/time',
      ['-f', '%M', '-o', report, process.execPath, CLI, ...args],
      options,
    );
    const kib = Number(fs.readFileSync(report, 'utf8').trim().split('\n').pop());
    return { ...result, peakRssBytes: kib * 1024 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
