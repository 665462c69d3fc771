import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the guestrouter CLI as a child process (async: the simulator may live in this process). */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliPath, ...args], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: process.env.HOME ?? '/root',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The three variables that point the CLI at a simulator; overrides give a dead URL or a wrong key. */
export function simulatorEnv(
  sim: { readonly url: string; readonly apiKey: string; readonly secretKey: string } | undefined,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    CLOUDSTACK_API_URL: sim?.url ?? '',
    CLOUDSTACK_API_KEY: sim?.apiKey ?? '',
    CLOUDSTACK_SECRET_KEY: sim?.secretKey ?? '',
    ...overrides,
  };
}

/** The options that put the CLI on a test router namespace (RouterLab names its interfaces trunk and uplink). */
export function routerArgs(netns: string, configFile: string, trunk = 'trunk'): string[] {
  return ['--netns', netns, '--trunk', trunk, '--uplink', 'uplink', '--config', configFile];
}

/** A temporary directory holding the test's config.json (and state dir); remove() it in `after`. */
export class TempConfig {
  readonly dir: string;
  readonly file: string;
  constructor(prefix: string, config: object = {}) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.file = join(this.dir, 'config.json');
    this.write(config);
  }
  write(config: object): void {
    writeFileSync(this.file, JSON.stringify(config));
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
