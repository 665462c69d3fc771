/**
 * Typed shapes of the Postfix SMTP access policy delegation protocol
 * (SMTPD_POLICY_README): a request is a block of `name=value` lines ended by an
 * empty line; the reply is one `action=...` line followed by an empty line.
 */

/** The attributes greyprint reads; every other attribute is kept in `attributes` and ignored. */
export interface PolicyRequest {
  /** Always `smtpd_access_policy` for a valid request. */
  readonly request: string;
  /** `CONNECT`, `EHLO`, `HELO`, `MAIL`, `RCPT`, `DATA`, `END-OF-MESSAGE`, `VRFY`, `ETRN`. */
  readonly protocolState: string;
  readonly clientAddress: string;
  /** Forward-confirmed reverse DNS name, or `unknown`. */
  readonly clientName: string;
  /** Reverse DNS name without the forward check, or `unknown`. */
  readonly reverseClientName: string;
  readonly heloName: string;
  readonly sender: string;
  readonly recipient: string;
  /** Same value for every request of one message: ties RCPT and DATA requests together. */
  readonly instance: string;
  readonly queueId: string;
  /** Every attribute as received (last value wins on repeats). */
  readonly attributes: ReadonlyMap<string, string>;
  /** True when at least one line was not valid UTF-8 and was decoded byte by byte (latin1). */
  readonly latin1: boolean;
}

/** Why a request was rejected by the parser. */
export type PolicyRequestErrorCode =
  | 'line_too_long'
  | 'too_many_attributes'
  | 'request_too_large'
  | 'nul_byte'
  | 'malformed_line'
  | 'missing_request'
  | 'wrong_request';

/** A request the parser rejected: it answers DUNNO once for it and keeps reading the connection. */
export class PolicyRequestError extends Error {
  override readonly name = 'PolicyRequestError';
  constructor(
    readonly code: PolicyRequestErrorCode,
    message: string,
    /** The offending attribute name, when one is known. */
    readonly attribute?: string,
    /** The limit that was exceeded, when the error is a limit. */
    readonly limit?: number,
  ) {
    super(message);
  }
}

export type ParsedMessage =
  | { readonly kind: 'request'; readonly request: PolicyRequest }
  | { readonly kind: 'error'; readonly error: PolicyRequestError };

export interface ParserLimits {
  /** Longest `name=value` line in bytes, without the newline. */
  readonly maxLineBytes: number;
  /** Most attribute lines in one request. */
  readonly maxAttributes: number;
  /** Most bytes in one request, all lines and newlines counted. */
  readonly maxRequestBytes: number;
}

/**
 * Postfix keeps SMTP command lines under `line_length_limit` (2048) and sends about
 * 30 attributes per request (Postfix 3.7); these limits leave room for long
 * certificate subjects and future attributes while bounding memory per connection.
 */
export const DEFAULT_LIMITS: ParserLimits = {
  maxLineBytes: 4096,
  maxAttributes: 100,
  maxRequestBytes: 65536,
};

/** One reply: the action text, e.g. `DUNNO`, `DEFER_IF_PERMIT Greylisted ...`, `PREPEND X-P0f-OS: Linux`. */
export interface PolicyReply {
  readonly action: string;
}
