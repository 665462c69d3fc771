import { Quirk } from './quirks.js';

/** How a signature states the TCP window (p0f's `wsize` field). */
export type WindowType = 'normal' | 'any' | 'mod' | 'mss' | 'mtu';

/** One `sig = ...` of a `[tcp:*]` section, as p0f reads it (tcp_register_sig). */
export interface TcpSignature {
  /** 4, 6, or undefined for `*` (either). */
  readonly ipVersion: 4 | 6 | undefined;
  /** Initial TTL, with the `+dist` already added. */
  readonly ttl: number;
  /** `64-`: the TTL is random, only an upper bound. */
  readonly badTtl: boolean;
  readonly ipOptLen: number;
  /** undefined for `*`. */
  readonly mss: number | undefined;
  readonly winType: WindowType;
  /** The value, the modulus or the multiplier, by winType (0 for `*`). */
  readonly win: number;
  /** undefined for `*`. */
  readonly wscale: number | undefined;
  /** Option kinds in order; an EOL is last. */
  readonly layout: readonly number[];
  /** `layout` as a lookup key. */
  readonly layoutKey: string;
  readonly eolPad: number;
  readonly quirks: number;
  /** 0 = no payload, 1 = payload, undefined for `*`. */
  readonly payloadClass: 0 | 1 | undefined;
}

/** A signature with the label it was declared under. */
export interface SignatureRecord {
  readonly sig: TcpSignature;
  /** `g:` label: used only when no specific signature matches. */
  readonly generic: boolean;
  /** p0f class (`win`, `unix`, `other` ...), or undefined for an application label (`!`). */
  readonly osClass: string | undefined;
  /** The name as first spelled in the file (p0f unifies names case-insensitively). */
  readonly name: string;
  readonly flavor: string | undefined;
  /** Counts labels in file order: two records with the same labelId share a label. */
  readonly labelId: number;
  /** Line of the `sig =` in its file. */
  readonly line: number;
  /** `sys =` of an application label. */
  readonly sys: readonly string[];
  /** The signature text as written. */
  readonly text: string;
}

/**
 * What the matcher compares against the database: either a packet (window
 * `normal`, every value known) or another signature (duplicate detection).
 */
export interface SignatureProbe {
  readonly ipVersion: 4 | 6 | undefined;
  readonly ttl: number;
  readonly ipOptLen: number;
  readonly mss: number | undefined;
  readonly winType: WindowType;
  readonly win: number;
  readonly wscale: number | undefined;
  readonly layoutKey: string;
  readonly eolPad: number;
  readonly quirks: number;
  readonly payloadClass: 0 | 1 | undefined;
  /** First timestamp value (window-as-MSS-12 test); 0 when absent. */
  readonly ts1: number;
  /** IP plus TCP header bytes (window-as-MTU test); 0 for a signature. */
  readonly totalHeader: number;
}

export { Quirk };
