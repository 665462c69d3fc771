import { unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type HttpEndpoint, metricsRoute, parseHostPort, startHttpEndpoint } from 'opskit/http';
import type { Logger } from 'pino';
import type { AllowList } from './allow/allowlist.js';
import { loadAllowList } from './allow/files.js';
import type { Config } from './config/schema.js';
import { createLogger, logSinkOf } from './log.js';
import { Metrics } from './metrics.js';
import type { ParsedAddress } from './net/cidr.js';
import { createOsSource, OsChain, type OsResolution } from './os/factory.js';
import { formatOsLabel } from './os/parse-label.js';
import { StaticOsSource } from './os/static.js';
import { type Decision, DUNNO, decide, type PolicyState, StoreFault } from './policy/decide.js';
import { compileDynamicPatterns, compileRules } from './policy/rules.js';
import { formatTriplet } from './policy/triplet.js';
import type { PolicyRequest, PolicyRequestError } from './protocol/messages.js';
import { type ConnectionContext, type ConnectionHandler, PolicyConnection } from './server/connection.js';
import { DeadlineWatch, PendingAnswer } from './server/deadline.js';
import { ConnectionGate, FD_HEADROOM, openDescriptors, openFilesLimit } from './server/gate.js';
import { listenOn, parseListen } from './server/listen.js';
import { fastLineWriter } from './server/log-line.js';
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
  for (const file of missing) logger.info({ file }, 'allow file does not exist; treated as empty');
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

  /*
   * The store's state, logged once per change (as p0f's): with Redis down every request fails
   * open, and one error line per request would bury the one line that says why. While the store
   * is known to be failing, the per-request fail-open lines go to debug; the counters count all.
   */
  let storeFailure: string | undefined;
  const storeFailed = (err: unknown): void => {
    if (storeFailure !== undefined) return;
    storeFailure = errorText(err);
    logger.error(
      { store: store.kind, err: storeFailure },
      'greylist store failing; answering DUNNO (fail open) until it answers again',
    );
  };
  const storeAnswered = (): void => {
    if (storeFailure === undefined) return;
    logger.info({ store: store.kind, was: storeFailure }, 'greylist store answers again');
    storeFailure = undefined;
  };
  store.watchHealth?.((healthy, err) => (healthy ? storeAnswered() : storeFailed(err)));

  const failOpen = (reason: string, err: unknown, req: PolicyRequest, started: number): string => {
    metrics.failOpen.inc({ reason });
    metrics.countRequest('failopen');
    if (recording) status.recordFailOpen(now());
    // The request that reveals the failure logs its line; the next ones only count.
    const known = storeFailure !== undefined && (reason === 'store' || reason === 'deadline');
    if (err instanceof StoreFault) storeFailed(err.storeError);
    if (known && !logger.isLevelEnabled('debug')) return DUNNO;
    logger[known ? 'debug' : 'error'](
      {
        client: req.clientAddress,
        state: req.protocolState,
        action: DUNNO,
        verdict: 'failopen',
        reason,
        err: errorText(err),
        ms: round(performance.now() - started),
      },
      'fail open',
    );
    return DUNNO;
  };

  // The decision line, one per request at the default level, written the cheap way when the
  // logger allows it (see server/log-line.ts); the same line either way.
  const decisionLine = fastLineWriter(logger, 'info', DECISION_FIELDS);

  const report = (req: PolicyRequest, d: Decision, started: number, ctx: ConnectionContext): string => {
    const ms = performance.now() - started;
    metrics.countRequest(d.verdict);
    if (recording) status.record(d, now());
    // These verdicts come from the store: it answers (again).
    if (storeFailure !== undefined && (d.verdict === 'greylist' || d.verdict === 'pass')) storeAnswered();
    metrics.decisionSeconds.observe(ms / 1000);
    if (d.osFault !== undefined) metrics.failOpen.inc({ reason: d.osFault });
    if (d.verdict === 'bad_address') metrics.badRequests.inc({ code: 'bad_address' });
    if (d.verdict === 'skip') {
      if (logger.isLevelEnabled('debug')) {
        logger.debug({ client: req.clientAddress, state: req.protocolState, action: d.action }, 'skip');
      }
      return d.action;
    }
    let action = d.action;
    if (d.verdict === 'header') {
      // Several requests of one stage for the same message (the policy service
      // listed twice in Postfix) must not add the header twice.
      if (req.instance !== '' && ctx.lastHeaderInstance === req.instance) action = DUNNO;
      else ctx.lastHeaderInstance = req.instance;
    }
    const level = d.verdict === 'bad_address' ? 'warn' : 'info';
    // Building the line costs more than deciding; skip it when the level is off (benchmarks run at warn).
    if (!logger.isLevelEnabled(level)) return action;
    const line = {
      client: req.clientAddress,
      client_name: req.clientName,
      state: req.protocolState,
      os: formatOsLabel(d.os),
      os_source: d.os?.source,
      rule: d.rule,
      verdict: d.verdict,
      action,
      triplet: d.triplet === undefined ? undefined : formatTriplet(d.triplet),
      reason: d.reason,
      os_fault: d.osFault,
      queue_id: req.queueId || undefined,
      ms: round(ms),
    };
    if (level === 'warn') logger.warn(line, 'client_address is not an IP address');
    else if (decisionLine !== undefined) decisionLine(line, 'decision');
    else logger.info(line, 'decision');
    return action;
  };

  // One timer for the deadlines of every pending answer (see server/deadline.ts).
  const deadlines = new DeadlineWatch();
  const answerAtDeadline = (a: DecisionAnswer): string =>
    failOpen('deadline', new Error(`no decision within ${a.deadlineMs} ms`), a.req, a.started);

  const handler: ConnectionHandler = {
    onRequest(req, ctx) {
      const started = performance.now();
      let result: Decision | Promise<Decision>;
      try {
        result = decide(req, state, policyDeps);
      } catch (err) {
        return failOpen('exception', err, req, started);
      }
      if (!(result instanceof Promise)) return report(req, result, started, ctx);
      const answer = new DecisionAnswer(req, started, state.config.deadlineMs, answerAtDeadline);
      deadlines.add(answer, answer.deadlineMs);
      result.then(
        (d) => {
          // Past the deadline the request was already answered (and counted) as a fail open.
          if (!answer.settled) answer.settle(report(req, d, started, ctx));
        },
        (err) => {
          if (!answer.settled) answer.settle(failOpen(classifyFault(err), err, req, started));
          // Answered at the deadline already; the store's own error still says what is wrong.
          else if (err instanceof StoreFault) storeFailed(err.storeError);
        },
      );
      return answer;
    },
    onBadRequest(err: PolicyRequestError, ctx) {
      metrics.badRequests.inc({ code: err.code });
      metrics.countRequest('bad_request');
      logger.warn(
        {
          peer: ctx.peer,
          conn: ctx.id,
          code: err.code,
          attribute: err.attribute,
          limit: err.limit,
          action: DUNNO,
        },
        `bad request: ${err.message}`,
      );
      return DUNNO;
    },
    onTimeout(ctx, midRequest) {
      metrics.timedOut.inc({ phase: midRequest ? 'request' : 'idle' });
      logger.info(
        { peer: ctx.peer, conn: ctx.id, mid_request: midRequest },
        midRequest
          ? `closing connection: request not complete within ${state.config.requestTimeoutSec} s`
          : 'closing idle connection',
      );
    },
    onSocketError(ctx, err) {
      logger.debug({ peer: ctx.peer, conn: ctx.id, err: err.message }, 'connection error');
    },
  };

  const connections = new Set<PolicyConnection>();
  let nextId = 1;
  const servers: Server[] = [];
  const addresses: string[] = [];
  const unixPaths: string[] = [];
  const socketMode = Number.parseInt(config.socketMode, 8);
  metrics.watchConnections(() => connections.size);
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
          { reason: e.reason, open: e.open, limit: e.limit, fd_limit: fdLimit },
          e.reason === 'max_connections'
            ? `connection limit reached: ${e.open} open (maxConnections ${e.limit}); refusing new connections`
            : `descriptor limit reached: ${e.open} open, room for ${e.limit} under the open-files limit ${fdLimit}; refusing new connections`,
        );
      } else {
        logger.warn(
          { refused: e.refused, open: e.open },
          `accepting connections again after refusing ${e.refused}`,
        );
      }
    },
  );
  const connOptions = () => ({
    limits: state.config.limits,
    idleTimeoutMs: state.config.idleTimeoutSec * 1000,
    requestTimeoutMs: state.config.requestTimeoutSec * 1000,
  });
  try {
    for (const listen of config.listen) {
      const server = createServer((socket) => {
        const refused = gate.admit(connections.size);
        if (refused !== undefined) {
          metrics.refused.inc({ reason: refused });
          socket.destroy();
          return;
        }
        metrics.connections.inc();
        const ctx: ConnectionContext = {
          id: nextId++,
          peer: socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : listen,
        };
        const conn = new PolicyConnection(socket, ctx, handler, connOptions());
        connections.add(conn);
        socket.once('close', () => connections.delete(conn));
      });
      // After listening, the only errors are failed accepts (EMFILE when descriptors run out).
      server.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EMFILE' || err.code === 'ENFILE') {
          metrics.refused.inc({ reason: 'fd_limit' });
          gate.refuse('fd_limit', connections.size);
        } else logger.error({ listen, err: err.message }, 'accepting a connection failed');
      });
      servers.push(server);
      addresses.push(await listenOn(server, listen, socketMode));
      const target = parseListen(listen);
      if (target.kind === 'unix') unixPaths.push(target.path);
    }
  } catch (err) {
    await Promise.allSettled(servers.map((s) => new Promise((r) => s.close(r))));
    if (deps.store === undefined) await store.close();
    throw err;
  }

  // The metrics endpoint also serves the status page and its JSON (see status/).
  let httpEndpoint: HttpEndpoint | undefined;
  if (config.metrics !== undefined) {
    const routes = statusRoutes({
      recorder: status,
      store,
      now,
      health: {
        storeKind: store.kind,
        storeFailure: () => storeFailure,
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
      await Promise.allSettled(servers.map((s) => new Promise((r) => s.close(r))));
      if (deps.store === undefined) await store.close();
      throw err;
    }
    const { host, port } = httpEndpoint;
    addresses.push(`metrics=${host.includes(':') ? `[${host}]` : host}:${port}`);
  }

  let expiring = false;
  const expiry = setInterval(() => {
    if (expiring) return;
    expiring = true;
    const g = state.config.greylist;
    store
      .expire(now(), { unconfirmedTtl: g.unconfirmedTtlSec, confirmedTtl: g.confirmedTtlSec })
      .then(
        (r) => {
          metrics.expired.inc(r.triplets);
          logger.info({ triplets: r.triplets, clients: r.clients }, 'expired greylist entries');
        },
        (err) => logger.error({ err: (err as Error).message }, 'expiry failed'),
      )
      .finally(() => {
        expiring = false;
      });
  }, config.greylist.expiryIntervalSec * 1000);
  expiry.unref();

  logger.info(
    {
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
        if (ownOs && os instanceof OsChain) os = new OsChain(new StaticOsSource(next.os.static), os.live);
        state = nextState;
        logger.info(
          {
            rules: next.rules.map((r) => r.name),
            allow: nextState.allow.size,
            os_static: next.os.static.length,
          },
          'reloaded',
        );
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'reload failed; keeping the previous configuration');
        throw err;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(expiry);
      const serversClosed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      const httpClosed = httpEndpoint?.close();
      // Answer what is in flight, then close; a peer that does not read gets 5 s.
      const ended = Promise.all([...connections].map((c) => c.end()));
      const timer = setTimeout(() => {
        for (const c of connections) c.socket.destroy();
      }, 5000);
      await ended;
      clearTimeout(timer);
      deadlines.close();
      await Promise.all([...serversClosed, httpClosed]);
      for (const p of unixPaths) await unlink(p).catch(() => undefined);
      if (deps.store === undefined) await store.close();
      if (ownOs) await os.close();
      logger.info('greyprint stopped');
      logger.flush();
    },
  };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The fields of the per-decision log line, in the order they are written. */
const DECISION_FIELDS = [
  'client',
  'client_name',
  'state',
  'os',
  'os_source',
  'rule',
  'verdict',
  'action',
  'triplet',
  'reason',
  'os_fault',
  'queue_id',
  'ms',
] as const;

/** The answer to one request whose decision waits for the store or an OS source. */
class DecisionAnswer extends PendingAnswer {
  constructor(
    readonly req: PolicyRequest,
    readonly started: number,
    readonly deadlineMs: number,
    private readonly atDeadline: (a: DecisionAnswer) => string,
  ) {
    super(DUNNO);
  }

  protected timedOut(): string {
    return this.atDeadline(this);
  }
}

function classifyFault(err: unknown): string {
  if (!(err instanceof StoreFault)) return 'exception';
  // A store that is connected but silent (a frozen Redis) is a deadline, whichever timer fired first.
  return (err.storeError as { timedOut?: unknown } | undefined)?.timedOut === true ? 'deadline' : 'store';
}

/** An error as one line of text with its cause (ioredis and SQLite errors keep the real one there). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const text = `${err.name}: ${err.message}`;
  return err.message === '' && err.cause !== undefined ? `${text} (${errorText(err.cause)})` : text;
}
