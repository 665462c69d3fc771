import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ParsedAddress } from '../net/cidr.js';
import { CaptureSource } from './capture/source.js';
import { builtinSignatures, loadSignatureFile } from './fingerprint/index.js';
import type { OsLabel, OsSource } from './label.js';
import { P0fSource } from './p0f/source.js';
import { StaticOsSource } from './static.js';

/** Raised (as the promise's value, never thrown to callers) when a source exceeded its wait. */
export class OsLookupTimeout extends Error {
  override readonly name = 'OsLookupTimeout';
  constructor(
    readonly source: string,
    readonly timeoutMs: number,
  ) {
    super(`OS source ${source} did not answer within ${timeoutMs} ms`);
  }
}

export interface OsResolution {
  readonly label: OsLabel | undefined;
  /** Set when a source failed or timed out: the OS counts as unknown and the fault is counted. */
  readonly fault?: 'os_timeout' | 'os_error';
}

const UNKNOWN: OsResolution = { label: undefined };

/**
 * Asks the sources in order: operator pins first (they win), then the live
 * sources, each with a bounded wait. Answers synchronously when the pins decide
 * or no live source is configured, which keeps the hot path free of timers.
 */
export class OsChain implements OsSource {
  readonly name = 'chain';

  constructor(
    readonly pins: StaticOsSource,
    readonly live: readonly { source: OsSource; timeoutMs: number }[],
  ) {}

  resolve(address: string, parsed?: ParsedAddress): OsResolution | Promise<OsResolution> {
    const pinned = this.pins.lookupSync(address, parsed);
    if (pinned !== undefined) return { label: pinned };
    if (this.live.length === 0) return UNKNOWN;
    return this.resolveLive(address, parsed);
  }

  private async resolveLive(address: string, parsed: ParsedAddress | undefined): Promise<OsResolution> {
    for (const { source, timeoutMs } of this.live) {
      const r = await lookupWithin(source, address, timeoutMs, parsed);
      if (r.label !== undefined || r.fault !== undefined) return r;
    }
    return UNKNOWN;
  }

  async lookup(address: string): Promise<OsLabel | undefined> {
    return (await this.resolve(address)).label;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pins.close(), ...this.live.map((l) => l.source.close())]);
  }

  /** The capture source of the chain, if `capture.interface` is set. */
  get capture(): CaptureSource | undefined {
    for (const { source } of this.live) if (source instanceof CaptureSource) return source;
    return undefined;
  }

  /** The p0f source of the chain, if one is configured (its stats feed the metrics). */
  get p0f(): P0fSource | undefined {
    for (const { source } of this.live) if (source instanceof P0fSource) return source;
    return undefined;
  }
}

/** One lookup bounded by a timer; the source is told to give up through the AbortSignal. */
export function lookupWithin(
  source: OsSource,
  address: string,
  timeoutMs: number,
  parsed?: ParsedAddress,
): Promise<OsResolution> {
  const controller = new AbortController();
  return new Promise<OsResolution>((resolve) => {
    const timer = setTimeout(() => {
      controller.abort(new OsLookupTimeout(source.name, timeoutMs));
      resolve({ label: undefined, fault: 'os_timeout' });
    }, timeoutMs);
    source.lookup(address, controller.signal, parsed).then(
      (label) => {
        clearTimeout(timer);
        resolve({ label });
      },
      () => {
        clearTimeout(timer);
        resolve({ label: undefined, fault: controller.signal.aborted ? 'os_timeout' : 'os_error' });
      },
    );
  });
}

/**
 * The configured chain: static pins, then the live sources in `os.order`:
 * greyprint's own capture when `capture.interface` is set (its helper starts
 * here), p0f when `p0f.socket` is set.
 */
export function createOsSource(config: Config, logger?: Logger): OsChain {
  const pins = new StaticOsSource(config.os.static);
  const live: { source: OsSource; timeoutMs: number }[] = [];
  for (const name of config.os.order) {
    if (name === 'capture') addCapture(config, live, logger);
    else addP0f(config, live, logger);
  }
  logger?.debug({ pins: pins.size, live: live.map((l) => l.source.name) }, 'os sources');
  return new OsChain(pins, live);
}

const silent = { warn() {}, info() {}, debug() {} };

function addCapture(config: Config, live: { source: OsSource; timeoutMs: number }[], logger?: Logger): void {
  const c = config.capture;
  if (c.interface === undefined) return;
  const source = new CaptureSource({
    interface: c.interface,
    filter: c.filter,
    command: c.command,
    signatures: c.signatures === undefined ? builtinSignatures() : loadSignatureFile(c.signatures),
    cacheTtlSec: c.cacheTtlSec,
    waitMs: c.waitMs,
    logger: logger?.child({ component: 'capture' }) ?? silent,
  }).start();
  // The source bounds its own wait (waitMs); this backstop only catches a broken promise.
  live.push({ source, timeoutMs: c.waitMs + 50 });
}

function addP0f(config: Config, live: { source: OsSource; timeoutMs: number }[], logger?: Logger): void {
  if (config.p0f.socket !== undefined) {
    live.push({
      source: new P0fSource({
        socket: config.p0f.socket,
        timeoutMs: config.p0f.timeoutMs,
        poolSize: config.p0f.poolSize,
        cacheTtlSec: config.p0f.cacheTtlSec,
        // p0f going away and coming back is logged (once per change of state).
        ...(logger === undefined ? {} : { logger: logger.child({ component: 'p0f' }) }),
      }),
      // The p0f source bounds its own wait at timeoutMs and then answers unknown;
      // this backstop only catches a source that breaks that promise.
      timeoutMs: config.p0f.timeoutMs + 50,
    });
  }
}
