/**
 * Real SpamAssassin and rspamd, run with greyprint's contrib rules and
 * nothing of the host's local configuration, for the contrib and e2e tests.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild, waitForListening } from 'opskit/testing';

const here = dirname(fileURLToPath(import.meta.url));
export const CONTRIB_DIR = resolve(here, '../../contrib');
export const SPAMASSASSIN_RULES = join(CONTRIB_DIR, 'spamassassin/greyprint.cf');
export const RSPAMD_RULES = join(CONTRIB_DIR, 'rspamd/greyprint.lua');
export const SYMBOL = 'GREYPRINT_DESKTOP_WINDOWS';

export interface ScanResult {
  /** Total score the scanner gave the message. */
  readonly score: number;
  /** Rule name -> score, for every rule that hit. */
  readonly rules: ReadonlyMap<string, number>;
}

// ---------------------------------------------------------------- SpamAssassin

export interface SpamAssassin {
  /** Scans messages in one spamassassin process (it starts in about 2 s). */
  scan(messages: readonly string[]): Promise<ScanResult[]>;
  /** `spamassassin --lint` over this configuration; rejects on any error. */
  lint(): Promise<void>;
  close(): void;
}

/**
 * A site config directory like /etc/spamassassin on a Debian host: the
 * distribution's plugin loaders (*.pre), greyprint.cf as an operator installs
 * it, and `localCf` as the operator's local.cf (read last). One test-only
 * file adds a header listing each rule with its score, to read results.
 */
