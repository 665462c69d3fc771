import type { ParsedAddress } from '../net/cidr.js';

/**
 * What an OS source says about a client address. The wording follows p0f
 * (`class`, `name`, `flavor`, e.g. `win` / `Windows` / `7 or 8`) because the
 * X-P0f-OS header and the rules are written in that vocabulary.
 * Whether a label means "desktop Windows" is decided by the rule set, never here.
 */
export interface OsLabel {
  /** p0f's class: `win`, `unix`, `other`, or `!` for an application label; free text for static labels. */
  readonly class: string;
  /** e.g. `Windows`, `Linux`, `Mac OS X`. */
  readonly name: string;
  /** e.g. `XP`, `7 or 8`, `NT kernel`, `3.11 and newer`; empty when the source gives none. */
  readonly flavor: string;
  /** Network hops between client and us, when known. */
  readonly distance?: number;
  /** True when the source matched loosely (p0f's fuzzy match or a generic signature). */
  readonly fuzzy: boolean;
  /** Which source said it: `static`, `p0f`, `capture`. */
  readonly source: string;
  /** FoxIO JA4T of the client's SYN, when greyprint saw the SYN itself (capture). */
  readonly ja4t?: string;
  /** p0f-notation raw signature of that SYN (capture). */
  readonly signature?: string;
}

export interface OsSource {
  readonly name: string;
  /**
   * The label for a client address, or undefined when the source does not know it.
   * Must settle quickly; callers also bound the wait and treat a timeout as unknown.
   * `parsed` is the address as the policy path parsed it already (parseAddress), so that a
   * request parses its client address once.
   */
  lookup(address: string, signal?: AbortSignal, parsed?: ParsedAddress): Promise<OsLabel | undefined>;
  close(): Promise<void>;
}
