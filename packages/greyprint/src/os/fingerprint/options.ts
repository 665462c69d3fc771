/** TCP option kinds p0f names in its signatures; any other kind is written `?N`. */
export const TcpOption = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WS: 3,
  SOK: 4,
  SACK: 5,
  TS: 8,
} as const;

/** p0f keeps at most this many options of a header (config.h MAX_TCP_OPT). */
export const MAX_TCP_OPTIONS = 24;

const OPTION_NAMES: ReadonlyMap<number, string> = new Map([
  [TcpOption.NOP, 'nop'],
  [TcpOption.MSS, 'mss'],
  [TcpOption.WS, 'ws'],
  [TcpOption.SOK, 'sok'],
  [TcpOption.SACK, 'sack'],
  [TcpOption.TS, 'ts'],
]);

/** The option layout in p0f's notation (`mss,nop,ws,nop,nop,sok`, `...,eol+1`). */
export function formatLayout(layout: readonly number[], eolPad: number): string {
  return layout
    .map((kind) => (kind === TcpOption.EOL ? `eol+${eolPad}` : (OPTION_NAMES.get(kind) ?? `?${kind}`)))
    .join(',');
}

/** A layout as a map key: the kinds in order. */
export function layoutKey(layout: readonly number[]): string {
  return layout.join(',');
}
