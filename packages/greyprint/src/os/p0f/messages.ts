/**
 * The p0f v3 API messages (p0f's api.h): a fixed 21-byte query and a fixed
 * 232-byte response. p0f writes its structs as they sit in memory, so the
 * magic numbers and integers are in the host's byte order; every platform we
 * run on is little-endian, and the codec says so in one place (BYTE_ORDER).
 */

export const QUERY_MAGIC = 0x50304601;
export const RESPONSE_MAGIC = 0x50304602;
export const QUERY_LENGTH = 21;
export const RESPONSE_LENGTH = 232;
/** Every string field is a NUL-padded 32-byte array (31 characters at most). */
export const STRING_FIELD_LENGTH = 32;
export const BYTE_ORDER = 'le' as const;

export const ADDRESS_TYPE = { ipv4: 4, ipv6: 6 } as const;
export type AddressType = (typeof ADDRESS_TYPE)[keyof typeof ADDRESS_TYPE];

export const STATUS_CODE = { badQuery: 0x00, ok: 0x10, noMatch: 0x20 } as const;
export type P0fStatus = 'bad-query' | 'ok' | 'no-match' | 'unknown-status';

/** os_match_q bits: 0 exact, 1 fuzzy, 2 generic signature, 3 both. */
export const MATCH_FUZZY = 0x01;
export const MATCH_GENERIC = 0x02;

export interface P0fQuery {
  readonly addressType: AddressType;
  /** 16 bytes, network order, left-aligned (IPv4 uses the first four). */
  readonly address: Uint8Array;
}

export interface P0fResponse {
  readonly status: P0fStatus;
  readonly statusCode: number;
  /** Unix seconds. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly totalConnections: number;
  readonly uptimeMinutes: number;
  readonly uptimeModuloDays: number;
  readonly lastNat: number;
  readonly lastOsChange: number;
  /** Hops; -1 when p0f has no estimate. */
  readonly distance: number;
  readonly badSoftware: number;
  readonly matchQuality: number;
  readonly osName: string;
  readonly osFlavor: string;
  readonly httpName: string;
  readonly httpFlavor: string;
  readonly linkType: string;
  readonly language: string;
}

export function statusFromCode(code: number): P0fStatus {
  switch (code) {
    case STATUS_CODE.ok:
      return 'ok';
    case STATUS_CODE.noMatch:
      return 'no-match';
    case STATUS_CODE.badQuery:
      return 'bad-query';
    default:
      return 'unknown-status';
  }
}

export function codeFromStatus(status: P0fStatus): number {
  switch (status) {
    case 'ok':
      return STATUS_CODE.ok;
    case 'no-match':
      return STATUS_CODE.noMatch;
    case 'bad-query':
      return STATUS_CODE.badQuery;
    default:
      return 0xff;
  }
}

/** Offsets of the response fields, from api.h's struct p0f_api_response. */
export const RESPONSE_OFFSET = {
  magic: 0,
  status: 4,
  firstSeen: 8,
  lastSeen: 12,
  totalConnections: 16,
  uptimeMinutes: 20,
  uptimeModuloDays: 24,
  lastNat: 28,
  lastOsChange: 32,
  distance: 36,
  badSoftware: 38,
  matchQuality: 39,
  osName: 40,
  osFlavor: 72,
  httpName: 104,
  httpFlavor: 136,
  linkType: 168,
  language: 200,
} as const;
