/**
 * A streaming reader of the classic pcap format (what tcpdump -w writes, also
 * to a pipe): both byte orders, micro- and nanosecond timestamps. It finds the
 * IP packet inside each frame for the link types a mail server's capture gives:
 * Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1 and v2, raw IP, BSD
 * loopback. Frames it cannot use are counted by reason, never thrown.
 */

export class PcapFormatError extends Error {
  override readonly name = 'PcapFormatError';
  readonly code = 'bad_pcap';
}

/** Where the IP packet of one frame is. */
export interface PcapFrame {
  readonly data: Uint8Array;
  /** Offset of the IP header in `data`. */
  readonly ipOffset: number;
  /** Captured bytes from ipOffset on. */
  readonly ipLength: number;
  /** Capture time, milliseconds since the epoch. */
  readonly timeMs: number;
}

export type FrameSkip = 'link_truncated' | 'link_not_ip' | 'link_type';

export const LinkType = {
  NULL: 0,
  EN10MB: 1,
  RAW: 101,
  RAW_ALT12: 12,
  RAW_ALT14: 14,
  LOOP: 108,
  LINUX_SLL: 113,
  LINUX_SLL2: 276,
} as const;

const SUPPORTED = new Set<number>(Object.values(LinkType));
/** Larger records are corruption: no link type captures more in one frame. */
const MAX_RECORD = 262144;

export interface PcapHeader {
  readonly littleEndian: boolean;
  readonly nanoseconds: boolean;
  readonly linkType: number;
  readonly snaplen: number;
}

/** Reads the 24-byte global header; throws PcapFormatError for anything that is not pcap. */
export function parsePcapHeader(b: Uint8Array): PcapHeader {
  if (b.length < 24) throw new PcapFormatError('not a pcap file: shorter than the 24-byte header');
  const view = new DataView(b.buffer, b.byteOffset, 24);
  const magicLE = view.getUint32(0, true);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) {
    littleEndian = true;
    nanoseconds = magicLE === 0xa1b23c4d;
  } else {
    const magicBE = view.getUint32(0, false);
    if (magicBE !== 0xa1b2c3d4 && magicBE !== 0xa1b23c4d) {
      const hint = magicLE === 0x0a0d0d0a ? ' (pcapng: convert it with `tcpdump -r IN -w OUT`)' : '';
      throw new PcapFormatError(`not a pcap file: magic 0x${magicBE.toString(16).padStart(8, '0')}${hint}`);
    }
    littleEndian = false;
    nanoseconds = magicBE === 0xa1b23c4d;
  }
  const major = view.getUint16(4, littleEndian);
  if (major !== 2) throw new PcapFormatError(`unsupported pcap version ${major}`);
  return {
    littleEndian,
    nanoseconds,
    snaplen: view.getUint32(16, littleEndian),
    linkType: view.getUint32(20, littleEndian) & 0x0fffffff,
  };
}

/** Finds the IP packet in one frame of the given link type. */
export function locateIp(linkType: number, frame: Uint8Array): { offset: number } | { skip: FrameSkip } {
  switch (linkType) {
    case LinkType.RAW:
    case LinkType.RAW_ALT12:
    case LinkType.RAW_ALT14:
      return { offset: 0 };
    case LinkType.EN10MB: {
      let off = 12;
      for (;;) {
        if (frame.length < off + 2) return { skip: 'link_truncated' };
        const type = ((frame[off] as number) << 8) | (frame[off + 1] as number);
        if (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
          off += 4;
          continue;
        }
        if (type === 0x0800 || type === 0x86dd) return { offset: off + 2 };
        return { skip: 'link_not_ip' };
      }
    }
    case LinkType.LINUX_SLL: {
      if (frame.length < 16) return { skip: 'link_truncated' };
      const proto = ((frame[14] as number) << 8) | (frame[15] as number);
      return proto === 0x0800 || proto === 0x86dd ? { offset: 16 } : { skip: 'link_not_ip' };
    }
    case LinkType.LINUX_SLL2: {
      if (frame.length < 20) return { skip: 'link_truncated' };
      const proto = ((frame[0] as number) << 8) | (frame[1] as number);
      return proto === 0x0800 || proto === 0x86dd ? { offset: 20 } : { skip: 'link_not_ip' };
    }
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (frame.length < 4) return { skip: 'link_truncated' };
      // The address family is in the writer's byte order (NULL) or network order (LOOP): accept both.
      const be =
        ((frame[0] as number) << 24) |
        ((frame[1] as number) << 16) |
        ((frame[2] as number) << 8) |
        (frame[3] as number);
      const le =
        ((frame[3] as number) << 24) |
        ((frame[2] as number) << 16) |
        ((frame[1] as number) << 8) |
        (frame[0] as number);
      const inet = (af: number): boolean => af === 2 || af === 10 || af === 24 || af === 28 || af === 30;
      return inet(be) || inet(le) ? { offset: 4 } : { skip: 'link_not_ip' };
    }
    default:
      return { skip: 'link_type' };
  }
}

