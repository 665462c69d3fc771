import { P0fProtocolError } from './errors.js';
import {
  type P0fResponse,
  RESPONSE_LENGTH,
  RESPONSE_MAGIC,
  RESPONSE_OFFSET,
  STRING_FIELD_LENGTH,
  statusFromCode,
} from './messages.js';

/**
 * Reads a p0f string field: bytes up to the first NUL, limited to the field.
 * p0f's labels are ASCII; anything else becomes `?` so a label can never
 * carry control bytes into a header or a log line.
 */
function readString(frame: Buffer, offset: number): string {
  const field = frame.subarray(offset, offset + STRING_FIELD_LENGTH);
  const end = field.indexOf(0);
  const raw = field.subarray(0, end === -1 ? field.length : end);
  let text = '';
  for (const byte of raw) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '?';
  return text;
}

/** Decodes one complete 232-byte frame. */
export function parseResponseFrame(frame: Buffer): P0fResponse {
  if (frame.length !== RESPONSE_LENGTH) {
    throw new P0fProtocolError(
      `p0f response must be ${RESPONSE_LENGTH} bytes, got ${frame.length}`,
      frame.subarray(0, 8).toString('hex'),
    );
  }
  const o = RESPONSE_OFFSET;
  const magic = frame.readUInt32LE(o.magic);
  if (magic !== RESPONSE_MAGIC) {
    throw new P0fProtocolError(
      `bad p0f response magic 0x${magic.toString(16)} (expected 0x${RESPONSE_MAGIC.toString(16)}): not a p0f v3 API socket?`,
      frame.subarray(0, 8).toString('hex'),
    );
  }
  const statusCode = frame.readUInt32LE(o.status);
  return {
    status: statusFromCode(statusCode),
    statusCode,
    firstSeen: frame.readUInt32LE(o.firstSeen),
    lastSeen: frame.readUInt32LE(o.lastSeen),
    totalConnections: frame.readUInt32LE(o.totalConnections),
    uptimeMinutes: frame.readUInt32LE(o.uptimeMinutes),
    uptimeModuloDays: frame.readUInt32LE(o.uptimeModuloDays),
    lastNat: frame.readUInt32LE(o.lastNat),
    lastOsChange: frame.readUInt32LE(o.lastOsChange),
    distance: frame.readInt16LE(o.distance),
    badSoftware: frame.readUInt8(o.badSoftware),
    matchQuality: frame.readUInt8(o.matchQuality),
    osName: readString(frame, o.osName),
    osFlavor: readString(frame, o.osFlavor),
    httpName: readString(frame, o.httpName),
    httpFlavor: readString(frame, o.httpFlavor),
    linkType: readString(frame, o.linkType),
    language: readString(frame, o.language),
  };
}

/**
 * Streaming parser: feed it whatever the socket delivers (any split), it
 * calls back once per complete response. A bad magic throws; the caller
 * must then drop the connection, because the stream is out of step.
 */
export class P0fResponseParser {
  private pending: Buffer = Buffer.alloc(0);

  parse(chunk: Buffer, onResponse: (response: P0fResponse) => void): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= RESPONSE_LENGTH) {
      const frame = this.pending.subarray(0, RESPONSE_LENGTH);
      this.pending = this.pending.subarray(RESPONSE_LENGTH);
      onResponse(parseResponseFrame(frame));
    }
  }

  /** Bytes received that do not yet form a whole response. */
  get buffered(): number {
    return this.pending.length;
  }
}
