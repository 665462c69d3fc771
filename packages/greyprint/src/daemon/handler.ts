import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { formatOsLabel } from '../os/parse-label.js';
import {
  type Decision,
  DUNNO,
  decide,
  type PolicyDeps,
  type PolicyState,
  StoreFault,
} from '../policy/decide.js';
import { formatTriplet } from '../policy/triplet.js';
import type { PolicyRequest, PolicyRequestError } from '../protocol/messages.js';
import type { ConnectionContext, ConnectionHandler } from '../server/connection.js';
import { DeadlineWatch, PendingAnswer } from '../server/deadline.js';
import { fastLineWriter } from '../server/log-line.js';
import { errorText, type StoreHealth } from './store-health.js';

/** Sees each answer as it is counted (the status page's time series). */
export interface DecisionObserver {
  decision(d: Decision): void;
  failOpen(): void;
}

export interface PolicyHandler {
  readonly handler: ConnectionHandler;
  /** Stops the deadline timer; call after the last connection has ended. */
  close(): void;
}

/**
 * The request handler: decides each request, answers within the deadline (failing open with
 * DUNNO on any fault), counts and logs it. `state` is read per request, so a reload applies
 * to the next request.
 */
export function createPolicyHandler(
  state: () => PolicyState,
  policyDeps: PolicyDeps,
  metrics: Metrics,
  logger: Logger,
  health: StoreHealth,
  observer?: DecisionObserver,
): PolicyHandler {
  const failOpen = (reason: string, err: unknown, req: PolicyRequest, started: number): string => {
    metrics.failOpen.inc({ reason });
    metrics.countRequest('failopen');
    observer?.failOpen();
    // The request that reveals the failure logs its line; the next ones only count.
    const known = health.failing && (reason === 'store' || reason === 'deadline');
    if (err instanceof StoreFault) health.failed(err.storeError);
    if (known && !logger.isLevelEnabled('debug')) return DUNNO;
    logger[known ? 'debug' : 'error'](
      {
        event: 'fail_open',
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
    observer?.decision(d);
    // These verdicts come from the store: it answers (again).
    if (health.failing && (d.verdict === 'greylist' || d.verdict === 'pass')) health.answered();
    metrics.decisionSeconds.observe(ms / 1000);
    if (d.osFault !== undefined) metrics.failOpen.inc({ reason: d.osFault });
    if (d.verdict === 'bad_address') metrics.badRequests.inc({ code: 'bad_address' });
    if (d.verdict === 'skip') {
      if (logger.isLevelEnabled('debug')) {
        logger.debug(
          { event: 'skip', client: req.clientAddress, state: req.protocolState, action: d.action },
          'skip',
        );
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
      event: level === 'warn' ? 'bad_address' : 'decision',
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
      const current = state();
      let result: Decision | Promise<Decision>;
      try {
        result = decide(req, current, policyDeps);
      } catch (err) {
        return failOpen('exception', err, req, started);
      }
      if (!(result instanceof Promise)) return report(req, result, started, ctx);
      const answer = new DecisionAnswer(req, started, current.config.deadlineMs, answerAtDeadline);
      deadlines.add(answer, answer.deadlineMs);
      result.then(
        (d) => {
          // Past the deadline the request was already answered (and counted) as a fail open.
          if (!answer.settled) answer.settle(report(req, d, started, ctx));
        },
        (err) => {
          if (!answer.settled) answer.settle(failOpen(classifyFault(err), err, req, started));
          // Answered at the deadline already; the store's own error still says what is wrong.
          else if (err instanceof StoreFault) health.failed(err.storeError);
        },
      );
      return answer;
    },
    onBadRequest(err: PolicyRequestError, ctx) {
      metrics.badRequests.inc({ code: err.code });
      metrics.countRequest('bad_request');
      logger.warn(
        {
          event: 'bad_request',
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
        { event: 'connection_timeout', peer: ctx.peer, conn: ctx.id, mid_request: midRequest },
        midRequest
          ? `closing connection: request not complete within ${state().config.requestTimeoutSec} s`
          : 'closing idle connection',
      );
    },
    onSocketError(ctx, err) {
      logger.debug(
        { event: 'connection_error', peer: ctx.peer, conn: ctx.id, err: err.message },
        'connection error',
      );
    },
  };

  return { handler, close: () => deadlines.close() };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The fields of the per-decision log line, in the order they are written. */
const DECISION_FIELDS = [
  'event',
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

/** The fail-open reason of a rejected decision. */
export function classifyFault(err: unknown): string {
  if (!(err instanceof StoreFault)) return 'exception';
  // A store that is connected but silent (a frozen Redis) is a deadline, whichever timer fired first.
  return (err.storeError as { timedOut?: unknown } | undefined)?.timedOut === true ? 'deadline' : 'store';
}
