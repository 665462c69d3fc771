import type { SignatureDatabase } from './fp-file.js';
import { ja4t } from './ja4t.js';
import { detectWindowMultiple, findMatch, guessDistance, MAX_DIST } from './match.js';
import { formatLayout } from './options.js';
import type { TcpPacket } from './packet.js';
import { formatQuirks } from './quirks.js';
import type { SignatureProbe } from './signature.js';

/** One classified SYN, in p0f's terms, plus JA4T. */
export interface SynVerdict {
  readonly client: string;
  readonly port: number;
  readonly server: string;
  readonly serverPort: number;
  /** p0f's wording, `name flavor`, or `???` when nothing matched. */
  readonly os: string;
  readonly name: string | undefined;
  readonly flavor: string | undefined;
  /** `win`, `unix`, `other` ...; undefined when unknown or for an application label. */
  readonly osClass: string | undefined;
  /** The label is an application's (p0f prints `app =` instead of `os =`). */
  readonly app: boolean;
  readonly generic: boolean;
  readonly fuzzy: boolean;
  /** Hops; with a random-TTL signature an upper bound (`distanceBound`). */
  readonly distance: number;
  readonly distanceBound: boolean;
  /** p0f's `params`: `generic`, `fuzzy`, `random_ttl`, `excess_dist`, `tos:0x..`, or `none`. */
  readonly params: string;
  /** p0f's raw signature of the packet. */
  readonly signature: string;
  readonly ja4t: string;
  /** Line of the matched signature in its file. */
  readonly line: number | undefined;
}

export const UNKNOWN_OS = '???';

/** A packet is its own probe (window `normal`, every value known). */
export function probeOf(p: TcpPacket): SignatureProbe {
  return p;
}

/** Classifies a client SYN against the `[tcp:request]` signatures, as p0f 3.09b does. */
export function classifySyn(db: SignatureDatabase, p: TcpPacket): SynVerdict {
  const probe = probeOf(p);
  const m = findMatch(db.requestByLayout.get(p.layoutKey), probe);
  const r = m.record;
  const flags: string[] = [];
  if (r !== undefined) {
    if (r.generic) flags.push('generic');
    if (m.fuzzy) flags.push('fuzzy');
    if (r.sig.badTtl) flags.push('random_ttl');
  }
  if (m.distance > MAX_DIST) flags.push('excess_dist');
  if (p.tos !== 0) flags.push(`tos:0x${p.tos.toString(16).padStart(2, '0')}`);
  return {
    client: p.src,
    port: p.srcPort,
    server: p.dst,
    serverPort: p.dstPort,
    os: r === undefined ? UNKNOWN_OS : r.flavor === undefined ? r.name : `${r.name} ${r.flavor}`,
    name: r?.name,
    flavor: r?.flavor,
    osClass: r?.osClass,
    app: r !== undefined && r.osClass === undefined,
    generic: r?.generic ?? false,
    fuzzy: m.fuzzy,
    distance: m.distance,
    distanceBound: r?.sig.badTtl ?? false,
    params: flags.length === 0 ? 'none' : flags.join(' '),
    signature: rawSignature(p, probe),
    ja4t: ja4t(p),
    line: r?.line,
  };
}

/** The packet in p0f's signature notation (fp_tcp.c dump_sig), ready to paste into a `.fp` file. */
export function rawSignature(p: TcpPacket, probe: SignatureProbe = probeOf(p)): string {
  const dist = guessDistance(p.ttl);
  const ttl = dist > MAX_DIST ? `${p.ttl}+?` : `${p.ttl}+${dist}`;
  const multi = detectWindowMultiple(probe);
  const win =
    multi !== undefined && multi.multiple > 0 ? `${multi.mtu ? 'mtu' : 'mss'}*${multi.multiple}` : p.win;
  const layout = formatLayout(p.layout, p.eolPad);
  return `${p.ipVersion}:${ttl}:${p.ipOptLen}:${p.mss}:${win},${p.wscale}:${layout}:${formatQuirks(p.quirks)}:${p.payloadLength > 0 ? '+' : '0'}`;
}
