import ipaddr from 'ipaddr.js';
import { P0fAddressError } from './errors.js';
import {
  ADDRESS_TYPE,
  codeFromStatus,
  type P0fQuery,
  type P0fResponse,
  QUERY_LENGTH,
  QUERY_MAGIC,
  RESPONSE_LENGTH,
  RESPONSE_MAGIC,
  RESPONSE_OFFSET,
  STRING_FIELD_LENGTH,
} from './messages.js';

/**
 * The query for a client address as Postfix reports it. An IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`) is asked as IPv4, because that is how the
 * packets p0f saw were addressed.
 */
export function queryForAddress(address: string): P0fQuery {
  if (!ipaddr.isValid(address)) throw new P0fAddressError(address);
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return queryForParsed(parsed);
}

/** The query for an address parsed already (an IPv4-mapped address given as its IPv4 form). */
export function queryForParsed(parsed: ipaddr.IPv4 | ipaddr.IPv6): P0fQuery {
  const bytes = new Uint8Array(16);
  bytes.set(parsed.toByteArray());
  return { addressType: parsed.kind() === 'ipv4' ? ADDRESS_TYPE.ipv4 : ADDRESS_TYPE.ipv6, address: bytes };
}

export function serializeQuery(query: P0fQuery): Buffer {
  const out = Buffer.alloc(QUERY_LENGTH);
  out.writeUInt32LE(QUERY_MAGIC, 0);
  out.writeUInt8(query.addressType, 4);
  out.set(query.address.subarray(0, 16), 5);
  return out;
}

function writeString(out: Buffer, offset: number, value: string): void {
  // p0f's strings are NUL-terminated inside 32 bytes: at most 31 bytes of text.
  const bytes = Buffer.from(value, 'latin1').subarray(0, STRING_FIELD_LENGTH - 1);
  out.set(bytes, offset);
}

/**
 * A response as p0f writes it. The client never sends one; tests and the
 * benchmark use it to build replies byte for byte.
 */
export function serializeResponse(response: P0fResponse): Buffer {
  const out = Buffer.alloc(RESPONSE_LENGTH);
  const o = RESPONSE_OFFSET;
  out.writeUInt32LE(RESPONSE_MAGIC, o.magic);
  out.writeUInt32LE(codeFromStatus(response.status), o.status);
  out.writeUInt32LE(response.firstSeen >>> 0, o.firstSeen);
  out.writeUInt32LE(response.lastSeen >>> 0, o.lastSeen);
  out.writeUInt32LE(response.totalConnections >>> 0, o.totalConnections);
  out.writeUInt32LE(response.uptimeMinutes >>> 0, o.uptimeMinutes);
  out.writeUInt32LE(response.uptimeModuloDays >>> 0, o.uptimeModuloDays);
  out.writeUInt32LE(response.lastNat >>> 0, o.lastNat);
  out.writeUInt32LE(response.lastOsChange >>> 0, o.lastOsChange);
  out.writeInt16LE(response.distance, o.distance);
  out.writeUInt8(response.badSoftware, o.badSoftware);
  out.writeUInt8(response.matchQuality, o.matchQuality);
  writeString(out, o.osName, response.osName);
  writeString(out, o.osFlavor, response.osFlavor);
  writeString(out, o.httpName, response.httpName);
  writeString(out, o.httpFlavor, response.httpFlavor);
  writeString(out, o.linkType, response.linkType);
  writeString(out, o.language, response.language);
  return out;
}
