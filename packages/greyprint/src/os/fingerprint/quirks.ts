/**
 * p0f's quirk bits: packet properties beyond the plain header values, named as
 * in its `.fp` grammar. The order of QUIRK_NAMES is the order p0f prints them in
 * a raw signature, so that our signatures read the same as p0f's.
 */
export const Quirk = {
  DF: 1 << 0,
  NZ_ID: 1 << 1,
  ZERO_ID: 1 << 2,
  ECN: 1 << 3,
  NZ_MBZ: 1 << 4,
  FLOW: 1 << 5,
  ZERO_SEQ: 1 << 6,
  NZ_ACK: 1 << 7,
  ZERO_ACK: 1 << 8,
  NZ_URG: 1 << 9,
  URG: 1 << 10,
  PUSH: 1 << 11,
  OPT_ZERO_TS1: 1 << 12,
  OPT_NZ_TS2: 1 << 13,
  OPT_EOL_NZ: 1 << 14,
  OPT_EXWS: 1 << 15,
  OPT_BAD: 1 << 16,
} as const;

export const QUIRK_NAMES: readonly (readonly [string, number])[] = [
  ['df', Quirk.DF],
  ['id+', Quirk.NZ_ID],
  ['id-', Quirk.ZERO_ID],
  ['ecn', Quirk.ECN],
  ['0+', Quirk.NZ_MBZ],
  ['flow', Quirk.FLOW],
  ['seq-', Quirk.ZERO_SEQ],
  ['ack+', Quirk.NZ_ACK],
  ['ack-', Quirk.ZERO_ACK],
  ['uptr+', Quirk.NZ_URG],
  ['urgf+', Quirk.URG],
  ['pushf+', Quirk.PUSH],
  ['ts1-', Quirk.OPT_ZERO_TS1],
  ['ts2+', Quirk.OPT_NZ_TS2],
  ['opt+', Quirk.OPT_EOL_NZ],
  ['exws', Quirk.OPT_EXWS],
  ['bad', Quirk.OPT_BAD],
];

/** Quirks that only exist in an IPv4 header, and the one only IPv6 has. */
export const IPV4_ONLY_QUIRKS = Quirk.DF | Quirk.NZ_ID | Quirk.ZERO_ID | Quirk.NZ_MBZ;
export const IPV6_ONLY_QUIRKS = Quirk.FLOW;

export function formatQuirks(quirks: number): string {
  const names: string[] = [];
  for (const [name, bit] of QUIRK_NAMES) if (quirks & bit) names.push(name);
  return names.join(',');
}