export function spamAssassin(localCf = ''): SpamAssassin {
  const dir = mkdtempSync(join(tmpdir(), 'gpp-sa-'));
  const site = join(dir, 'site');
  mkdirSync(site);
  for (const file of readdirSync('/etc/spamassassin')) {
    if (file.endsWith('.pre')) copyFileSync(join('/etc/spamassassin', file), join(site, file));
  }
  copyFileSync(SPAMASSASSIN_RULES, join(site, 'greyprint.cf'));
  writeFileSync(join(site, 'local.cf'), localCf);
  writeFileSync(join(site, 'zz-test-report.cf'), 'report_safe 0\nadd_header all Tests _TESTSSCORES(,)_\n');
  writeFileSync(join(dir, 'user_prefs'), '');
  return {
    async scan(messages) {
      // spamassassin --mbox reorders messages (by date), so each carries its
      // index in a header appended at the end of its header block.
      const mbox = messages
        .map((m, i) => {
          const text = m.replace(/\r\n/g, '\n').replace(/^From /gm, '>From ');
          const end = text.indexOf('\n\n');
          const tagged =
            end === -1
              ? `${text}\n${SCAN_ID}: ${i}\n`
              : `${text.slice(0, end)}\n${SCAN_ID}: ${i}${text.slice(end)}`;
          return `From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n${tagged}\n`;
        })
        .join('\n');
      const output = await run(
        'spamassassin',
        ['-L', '--mbox', '-x', '-p', join(dir, 'user_prefs'), `--siteconfigpath=${site}`],
        mbox,
      );
      const byId = parseSpamAssassinOutput(output);
      return messages.map((_, i) => {
        const result = byId.get(i);
        if (!result) throw new Error(`spamassassin returned no result for message ${i}`);
        return result;
      });
    },
    async lint() {
      await run(
        'spamassassin',
        ['--lint', '-x', '-p', join(dir, 'user_prefs'), `--siteconfigpath=${site}`],
        '',
      );
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function unfoldedHeaders(headerBlock: string): string[] {
  return headerBlock.replace(/\n[ \t]+/g, ' ').split('\n');
}

const SCAN_ID = 'X-Greyprint-Test-Scan';

export function parseSpamAssassinOutput(output: string): Map<number, ScanResult> {
  const results = new Map<number, ScanResult>();
  for (const message of output.split(/^From .*\n/m).filter((part) => part.trim() !== '')) {
    const headers = unfoldedHeaders(message.split('\n\n')[0] ?? '');
    const status = headers.find((h) => h.startsWith('X-Spam-Status:')) ?? '';
    const tests = headers.find((h) => h.startsWith('X-Spam-Tests:'))?.slice('X-Spam-Tests:'.length) ?? '';
    const rules = new Map<string, number>();
    for (const item of tests.split(',')) {
      const [name, score] = item.trim().split('=');
      if (name && score !== undefined && name !== 'none') rules.set(name, Number(score));
    }
    const id = Number(headers.find((h) => h.startsWith(`${SCAN_ID}:`))?.slice(SCAN_ID.length + 1));
    results.set(id, { score: Number(status.match(/score=(-?[\d.]+)/)?.[1] ?? Number.NaN), rules });
  }
  return results;
}

// ---------------------------------------------------------------- rspamd

export interface Rspamd {
  readonly pid: number;
  readonly port: number;
  scan(message: string): Promise<ScanResult>;
  stop(): Promise<void>;
}

/** Compiled hyperscan databases are kept between runs: a cold start compiles for ~30 s, a warm one takes ~1 s. */
const RSPAMD_HS_CACHE = join(tmpdir(), 'greyprint-test-rspamd-hs-cache');

export { freePort };

/**
 * Starts rspamd in the foreground with a private configuration: Debian's
 * stock rules from /etc/rspamd, greyprint.lua loaded from rspamd.local.lua as
 * the install notes say, `groupsConf` as the operator's local.d/groups.conf,
 * one normal worker on a free loopback port, no Redis, no working DNS.
 */
export async function startRspamd(options: { groupsConf?: string } = {}): Promise<Rspamd> {
  const dir = mkdtempSync(join(tmpdir(), 'gpp-rspamd-'));
  const local = join(dir, 'local');
  mkdirSync(join(local, 'local.d'), { recursive: true });
  mkdirSync(RSPAMD_HS_CACHE, { recursive: true });
  writeFileSync(join(local, 'rspamd.local.lua'), `dofile(${JSON.stringify(RSPAMD_RULES)})\n`);
  if (options.groupsConf) writeFileSync(join(local, 'local.d', 'groups.conf'), options.groupsConf);
  const port = await freePort();
  const config = join(dir, 'rspamd.conf');
  writeFileSync(
    config,
    `.include "$CONFDIR/common.conf"
options {
  pidfile = "${dir}/rspamd.pid";
  filters = "chartable,dkim,regexp,fuzzy_check";
  cache_file = "${dir}/symbols.cache";
  dynamic_conf = "${dir}/rspamd_dynamic";
  history_file = "${dir}/rspamd.history";
  stats_file = "${dir}/stats.ucl";
  hs_cache_dir = "${RSPAMD_HS_CACHE}/";
  url_tld = "\${SHAREDIR}/effective_tld_names.dat";
  explicit_modules = ["settings", "bayes_expiry"];
  allow_raw_input = true;
  task_timeout = 8s;
  dns { nameserver = ["127.0.0.1:1"]; timeout = 0.2s; retransmits = 1; }
}
logging { type = "file"; filename = "${dir}/rspamd.log"; level = "notice"; }
worker "normal" { bind_socket = "127.0.0.1:${port}"; count = 1; .include "$CONFDIR/worker-normal.inc" }
`,
  );
  const child = spawn(
    'rspamd',
    [
      '-f',
      '-u',
      'root',
      '-g',
      'root',
      '-i',
      '-c',
      config,
      '--var',
      `LOCAL_CONFDIR=${local}`,
      '--var',
      `DBDIR=${dir}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('rspamd did not start');
  const stop = async () => {
    await stopChild(child, 15_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForListening(`127.0.0.1:${port}`, child, {
      what: 'rspamd',
      timeoutMs: 120_000,
      intervalMs: 250,
    });
  } catch (error) {
    await stop();
    throw new Error(`rspamd did not listen on 127.0.0.1:${port}: ${(error as Error).message} ${stderr}`);
  }
  return {
    pid,
    port,
    async scan(message) {
      const response = await fetch(`http://127.0.0.1:${port}/checkv2`, { method: 'POST', body: message });
      if (!response.ok) throw new Error(`rspamd answered HTTP ${response.status}`);
      const body = (await response.json()) as { score: number; symbols: Record<string, { score: number }> };
      return {
        score: body.score,
        rules: new Map(Object.entries(body.symbols).map(([name, symbol]) => [name, symbol.score])),
      };
    },
    stop,
  };
}

function run(command: string, args: readonly string[], input: string): Promise<string> {
  return new Promise((ok, fail) => {
    const child = execFile(
      command,
      args,
      { maxBuffer: 32 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) fail(new Error(`${command} failed: ${error.message} ${stderr.slice(-500)}`));
        else ok(stdout);
      },
    );
    child.stdin?.end(input);
  });
}
