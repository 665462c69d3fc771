import { Quirk } from './quirks.js';
import type { SignatureProbe, SignatureRecord } from './signature.js';

/** A TTL further than this below the signature's is a fuzzy match (config.h MAX_DIST). */
export const MAX_DIST = 35;
/** Smallest IPv4 and IPv6 packets carrying a TCP header. */
export const MIN_TCP4 = 40;
export const MIN_TCP6 = 60;

export interface MatchResult {
  readonly record: SignatureRecord | undefined;
  /** Matched only with a TTL out of range or with tolerated quirk differences. */
  readonly fuzzy: boolean;
  /** Hops between the sender and us, from the signature's initial TTL (or guessed). */
  readonly distance: number;
}

/** Hop count from the next power-of-two-ish initial TTL, for packets no signature explains. */
export function guessDistance(ttl: number): number {
  if (ttl <= 32) return 32 - ttl;
  if (ttl <= 64) return 64 - ttl;
  if (ttl <= 128) return 128 - ttl;
  return 255 - ttl;
}

export interface WindowMultiple {
  readonly multiple: number;
  /** The window is a multiple of an MTU rather than an MSS. */
  readonly mtu: boolean;
}

/**
 * Whether the window is a multiple of the MSS or of an MTU, tried in p0f's order
 * (fp_tcp.c detect_win_multi); window scaling is left out, as stacks do.
 * `peerMss` is the SYN's MSS when judging a SYN+ACK, 0 for a SYN.
 */
export function detectWindowMultiple(p: SignatureProbe, peerMss = 0): WindowMultiple | undefined {
  const win = p.win;
  const mss = p.mss ?? -1;
  if (win === 0 || mss < 100 || p.winType !== 'normal') return undefined;
  const candidates: [number, boolean][] = [[mss, false]];
  if (p.ts1 !== 0) candidates.push([mss - 12, false]);
  candidates.push([1500 - MIN_TCP4, false], [1500 - MIN_TCP4 - 12, false]);
  if (p.ipVersion === 6) candidates.push([1500 - MIN_TCP6, false], [1500 - MIN_TCP6 - 12, false]);
  candidates.push([mss + MIN_TCP4, true], [mss + p.totalHeader, true]);
  if (p.ipVersion === 6) candidates.push([mss + MIN_TCP6, true]);
  candidates.push([1500, true]);
  if (peerMss !== 0) candidates.push([peerMss, false], [peerMss - 12, false]);
  for (const [divisor, mtu] of candidates) {
    // p0f divides by zero here never: mss >= 100, and peerMss - 12 only for real SYNs.
    if (divisor > 0 && win % divisor === 0) return { multiple: win / divisor, mtu };
  }
  return undefined;
}

/**
 * Finds the signature p0f 3.09b would report (fp_tcp.c tcp_find_match):
 * the first specific exact match in file order wins; else the first generic
 * exact match; else the first fuzzy match (a TTL out of range, or quirks that
 * differ only by `df`/`id+` gone or `id-`/`ecn` added). Application labels
 * (`!`) never match fuzzily. Candidates are the signatures with the same
 * option layout, in file order.
 *
 * `duplicateCheck` is the reading-time test: only a specific exact match counts.
 */
export function findMatch(
  candidates: readonly SignatureRecord[] | undefined,
  probe: SignatureProbe,
  duplicateCheck = false,
  peerMss = 0,
): MatchResult {
  let fuzzyMatch: SignatureRecord | undefined;
  let genericMatch: SignatureRecord | undefined;
  const multi = detectWindowMultiple(probe, peerMss);

  for (const ref of candidates ?? []) {
    const refs = ref.sig;
    if (refs.layoutKey !== probe.layoutKey) continue;
    let fuzzy = false;
    let refQuirks = refs.quirks;
    // A signature for either IP version loses the other version's quirks.
    if (refs.ipVersion === undefined) {
      refQuirks &= probe.ipVersion === 4 ? ~Quirk.FLOW : ~(Quirk.DF | Quirk.NZ_ID | Quirk.ZERO_ID);
    }
    if (refQuirks !== probe.quirks) {
      const deleted = (refQuirks ^ probe.quirks) & refQuirks;
      const added = (refQuirks ^ probe.quirks) & probe.quirks;
      if (
        fuzzyMatch !== undefined ||
        deleted & ~(Quirk.DF | Quirk.NZ_ID) ||
        added & ~(Quirk.ZERO_ID | Quirk.ECN)
      ) {
        continue;
      }
      fuzzy = true;
    }
    if (refs.eolPad !== probe.eolPad || refs.ipOptLen !== probe.ipOptLen) continue;
    if (refs.badTtl) {
      if (refs.ttl < probe.ttl) continue;
    } else if (refs.ttl < probe.ttl || refs.ttl - probe.ttl > MAX_DIST) {
      fuzzy = true;
    }
    if (refs.mss !== undefined && refs.mss !== probe.mss) continue;
    if (refs.wscale !== undefined && refs.wscale !== probe.wscale) continue;
    if (refs.payloadClass !== undefined && refs.payloadClass !== probe.payloadClass) continue;
    if (probe.winType !== 'normal') {
      if (refs.winType !== probe.winType || refs.win !== probe.win) continue;
    } else {
      switch (refs.winType) {
        case 'normal':
          if (refs.win !== probe.win) continue;
          break;
        case 'mod':
          if (probe.win % refs.win !== 0) continue;
          break;
        case 'mss':
          if (multi === undefined || multi.mtu || refs.win !== multi.multiple) continue;
          break;
        case 'mtu':
          if (multi === undefined || !multi.mtu || refs.win !== multi.multiple) continue;
          break;
        case 'any':
          break;
      }
    }
    if (!fuzzy) {
      if (!ref.generic) return { record: ref, fuzzy: false, distance: refs.ttl - probe.ttl };
      genericMatch ??= ref;
    } else {
      fuzzyMatch ??= ref;
    }
  }

  if (duplicateCheck) return { record: undefined, fuzzy: false, distance: 0 };
  if (genericMatch !== undefined) {
    return { record: genericMatch, fuzzy: false, distance: genericMatch.sig.ttl - probe.ttl };
  }
  // No fuzzy matching for userland tools: such a packet stays unknown.
  if (fuzzyMatch !== undefined && fuzzyMatch.osClass === undefined) {
    return { record: undefined, fuzzy: false, distance: 0 };
  }
  if (
    fuzzyMatch === undefined ||
    fuzzyMatch.sig.ttl < probe.ttl ||
    (!fuzzyMatch.sig.badTtl && fuzzyMatch.sig.ttl - probe.ttl > MAX_DIST)
  ) {
    return { record: fuzzyMatch, fuzzy: fuzzyMatch !== undefined, distance: guessDistance(probe.ttl) };
  }
  return { record: fuzzyMatch, fuzzy: true, distance: fuzzyMatch.sig.ttl - probe.ttl };
}
