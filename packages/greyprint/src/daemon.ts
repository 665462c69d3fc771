import { changedRestartOnlyKeys } from 'opskit/config';
import { type HttpEndpoint, metricsRoute, parseHostPort, startHttpEndpoint } from 'opskit/http';
import type { Logger } from 'pino';
import type { AllowList } from './allow/allowlist.js';
import { loadAllowList } from './allow/files.js';
import { type Config, RESTART_ONLY_KEYS } from './config/schema.js';
import { startExpiry } from './daemon/expiry.js';
import { createPolicyHandler } from './daemon/handler.js';
import { openListeners, type PolicyListeners } from './daemon/listeners.js';
import { StoreHealth } from './daemon/store-health.js';
import { createLogger, logSinkOf } from './log.js';
import { Metrics } from './metrics.js';
import type { ParsedAddress } from './net/cidr.js';
import { createOsSource, OsChain, type OsResolution } from './os/factory.js';
import { StaticOsSource } from './os/static.js';
import type { PolicyState } from './policy/decide.js';
import { compileDynamicPatterns, compileRules } from './policy/rules.js';
import { ConnectionGate, FD_HEADROOM, openDescriptors, openFilesLimit } from './server/gate.js';
import { StatusRecorder } from './status/recorder.js';
import { statusRoutes } from './status/routes.js';
import { openStore } from './store/factory.js';
import type { GreylistStore } from './store/types.js';

export interface DaemonDeps {
  readonly store?: GreylistStore;
  /** An OS resolver; by default the configured chain (static pins, then p0f). */
  readonly os?: {
    resolve(address: string, parsed?: ParsedAddress): OsResolution | Promise<OsResolution>;
    close(): Promise<void>;
  };
  readonly logger?: Logger;
  /** Unix seconds; tests move time. */
  readonly now?: () => number;
  /** Produces the config for reload (re-reads the config file); without it reload only re-reads allow files. */
  readonly reloadConfig?: () => Promise<Config>;
}

export interface Daemon {
  /** Where it listens, e.g. `127.0.0.1:10023`, `unix:/run/greyprint/policy.sock`. */
  readonly addresses: string[];
  readonly metrics: Metrics;
  /** The status page's time series (fed by every decision while a metrics address is configured). */
  readonly status: StatusRecorder;
  close(): Promise<void>;
  /** Re-reads the config (rules, pins, texts) and the allow files; on error keeps the old ones. */
  reload(): Promise<void>;
}

const unixNow = (): number => Math.floor(Date.now() / 1000);

async function buildState(config: Config, logger: Logger): Promise<PolicyState> {
  const { list, missing } = await loadAllowList(config.allow.files, config.allow.entries);
  for (const file of missing)
    logger.info({ event: 'allow_file_missing', file }, 'allow file does not exist; treated as empty');
  return {
    config,
    rules: compileRules(config.rules),
    allow: list as AllowList,
    isDynamicName: compileDynamicPatterns(config.desktop.dynamicNamePatterns),
  };
}

/**
 * Starts the policy daemon: listeners, store, OS sources, background expiry,
 * optional metrics endpoint. Signals are the caller's business (the CLI maps
 * SIGHUP to reload and SIGTERM to close).
 */
