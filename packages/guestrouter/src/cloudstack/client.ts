/**
 * Signed JSON calls to the CloudStack API with timeouts, retries for
 * transient failures (exponential backoff with jitter) and paging.
 * Credentials never appear in errors or logs: the request URL carries the
 * API key and signature, so it is never logged.
 */
import type { CloudStackConfig } from './config.js';
import { CloudStackApiError } from './errors.js';
import type { CloudStackMetrics } from './metrics.js';
import { apiErrorFromBody, DEFAULT_MAX_RESPONSE_BYTES, ResponseDecoder } from './parser.js';
import { buildSignedQuery } from './signing.js';
import { fetchTransport, nodeTransport, type Transport } from './transport.js';

export type ParamValue = string | number | boolean;
export type Params = Record<string, ParamValue>;

export interface CloudStackLogger {
  warn(obj: object, msg?: string): void;
}

export interface CloudStackClientOptions {
  /** Use this fetch instead of node:http(s); it then owns TLS verification. */
  fetch?: typeof fetch;
  logger?: CloudStackLogger;
  /** First retry delay, doubled per attempt (default 500 ms). */
  retryBaseMs?: number;
  /** Cap on one retry delay (default 8000 ms). */
  retryMaxMs?: number;
  /** Lifetime of a signature (`expires`), default 10 minutes. */
  signatureTtlMs?: number;
  /** Body size limit per response (default 256 MiB). */
  maxResponseBytes?: number;
  /** Clock, for tests of expiry. */
  now?: () => number;
  /** Randomness in [0,1) for jitter, for tests. */
  random?: () => number;
  /** Counts and times each attempt (see cloudStackMetrics). */
  metrics?: CloudStackMetrics;
}

/** Upper bound on pages of one list, so a server that ignores `page` cannot loop us forever. */
const MAX_PAGES = 100_000;

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCodeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return own;
  // fetch wraps the socket error: TypeError('fetch failed', { cause })
  const cause = (err as { cause?: unknown }).cause;
  return cause === err ? undefined : errorCodeOf(cause);
}

function isAbort(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const name = (err as { name?: unknown }).name;
  return name === 'AbortError' || name === 'TimeoutError' || errorCodeOf(err) === 'ABORT_ERR';
}

/** CloudStack's limit from "Page size can't exceed max allowed page size value: N" (errorcode 431). */
function serverPageLimit(err: CloudStackApiError): number | undefined {
  if (err.errorCode !== 431) return undefined;
  const match = /max allowed page size value: (\d+)/.exec(err.errorText ?? '');
  const limit = match ? Number(match[1]) : undefined;
  return limit !== undefined && limit >= 1 ? limit : undefined;
}

export class CloudStackClient {
  readonly config: CloudStackConfig;
  private readonly transport: Transport;
  private readonly logger: CloudStackLogger | undefined;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly signatureTtlMs: number;
  private readonly maxResponseBytes: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly metrics: CloudStackMetrics | undefined;
  private readonly endpoint: string;
  /** `config.pageSize`, lowered once the server reports a smaller limit. */
  private pageSize: number;

  constructor(config: CloudStackConfig, options: CloudStackClientOptions = {}) {
    this.config = config;
    this.transport = options.fetch ? fetchTransport(options.fetch) : nodeTransport(config.verifyTls);
    this.logger = options.logger;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 8000;
    this.signatureTtlMs = options.signatureTtlMs ?? 10 * 60_000;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.metrics = options.metrics;
    this.endpoint = config.url;
    this.pageSize = config.pageSize;
  }

  /** Releases kept-alive connections; the client stays usable (new ones are opened). */
  close(): void {
    this.transport.close();
  }

