/** A reply that cannot be a p0f v3 API response (wrong magic: not p0f, or a desynchronised stream). */
export class P0fProtocolError extends Error {
  readonly code = 'P0F_PROTOCOL';
  constructor(
    message: string,
    /** The first bytes of the offending frame, hex, for the log. */
    readonly frameHead: string,
  ) {
    super(message);
    this.name = 'P0fProtocolError';
  }
}

/** An address the p0f API cannot be asked about. */
export class P0fAddressError extends Error {
  readonly code = 'P0F_ADDRESS';
  constructor(readonly address: string) {
    super(`not an IPv4 or IPv6 address: ${JSON.stringify(address.slice(0, 64))}`);
    this.name = 'P0fAddressError';
  }
}

/** Why a lookup gave no answer; the source turns all of these into "unknown". */
export type P0fFailureReason =
  | 'timeout'
  | 'unavailable'
  | 'connection-lost'
  | 'protocol'
  | 'aborted'
  | 'closed'
  | 'bad-address';

export class P0fLookupError extends Error {
  readonly code = 'P0F_LOOKUP';
  constructor(
    readonly reason: P0fFailureReason,
    message: string,
    readonly socketPath: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'P0fLookupError';
  }
}