export async function startDaemon(config: Config, deps: DaemonDeps = {}): Promise<Daemon> {
  const logger = deps.logger ?? createLogger(config.logLevel, config.logFormat);
  const now = deps.now ?? unixNow;
  const metrics = new Metrics(true);
  const status = new StatusRecorder(now());
  // Only a daemon with a metrics address shows the status page; without one nothing is recorded.
  const recording = config.metrics !== undefined;
  let state = await buildState(config, logger);
  // A Redis command waits past the request deadline, so a silent (frozen) Redis is counted as
  // `deadline` by the deadline itself, not as a store error that happens to come first.
  const store =
    deps.store ?? (await openStore({ path: config.db, commandTimeoutMs: config.deadlineMs + 500 }));
  const ownOs = deps.os === undefined;
  let os = deps.os ?? createOsSource(config, logger);
  // The p0f source's counters, read at scrape time from whichever chain is current (reload swaps it).
  if (os instanceof OsChain && os.p0f !== undefined) {
    metrics.watchP0f(() => (os instanceof OsChain ? os.p0f?.stats() : undefined));
  }
  // The capture source survives reloads (the chain keeps its live sources), so its metrics are registered once.
  if (os instanceof OsChain) os.capture?.registerMetrics(metrics.registry);
  const policyDeps = {
    store,
    now,
    os: { resolve: (address: string, parsed?: ParsedAddress) => os.resolve(address, parsed) },
  };

  const health = new StoreHealth(logger, store.kind);
  store.watchHealth?.((healthy, err) => (healthy ? health.answered() : health.failed(err)));
  const policy = createPolicyHandler(
    () => state,
    policyDeps,
    metrics,
    logger,
    health,
    recording
      ? { decision: (d) => status.record(d, now()), failOpen: () => status.recordFailOpen(now()) }
      : undefined,
  );

  metrics.watchConnections(() => listeners?.connections.size ?? 0);
  const sink = logSinkOf(logger);
  if (sink !== undefined) metrics.watchLogDrops(() => sink.droppedLines);
  // Room the descriptor limit leaves for policy connections, counted once at start; past it an
  // accept would fail with EMFILE, which libuv handles by closing the connection unseen.
  const fdLimit = openFilesLimit();
  const gate = new ConnectionGate(
    {
      maxConnections: config.maxConnections,
      fdConnections: Math.max(1, fdLimit - openDescriptors() - FD_HEADROOM),
    },
    (e) => {
      if (e.kind === 'burst_started') {
        logger.warn(
          { event: 'connections_refused', reason: e.reason, open: e.open, limit: e.limit, fd_limit: fdLimit },
          e.reason === 'max_connections'
            ? `connection limit reached: ${e.open} open (maxConnections ${e.limit}); refusing new connections`
            : `descriptor limit reached: ${e.open} open, room for ${e.limit} under the open-files limit ${fdLimit}; refusing new connections`,
        );
      } else {
        logger.warn(
          { event: 'connections_accepted', refused: e.refused, open: e.open },
          `accepting connections again after refusing ${e.refused}`,
        );
      }
    },
  );
  let listeners: PolicyListeners | undefined;
  try {
    listeners = await openListeners(
      {
        listen: config.listen,
        socketMode: config.socketMode,
        connectionOptions: () => ({
          limits: state.config.limits,
          idleTimeoutMs: state.config.idleTimeoutSec * 1000,
          requestTimeoutMs: state.config.requestTimeoutSec * 1000,
        }),
      },
      policy.handler,
      gate,
      metrics,
      logger,
    );
  } catch (err) {
    policy.close();
    if (deps.store === undefined) await store.close();
    throw err;
  }
  const policyListeners = listeners;
  const addresses = [...policyListeners.addresses];

  // The metrics endpoint also serves the status page and its JSON (see status/).
  let httpEndpoint: HttpEndpoint | undefined;
  if (config.metrics !== undefined) {
    const routes = statusRoutes({
      recorder: status,
      store,
      now,
      health: {
        storeKind: store.kind,
        storeFailure: () => health.failureText,
        p0f: () => (os instanceof OsChain ? os.p0f?.stats() : undefined),
        failOpenByReason: async () =>
          Object.fromEntries(
            (await metrics.failOpen.get()).values.map((v) => [String(v.labels.reason), v.value]),
          ),
      },
    });
    routes.set('/metrics', metricsRoute(metrics.registry));
    try {
      httpEndpoint = await startHttpEndpoint(parseHostPort(config.metrics), routes);
    } catch (err) {
      await policyListeners.stopAccepting();
      await policyListeners.unlinkSockets();
      policy.close();
      if (deps.store === undefined) await store.close();
      throw err;
    }
    const { host, port } = httpEndpoint;
    addresses.push(`metrics=${host.includes(':') ? `[${host}]` : host}:${port}`);
  }

  const stopExpiry = startExpiry(store, logger, {
    intervalMs: config.greylist.expiryIntervalSec * 1000,
    ttls: () => ({
      unconfirmedTtl: state.config.greylist.unconfirmedTtlSec,
      confirmedTtl: state.config.greylist.confirmedTtlSec,
    }),
    now,
    onExpired: (triplets) => metrics.expired.inc(triplets),
  });

  logger.info(
    {
      event: 'start',
      listen: addresses,
      store: store.kind,
      db: config.db,
      os_static: config.os.static.length,
      p0f: config.p0f.socket ?? null,
      max_connections: gate.limit,
      rules: config.rules.map((r) => r.name),
      allow: state.allow.size,
    },
    'greyprint started',
  );

  let closed = false;
  return {
    addresses,
    metrics,
    status,
    async reload() {
      try {
        const next = deps.reloadConfig ? await deps.reloadConfig() : state.config;
        const nextState = await buildState(next, logger);
        // Compared with the config the daemon started with: that is what still runs for these keys.
        for (const key of changedRestartOnlyKeys(config, next, RESTART_ONLY_KEYS)) {
          logger.warn(
            { event: 'reload', key },
            `${key} changed; a reload keeps the running value, restart to apply it`,
          );
        }
        if (ownOs && os instanceof OsChain) os = new OsChain(new StaticOsSource(next.os.static), os.live);
        state = nextState;
        logger.info(
          {
            event: 'reload',
            rules: next.rules.map((r) => r.name),
            allow: nextState.allow.size,
            os_static: next.os.static.length,
          },
          'reloaded',
        );
      } catch (err) {
        logger.error(
          { event: 'reload_failed', err: (err as Error).message },
          'reload failed; keeping the previous configuration',
        );
        throw err;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      // The close order: no new work (expiry, accepts, scrapes), then the answers in flight,
      // then what those answers needed (deadlines, store, OS sources), then the last log line.
      stopExpiry();
      const serversClosed = policyListeners.stopAccepting();
      const httpClosed = httpEndpoint?.close();
      await policyListeners.endConnections(5000);
      policy.close();
      await Promise.all([serversClosed, httpClosed]);
      await policyListeners.unlinkSockets();
      if (deps.store === undefined) await store.close();
      if (ownOs) await os.close();
      logger.info({ event: 'stop' }, 'greyprint stopped');
      logger.flush();
    },
  };
}