  /**
   * One signed GET. Resolves to the object under `<command>response`
   * (e.g. `{count, network: [...]}` for listNetworks); rejects with a
   * CloudStackApiError naming the command.
   */
  async request<T = unknown>(command: string, params: Params = {}): Promise<T> {
    const maxAttempts = this.config.retries + 1;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const body = (await this.attempt(command, params)) as T;
        this.metrics?.observeAttempt(command, 'ok', (performance.now() - started) / 1000);
        return body;
      } catch (err) {
        const apiError = err instanceof CloudStackApiError ? err : this.transportError(command, err);
        this.metrics?.observeAttempt(command, apiError.code, (performance.now() - started) / 1000);
        if (!apiError.transient || attempt >= maxAttempts) throw apiError.withAttempts(attempt);
        this.metrics?.observeRetry(command);
        const delayMs = this.backoffMs(attempt);
        this.logger?.warn(
          {
            event: 'cloudstack-retry',
            command,
            attempt,
            maxAttempts,
            delayMs,
            code: apiError.code,
            httpStatus: apiError.httpStatus,
            err: apiError.message,
          },
          'CloudStack call failed, retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  /**
   * Every item of a list command across all pages. Stops when a page comes
   * back short, when `count` is reached, or when a page is empty. Items seen
   * twice (the list shifted between pages) are kept once, by `id`. When the
   * server's `default.page.size` is below `pageSize`, CloudStack refuses with
   * errorcode 431 naming its limit; the listing restarts once with that limit.
   */
  async listAll<T = unknown>(command: string, params: Params, responseKey: string): Promise<T[]> {
    try {
      return await this.listPages<T>(command, params, responseKey, this.pageSize);
    } catch (err) {
      const limit = err instanceof CloudStackApiError ? serverPageLimit(err) : undefined;
      if (limit === undefined || limit >= this.pageSize) throw err;
      this.logger?.warn(
        { event: 'cloudstack-page-size', command, pageSize: this.pageSize, serverLimit: limit },
        'CloudStack default.page.size is below pageSize; listing with the server limit (lower pageSize in the config)',
      );
      // Remembered, so later lists on this client do not pay the refused request again.
      this.pageSize = limit;
      return await this.listPages<T>(command, params, responseKey, limit);
    }
  }

  private async listPages<T>(
    command: string,
    params: Params,
    responseKey: string,
    pageSize: number,
  ): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    // CloudStack puts the total in every page's `count`; the newest one is the truth to compare with.
    let count: number | undefined;
    const incomplete = (page: number, detail: string): CloudStackApiError =>
      new CloudStackApiError(
        `CloudStack ${command}: incomplete list: ${detail} (page ${page}, pagesize ${pageSize}); ` +
          'an incomplete inventory is never used, nothing is changed',
        { code: 'incomplete-list', command, transient: false },
      );
    for (let page = 1; page <= MAX_PAGES; page++) {
      const body = await this.request<Record<string, unknown>>(command, {
        ...params,
        page,
        pagesize: pageSize,
      });
      const pageItems = body[responseKey];
      if (body.count !== undefined) {
        if (typeof body.count !== 'number' || !Number.isInteger(body.count) || body.count < 0) {
          throw new CloudStackApiError(`CloudStack ${command}: malformed response: "count" is not a number`, {
            code: 'malformed-response',
            command,
            transient: false,
          });
        }
        count = body.count;
      }
      if (pageItems === undefined) {
        // An empty answer (`{}`) is an empty list; a page without items that announces more is a missing page.
        if (count !== undefined && items.length < count) {
          throw incomplete(page, `the page came back without items after ${items.length} of ${count}`);
        }
        return items;
      }
      if (!Array.isArray(pageItems)) {
        throw new CloudStackApiError(
          `CloudStack ${command}: malformed response: "${responseKey}" is not a list`,
          {
            code: 'malformed-response',
            command,
            transient: false,
          },
        );
      }
      if (count === undefined) {
        // Without a total nobody can tell a short page from the end of the list.
        throw incomplete(page, `the answer lists ${pageItems.length} items but has no "count"`);
      }
      let added = 0;
      let withId = 0;
      for (const item of pageItems as T[]) {
        const id = (item as { id?: unknown } | null)?.id;
        if (typeof id === 'string') {
          withId++;
          if (seen.has(id)) continue;
          seen.add(id);
        }
        items.push(item);
        added++;
      }
      if (page > 1 && added === 0 && withId === pageItems.length && pageItems.length > 0) {
        // A full page of nothing new: the server ignores `page`; stop instead of looping.
        throw new CloudStackApiError(
          `CloudStack ${command}: page ${page} repeats earlier items; the server seems to ignore paging`,
          { code: 'malformed-response', command, transient: false },
        );
      }
      if (pageItems.length < pageSize || page * pageSize >= count) {
        if (items.length < count) {
          throw incomplete(page, `received ${items.length} of the ${count} items "count" announces`);
        }
        return items;
      }
    }
    throw new CloudStackApiError(
      `CloudStack ${command}: more than ${MAX_PAGES} pages; refusing to continue`,
      {
        code: 'malformed-response',
        command,
        transient: false,
      },
    );
  }

  private backoffMs(attempt: number): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempt - 1));
    // "Equal jitter": at least half the ceiling so retries stay spaced, the rest random
    // so many routers retrying after the same outage do not arrive in lockstep.
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }

  private async attempt(command: string, params: Params): Promise<unknown> {
    const stringParams: Record<string, string> = {};
    for (const [name, value] of Object.entries(params)) stringParams[name] = String(value);
    const query = buildSignedQuery({
      command,
      params: stringParams,
      apiKey: this.config.apiKey,
      secretKey: this.config.secretKey,
      expires: new Date(this.now() + this.signatureTtlMs),
    });
    const url = `${this.endpoint}${this.endpoint.includes('?') ? '&' : '?'}${query}`;
    const signal = AbortSignal.timeout(this.config.timeoutMs);
    try {
      return await this.exchange(command, url, signal);
    } catch (err) {
      // An abort while the body streams surfaces as a socket error ("aborted"), not an AbortError.
      if (!(err instanceof CloudStackApiError) && signal.aborted)
        throw this.transportError(command, signal.reason);
      throw err;
    }
  }

  private async exchange(command: string, url: string, signal: AbortSignal): Promise<unknown> {
    const answer = await this.transport.get(url, signal);
    if (answer.status >= 300 && answer.status < 400) {
      for await (const _chunk of answer.body) {
        // drain so the connection can be reused
      }
      throw new CloudStackApiError(
        `CloudStack ${command}: HTTP ${answer.status} redirect to ${answer.location ?? '(no Location)'}; ` +
          'set CLOUDSTACK_API_URL to the final address (redirects are not followed: the URL carries the API key and signature)',
        { code: 'http-error', command, httpStatus: answer.status, transient: false },
      );
    }
    const decoder = new ResponseDecoder(command, answer.status, this.maxResponseBytes);
    for await (const chunk of answer.body) {
      if (!decoder.push(chunk)) break;
    }
    const decoded = decoder.finish();
    if (decoded.kind === 'error') throw apiErrorFromBody(command, answer.status, decoded.error);
    return decoded.body;
  }

  private transportError(command: string, err: unknown): CloudStackApiError {
    const where = this.describeEndpoint();
    if (isAbort(err)) {
      return new CloudStackApiError(
        `CloudStack ${command}: no answer from ${where} within ${this.config.timeoutMs} ms`,
        {
          code: 'timeout',
          command,
          transient: true,
          cause: err,
        },
      );
    }
    const code = errorCodeOf(err);
    const detail = err instanceof Error ? err.message : String(err);
    if ((code !== undefined && TLS_ERROR_CODES.has(code)) || code?.startsWith('ERR_SSL_')) {
      return new CloudStackApiError(
        `CloudStack ${command}: TLS certificate of ${where} not accepted (${code}: ${detail}); ` +
          'trust its CA with NODE_EXTRA_CA_CERTS, or set verifyTls to false',
        { code: 'tls', command, transient: false, cause: err },
      );
    }
    return new CloudStackApiError(
      `CloudStack ${command}: cannot reach ${where} (${code ?? 'error'}: ${detail})`,
      {
        code: 'network',
        command,
        transient: true,
        cause: err,
      },
    );
  }

  private describeEndpoint(): string {
    try {
      const u = new URL(this.endpoint);
      return `${u.protocol}//${u.host}${u.pathname}`;
    } catch {
      return 'the CloudStack endpoint';
    }
  }
}
