/**
 * A scripted stream of policy requests against a daemon that runs in this process (real sockets,
 * real HTTP endpoint) on a clock the test moves, so that greylisted mail can retry after the delay
 * and the store can hold triplets that never came back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type Daemon, parseConfig, startDaemon } from '../../src/index.js';
import { PolicyConnection, rcpt } from './daemon.js';

/** A sender an SMTP client can send: markup that must reach the page as text. */
export const MARKUP_SENDER = '<img src=x onerror="document.title=\'pwned\'">@example.org';
/** What the scenario produces (the tests also compare the page with /metrics). */
export const EXPECTED = {
  greylisted: 4,
  passedAfterRetry: 1,
  acceptedAtOnce: 2,
  delaySec: 400,
  confirmedInStore: 1,
  unretriedInStore: 3,
};

export interface StatusScenario {
  readonly daemon: Daemon;
  /** `http://127.0.0.1:PORT` of the metrics endpoint. */
  readonly base: string;
  close(): Promise<void>;
}

export async function runStatusScenario(): Promise<StatusScenario> {
  let clock = 1_800_000_000;
  // A real SQLite file: the page's store figures come from the store the daemon really uses.
  const dir = await mkdtemp(join(tmpdir(), `greyprint-status-${process.pid}-`));
  const config = parseConfig({
    listen: ['127.0.0.1:0'],
    metrics: '127.0.0.1:0',
    db: join(dir, 'greyprint.sqlite'),
    os: { static: ['192.0.2.0/24=Windows XP', '198.51.100.0/24=Linux 3.11 and newer'] },
    greylist: { delaySec: 300 },
  });
  const daemon = await startDaemon(config, { logger: pino({ level: 'silent' }), now: () => clock });
  const [host, port] = (daemon.addresses[0] ?? '').split(':');
  const metricsAt = daemon.addresses.find((a) => a.startsWith('metrics='))?.slice('metrics='.length);
  const conn = await PolicyConnection.open(host ?? '', Number(port));
  try {
    const windows = (sender: string, client = '192.0.2.10') =>
      conn.ask(rcpt({ client_address: client, sender }));
    for (const sender of ['a@example.org', 'b@example.org', 'c@example.org']) await windows(sender);
    await windows(MARKUP_SENDER, '192.0.2.77');
    await conn.ask(rcpt({ client_address: '198.51.100.5' }));
    await conn.ask(rcpt({ client_address: '198.51.100.6' }));
    clock += EXPECTED.delaySec;
    await windows('a@example.org');
    // Past the "never came back" horizon: b, c and the markup sender did not retry.
    clock += 3600;
  } finally {
    conn.close();
  }
  return {
    daemon,
    base: `http://${metricsAt}`,
    close: async () => {
      await daemon.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `greyprint_requests_total{verdict="..."}` from the metrics text. */
export function requestsByVerdict(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metricsText.matchAll(/^greyprint_requests_total\{verdict="([a-z_]+)"\} (\d+)$/gm)) {
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}
