import type { TcpPacket } from './packet.js';

/**
 * FoxIO's JA4T TCP fingerprint of a SYN: `window_options_mss_wscale`, e.g.
 * `64240_2-1-3-1-1-4_1460_8`. Options are the kinds in the order sent, an EOL
 * followed by one `0` per padding byte after it; a missing MSS or window scale
 * (or no options at all) is written `00`.
 */
export function ja4t(p: TcpPacket): string {
  const kinds: number[] = [...p.layout];
  if (kinds.at(-1) === 0) for (let i = 0; i < p.eolPad; i++) kinds.push(0);
  const options = kinds.length === 0 ? '00' : kinds.join('-');
  const mss = p.hasMss ? String(p.mss) : '00';
  const wscale = p.hasWscale ? String(p.wscale) : '00';
  return `${p.win}_${options}_${mss}_${wscale}`;
}
