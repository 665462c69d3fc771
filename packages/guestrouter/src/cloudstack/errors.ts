/**
 * Typed errors of the CloudStack client. Each carries what an operator needs
 * to act on it: which command, which HTTP status, which CloudStack error code
 * and text, and whether retrying could help.
 */

/** Why a call failed, as a stable machine-readable string. */
export type CloudStackErrorCode =
  /** CloudStack answered with `errorcode`/`errortext` (other than 401). */
  | 'api-error'
  /** 401: wrong API key, wrong secret key, expired or badly signed request. */
  | 'auth-failed'
  /** A non-2xx HTTP status without a CloudStack error body (e.g. a proxy's 502 page). */
  | 'http-error'
  /** The body was not the JSON CloudStack sends (truncated, HTML, wrong shape). */
  | 'malformed-response'
  /** No complete answer within `timeoutMs`. */
  | 'timeout'
  /** TCP-level failure: connection refused or reset, DNS failure, unreachable. */
  | 'network'
  /** The server's TLS certificate was not accepted. */
  | 'tls'
  /** The body exceeded the client's size limit. */
  | 'response-too-large'
  /** A list came back with fewer items than its `count`, or a page without items before the end. */
  | 'incomplete-list';

export interface CloudStackApiErrorDetails {
  readonly code: CloudStackErrorCode;
  readonly command: string;
  readonly httpStatus?: number;
  readonly errorCode?: number;
  readonly csErrorCode?: number;
  readonly errorText?: string;
  readonly transient: boolean;
  readonly attempts?: number;
  readonly cause?: unknown;
}

export class CloudStackApiError extends Error {
  override readonly name = 'CloudStackApiError';
  readonly code: CloudStackErrorCode;
  readonly command: string;
  readonly httpStatus?: number;
  /** CloudStack's `errorcode` (401, 431, 530 ...). */
  readonly errorCode?: number;
  /** CloudStack's `cserrorcode` (the Java exception class code, e.g. 4350, 9999). */
  readonly csErrorCode?: number;
  /** CloudStack's `errortext`, verbatim. */
  readonly errorText?: string;
  /** True when a retry may succeed (network, timeout, 5xx, 429, errorcode 530). */
  readonly transient: boolean;
  /** How many attempts were made before giving up (set by the client). */
  readonly attempts: number;

  constructor(message: string, details: CloudStackApiErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code;
    this.command = details.command;
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
    if (details.errorCode !== undefined) this.errorCode = details.errorCode;
    if (details.csErrorCode !== undefined) this.csErrorCode = details.csErrorCode;
    if (details.errorText !== undefined) this.errorText = details.errorText;
    this.transient = details.transient;
    this.attempts = details.attempts ?? 1;
  }

  /** The same error, annotated with the number of attempts made. */
  withAttempts(attempts: number): CloudStackApiError {
    if (attempts <= 1) return this;
    return new CloudStackApiError(`${this.message} (gave up after ${attempts} attempts)`, {
      code: this.code,
      command: this.command,
      ...(this.httpStatus === undefined ? {} : { httpStatus: this.httpStatus }),
      ...(this.errorCode === undefined ? {} : { errorCode: this.errorCode }),
      ...(this.csErrorCode === undefined ? {} : { csErrorCode: this.csErrorCode }),
      ...(this.errorText === undefined ? {} : { errorText: this.errorText }),
      transient: this.transient,
      attempts,
      cause: this.cause,
    });
  }
}

/** Missing or invalid endpoint/credentials; `missing` names the variables or keys. */
export class CloudStackConfigError extends Error {
  override readonly name = 'CloudStackConfigError';
  readonly missing: readonly string[];
  constructor(message: string, missing: readonly string[] = []) {
    super(message);
    this.missing = missing;
  }
}
