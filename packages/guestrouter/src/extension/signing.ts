import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The channel between the management server's entry point and the router: an HMAC-SHA256 over the
 * timestamp, a random nonce, the path and the body, so a request cannot be forged, altered, replayed
 * (the router remembers every nonce inside the window) or kept for later (stale timestamps are refused).
 */
export const HEADER_TIMESTAMP = 'x-guestrouter-timestamp';
export const HEADER_NONCE = 'x-guestrouter-nonce';
export const HEADER_SIGNATURE = 'x-guestrouter-signature';

/** How far a request's clock may be from the router's, either way. */
export const DEFAULT_WINDOW_SECONDS = 300;

function digest(secret: string, timestamp: string, nonce: string, path: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${nonce}\n${path}\n${body}`).digest('hex');
}

export function signRequest(
  secret: string,
  path: string,
  body: string,
  nowMs = Date.now(),
): Readonly<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const nonce = randomBytes(16).toString('hex');
  return {
    [HEADER_TIMESTAMP]: timestamp,
    [HEADER_NONCE]: nonce,
    [HEADER_SIGNATURE]: digest(secret, timestamp, nonce, path, body),
  };
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Verifies signatures and remembers nonces for the window (then forgets them: a stale timestamp is refused anyway). */
export class RequestVerifier {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly secret: string,
    private readonly windowSeconds = DEFAULT_WINDOW_SECONDS,
  ) {}

  verify(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    path: string,
    body: string,
    nowMs = Date.now(),
  ): Verdict {
    const timestamp = headers[HEADER_TIMESTAMP];
    const nonce = headers[HEADER_NONCE];
    const signature = headers[HEADER_SIGNATURE];
    if (typeof timestamp !== 'string' || typeof nonce !== 'string' || typeof signature !== 'string') {
      return { ok: false, reason: 'unsigned request (timestamp, nonce and signature headers required)' };
    }
    if (
      !/^\d{1,12}$/.test(timestamp) ||
      !/^[0-9a-f]{16,64}$/.test(nonce) ||
      !/^[0-9a-f]{64}$/.test(signature)
    ) {
      return { ok: false, reason: 'malformed signature headers' };
    }
    const expected = Buffer.from(digest(this.secret, timestamp, nonce, path, body), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
      return { ok: false, reason: 'wrong signature (is guestrouter.secret the same as extension.secret?)' };
    }
    const skew = Math.abs(nowMs / 1000 - Number(timestamp));
    if (skew > this.windowSeconds) {
      return {
        ok: false,
        reason: `stale request: timestamp ${Math.round(skew)} s away from the router's clock`,
      };
    }
    this.forgetOld(nowMs);
    if (this.seen.has(nonce)) return { ok: false, reason: 'replayed request (nonce already used)' };
    this.seen.set(nonce, nowMs + this.windowSeconds * 2000);
    return { ok: true };
  }

  private forgetOld(nowMs: number): void {
    for (const [nonce, until] of this.seen) if (until < nowMs) this.seen.delete(nonce);
  }
}
