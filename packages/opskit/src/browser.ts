import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCli } from './testing.js';

export interface PageLoad {
  /** The DOM after the page's scripts ran, as Chromium serialises it. */
  readonly dom: string;
  /** Where the screenshot was written, when one was asked for. */
  readonly screenshot?: string;
}

export interface LoadPageOptions {
  /** A PNG of the rendered page is written here (the directory is created). */
  readonly screenshot?: string;
  /** Milliseconds of virtual time for scripts to run before the DOM is read. Default 3000. */
  readonly budgetMs?: number;
  readonly width?: number;
  readonly height?: number;
}

/** Debian's browser binary; the test list of scripts/ensure-debs.sh installs it. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * Loads a page in Debian's Chromium, headless, with a fresh profile, and returns the DOM after its
 * scripts ran (and a screenshot). Chromium runs as a child process; its profile is removed after.
 * Root needs --no-sandbox (the tests run as root in containers).
 */
export async function loadPageInChromium(url: string, options: LoadPageOptions = {}): Promise<PageLoad> {
  const profile = await mkdtemp(join(tmpdir(), `opskit-chromium-${process.pid}-`));
  const common = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--disable-extensions',
    '--disable-background-networking',
    `--user-data-dir=${profile}`,
    `--virtual-time-budget=${options.budgetMs ?? 3000}`,
    `--window-size=${options.width ?? 1280},${options.height ?? 1600}`,
  ];
  try {
    const dumped = await runCli(CHROMIUM, [...common, '--dump-dom', url], { timeoutMs: 30_000 });
    if (dumped.code !== 0 || !dumped.stdout.includes('<html')) {
      throw new Error(
        `chromium --dump-dom ${url} exited ${dumped.code ?? dumped.signal}: ${dumped.stderr.slice(-500)}`,
      );
    }
    if (options.screenshot === undefined) return { dom: dumped.stdout };
    await mkdir(dirname(options.screenshot), { recursive: true });
    const shot = await runCli(CHROMIUM, [...common, `--screenshot=${options.screenshot}`, url], {
      timeoutMs: 30_000,
    });
    if (shot.code !== 0) {
      throw new Error(
        `chromium --screenshot ${url} exited ${shot.code ?? shot.signal}: ${shot.stderr.slice(-500)}`,
      );
    }
    return { dom: dumped.stdout, screenshot: options.screenshot };
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
