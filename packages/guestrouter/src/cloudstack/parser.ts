/**
 * Decodes CloudStack's JSON answers. Bytes come in as chunks (straight from
 * the socket); the decoder keeps UTF-8 sequences split across chunks intact,
 * enforces a size limit, and classifies the result: the command's response
 * object, a CloudStack error (`errorcode`/`errortext`), or a malformed body.
 * Pure: no sockets, no timers.
 */
import { CloudStackApiError } from './errors.js';
import type { RawErrorBody } from './messages.js';

export type DecodedResponse =
  | { readonly kind: 'ok'; readonly responseKey: string; readonly body: Record<string, unknown> }
  | { readonly kind: 'error'; readonly responseKey: string; readonly error: RawErrorBody };

/** Default limit on a response body: generous for 500-item pages, bounded for broken servers. */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** CloudStack error codes after which a retry can succeed. */
const TRANSIENT_ERROR_CODES = new Set([429, 503, 530, 534]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}...` : flat;
}

/** The top-level key CloudStack uses for a command: `listNetworks` -> `listnetworksresponse`. */
export function responseKeyFor(command: string): string {
  return `${command.toLowerCase()}response`;
}

function findResponseKey(command: string, top: Record<string, unknown>): string | undefined {
  const expected = responseKeyFor(command);
  if (expected in top) return expected;
  if ('errorresponse' in top) return 'errorresponse';
  const candidates = Object.keys(top).filter((k) => k.endsWith('response'));
  return candidates.length === 1 ? candidates[0] : undefined;
}

function malformed(command: string, httpStatus: number, why: string): CloudStackApiError {
  return new CloudStackApiError(`CloudStack ${command}: malformed response (HTTP ${httpStatus}): ${why}`, {
    code: 'malformed-response',
    command,
    httpStatus,
    transient: false,
  });
}

/**
 * Classifies a complete body. Throws CloudStackApiError for anything that is
 * not a CloudStack answer; returns CloudStack's own error bodies as `error`
 * so the caller decides what they mean.
 */
export function decodeResponseText(command: string, httpStatus: number, text: string): DecodedResponse {
  let top: unknown;
  try {
    top = JSON.parse(text);
  } catch (err) {
    if (httpStatus < 200 || httpStatus >= 300) {
      // A proxy's or servlet container's error page: the HTTP status is the news.
      const transient = httpStatus >= 500 || httpStatus === 429 || httpStatus === 408;
      return throwHttpError(command, httpStatus, text, transient);
    }
    const why = text.trim() === '' ? 'empty body' : `not JSON (${(err as Error).message}): ${snippet(text)}`;
    throw malformed(command, httpStatus, why);
  }
  if (!isRecord(top)) throw malformed(command, httpStatus, `expected a JSON object, got ${snippet(text)}`);
  const responseKey = findResponseKey(command, top);
  if (responseKey === undefined) {
    throw malformed(
      command,
      httpStatus,
      `no "${responseKeyFor(command)}" key (keys: ${Object.keys(top).join(', ') || 'none'})`,
    );
  }
  const inner = top[responseKey];
  if (!isRecord(inner)) throw malformed(command, httpStatus, `"${responseKey}" is not an object`);
  if ('errorcode' in inner) {
    const errorcode = Number(inner.errorcode);
    if (!Number.isInteger(errorcode)) throw malformed(command, httpStatus, 'errorcode is not a number');
    const error: RawErrorBody = { errorcode };
    if (inner.cserrorcode !== undefined && Number.isInteger(Number(inner.cserrorcode))) {
      error.cserrorcode = Number(inner.cserrorcode);
    }
    if (typeof inner.errortext === 'string') error.errortext = inner.errortext;
    if (Array.isArray(inner.uuidList)) error.uuidList = inner.uuidList;
    return { kind: 'error', responseKey, error };
  }
  if (httpStatus < 200 || httpStatus >= 300) {
    return throwHttpError(command, httpStatus, text, httpStatus >= 500 || httpStatus === 429);
  }
  return { kind: 'ok', responseKey, body: inner };
}

function throwHttpError(command: string, httpStatus: number, text: string, transient: boolean): never {
  const body = text.trim() === '' ? '' : `: ${snippet(text)}`;
  throw new CloudStackApiError(`CloudStack ${command}: HTTP ${httpStatus}${body}`, {
    code: httpStatus === 401 ? 'auth-failed' : 'http-error',
    command,
    httpStatus,
    transient,
  });
}

/** Turns CloudStack's `errorcode`/`errortext` body into the typed error. */
export function apiErrorFromBody(
  command: string,
  httpStatus: number,
  error: RawErrorBody,
): CloudStackApiError {
  const text = error.errortext ?? '(no errortext)';
  const cs = error.cserrorcode === undefined ? '' : `, cserrorcode ${error.cserrorcode}`;
  const hint =
    error.errorcode === 401
      ? ' - check CLOUDSTACK_API_KEY and CLOUDSTACK_SECRET_KEY, and that this host clock is right (signatures expire)'
      : '';
  return new CloudStackApiError(
    `CloudStack ${command} failed: errorcode ${error.errorcode}${cs}: ${text}${hint}`,
    {
      code: error.errorcode === 401 ? 'auth-failed' : 'api-error',
      command,
      httpStatus,
      errorCode: error.errorcode,
      ...(error.cserrorcode === undefined ? {} : { csErrorCode: error.cserrorcode }),
      errorText: text,
      transient: TRANSIENT_ERROR_CODES.has(error.errorcode),
    },
  );
}

/**
 * Accumulates a response body chunk by chunk. `push` returns false once the
 * body is over the limit (the caller stops reading); `finish` decodes.
 */
export class ResponseDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false });
  private readonly parts: string[] = [];
  private bytes = 0;
  private tooLarge = false;

  constructor(
    private readonly command: string,
    private readonly httpStatus: number,
    private readonly maxBytes: number = DEFAULT_MAX_RESPONSE_BYTES,
  ) {}

  push(chunk: Uint8Array): boolean {
    if (this.tooLarge) return false;
    this.bytes += chunk.byteLength;
    if (this.bytes > this.maxBytes) {
      this.tooLarge = true;
      this.parts.length = 0;
      return false;
    }
    this.parts.push(this.utf8.decode(chunk, { stream: true }));
    return true;
  }

  get receivedBytes(): number {
    return this.bytes;
  }

  finish(): DecodedResponse {
    if (this.tooLarge) {
      throw new CloudStackApiError(
        `CloudStack ${this.command}: response larger than ${this.maxBytes} bytes; lower pageSize`,
        { code: 'response-too-large', command: this.command, httpStatus: this.httpStatus, transient: false },
      );
    }
    this.parts.push(this.utf8.decode());
    return decodeResponseText(this.command, this.httpStatus, this.parts.join(''));
  }
}
