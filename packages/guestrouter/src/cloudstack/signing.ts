/**
 * CloudStack request signing (API key + secret key, HMAC-SHA1).
 *
 * The management server verifies a request by rebuilding the string to sign
 * from the parameters it decoded: every parameter except `signature`, sorted
 * by name, each value encoded with Java's `URLEncoder` (UTF-8) with `+`
 * replaced by `%20`, joined as `name=value` with `&`, the whole string
 * lower-cased, HMAC-SHA1 with the secret key, base64. The client must encode
 * values the way `URLEncoder` does, or values holding characters it treats
 * differently from JavaScript's `encodeURIComponent` (`! ' ( ) ~`) fail to verify.
 */
import { createHmac } from 'node:crypto';

/** Characters `encodeURIComponent` leaves alone but Java's URLEncoder escapes. */
const ESCAPED_BY_JAVA_ONLY = /[!'()~]/g;

/**
 * Encodes one parameter value exactly as CloudStack's server-side check does:
 * Java `URLEncoder.encode(value, "UTF-8")` with `+` turned into `%20`. Letters,
 * digits and `. - * _` stay; a space becomes `%20`; everything else becomes
 * `%XX` of its UTF-8 bytes.
 */
export function encodeParamValue(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    throw new TypeError(`parameter value ${JSON.stringify(value)} is not valid Unicode (lone surrogate)`);
  }
  return encoded.replace(ESCAPED_BY_JAVA_ONLY, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function byLowerCasedName(a: [string, string], b: [string, string]): number {
  const la = a[0].toLowerCase();
  const lb = b[0].toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/**
 * The string that gets signed: parameters sorted by lower-cased name,
 * `name=encodedValue` joined with `&`, all lower-cased. `signature` itself is
 * never part of it. (The server sorts the names as sent, case-sensitively;
 * both orders agree because every CloudStack parameter name is lower case
 * except `apiKey`, and no parameter name shares its `api` prefix.)
 */
export function stringToSign(params: Record<string, string>): string {
  return Object.entries(params)
    .filter(([name]) => name.toLowerCase() !== 'signature')
    .sort(byLowerCasedName)
    .map(([name, value]) => `${name}=${encodeParamValue(value)}`)
    .join('&')
    .toLowerCase();
}

/**
 * The base64 HMAC-SHA1 signature of `params` (not yet URL-encoded; the
 * request builder encodes it into `signature=`).
 */
export function signRequest(params: Record<string, string>, secretKey: string): string {
  return createHmac('sha1', secretKey).update(stringToSign(params), 'utf8').digest('base64');
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * `expires` for signature version 3, in the form CloudStack documents
 * (`2011-10-10T12:00:00+0530`); always written in UTC as `+0000`.
 */
export function formatExpires(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}` +
    `T${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}+0000`
  );
}

export interface SignedQueryInput {
  readonly command: string;
  readonly params: Record<string, string>;
  readonly apiKey: string;
  readonly secretKey: string;
  /** Expiry of the signature (signatureversion 3). */
  readonly expires: Date;
}

/**
 * The full query string of a signed JSON request: the caller's parameters plus
 * `command`, `response=json`, `apiKey`, `signatureversion=3` and `expires`,
 * then `signature`. Values on the wire use the same encoding as the signature.
 */
/** Parameters the request builder owns; a caller's value for them (any case) is dropped. */
const RESERVED = new Set(['command', 'response', 'apikey', 'signatureversion', 'expires', 'signature']);

export function buildSignedQuery(input: SignedQueryInput): string {
  const all: Record<string, string> = {
    ...Object.fromEntries(Object.entries(input.params).filter(([name]) => !RESERVED.has(name.toLowerCase()))),
    command: input.command,
    response: 'json',
    apiKey: input.apiKey,
    signatureversion: '3',
    expires: formatExpires(input.expires),
  };
  const signature = signRequest(all, input.secretKey);
  const query = Object.entries(all)
    .sort(byLowerCasedName)
    .map(([name, value]) => `${encodeParamValue(name)}=${encodeParamValue(value)}`)
    .join('&');
  return `${query}&signature=${encodeParamValue(signature)}`;
}