/**
 * Incremental reader: feed chunks as they arrive (a file, stdin, a capture
 * helper's pipe); frames come out through `onFrame`, unusable frames through
 * `onSkip`. After a PcapFormatError the reader stops (a stream cannot be
 * resynchronised); `end()` reports a file cut inside a record.
 */
export class PcapStreamReader {
  private pending: Uint8Array = new Uint8Array(0);
  private header: PcapHeader | undefined;
  private failed = false;

  constructor(
    private readonly onFrame: (frame: PcapFrame) => void,
    private readonly onSkip: (reason: FrameSkip | 'truncated_record') => void,
  ) {}

  get pcapHeader(): PcapHeader | undefined {
    return this.header;
  }

  /** Throws PcapFormatError once when the stream is not pcap or a record header is impossible. */
  push(chunk: Uint8Array): void {
    if (this.failed) return;
    const buf = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    let pos = 0;
    try {
      if (this.header === undefined) {
        if (buf.length < 24) {
          this.pending = buf;
          return;
        }
        this.header = parsePcapHeader(buf);
        pos = 24;
      }
      const h = this.header;
      const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
      while (buf.length - pos >= 16) {
        const sec = view.getUint32(pos, h.littleEndian);
        const frac = view.getUint32(pos + 4, h.littleEndian);
        const caplen = view.getUint32(pos + 8, h.littleEndian);
        const origlen = view.getUint32(pos + 12, h.littleEndian);
        if (caplen > MAX_RECORD) {
          throw new PcapFormatError(`pcap record of ${caplen} bytes at byte ${pos}: the file is corrupt`);
        }
        if (buf.length - pos - 16 < caplen) break;
        const data = buf.subarray(pos + 16, pos + 16 + caplen);
        pos += 16 + caplen;
        const where = SUPPORTED.has(h.linkType)
          ? locateIp(h.linkType, data)
          : ({ skip: 'link_type' } as const);
        if ('skip' in where) {
          this.onSkip(where.skip);
          continue;
        }
        const len = Math.min(caplen, origlen) - where.offset;
        if (len <= 0) {
          this.onSkip('link_truncated');
          continue;
        }
        this.onFrame({
          data,
          ipOffset: where.offset,
          ipLength: len,
          timeMs: sec * 1000 + (h.nanoseconds ? Math.floor(frac / 1e6) : Math.floor(frac / 1000)),
        });
      }
    } catch (err) {
      this.failed = true;
      this.pending = new Uint8Array(0);
      throw err;
    }
    // Keep only the unread tail; copy it so the caller's chunk can be reused.
    this.pending = pos === buf.length ? new Uint8Array(0) : buf.slice(pos);
  }

  /** Call at end of input: throws when there was no header, counts a record cut short. */
  end(): void {
    if (this.failed) return;
    if (this.header === undefined) {
      this.failed = true;
      throw new PcapFormatError(
        this.pending.length === 0
          ? 'empty input: no pcap header'
          : 'not a pcap file: shorter than the 24-byte header',
      );
    }
    if (this.pending.length > 0) this.onSkip('truncated_record');
    this.pending = new Uint8Array(0);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
