import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAddress } from '../../src/net/cidr.js';
import {
  ADDRESS_TYPE,
  classForOsName,
  labelFromResponse,
  P0fProtocolError,
  type P0fResponse,
  P0fResponseParser,
  parseResponseFrame,
  QUERY_LENGTH,
  queryForAddress,
  RESPONSE_LENGTH,
  serializeQuery,
  serializeResponse,
} from '../../src/os/p0f/index.js';
import { queryForParsed } from '../../src/os/p0f/serializer.js';

const windowsXp: P0fResponse = {
  status: 'ok',
  statusCode: 0x10,
  firstSeen: 1_700_000_000,
  lastSeen: 1_700_000_123,
  totalConnections: 7,
  uptimeMinutes: 0,
  uptimeModuloDays: 0,
  lastNat: 0,
  lastOsChange: 0,
  distance: 3,
  badSoftware: 0,
  matchQuality: 0,
  osName: 'Windows',
  osFlavor: 'XP',
  httpName: '',
  httpFlavor: '',
  linkType: 'Ethernet or modem',
  language: '',
};

const noMatch: P0fResponse = { ...windowsXp, status: 'no-match', statusCode: 0x20, osName: '', osFlavor: '' };
const linuxGeneric: P0fResponse = {
  ...windowsXp,
  osName: 'Linux',
  osFlavor: '2.2.x-3.x',
  matchQuality: 2,
  distance: -1,
};

describe('p0f API query serializer', () => {
  test('encodes an IPv4 address as a 21-byte little-endian query with the address left-aligned', () => {
    const bytes = serializeQuery(queryForAddress('192.0.2.10'));
    assert.equal(bytes.length, QUERY_LENGTH);
    // magic 0x50304601 little-endian, type 4, 192.0.2.10, zero padding
    assert.equal(bytes.toString('hex'), `01463050${'04'}${'c000020a'}${'00'.repeat(12)}`);
  });

  test('encodes an IPv6 address with type 6 and all 16 bytes in network order', () => {
    const bytes = serializeQuery(queryForAddress('2001:db8::1'));
    assert.equal(bytes[4], ADDRESS_TYPE.ipv6);
    assert.equal(bytes.subarray(5).toString('hex'), `20010db8${'00'.repeat(11)}01`);
  });

  test('asks about an IPv4-mapped IPv6 client as IPv4, as p0f saw its packets', () => {
    const query = queryForAddress('::ffff:198.51.100.7');
    assert.equal(query.addressType, ADDRESS_TYPE.ipv4);
    assert.deepEqual([...query.address.subarray(0, 4)], [198, 51, 100, 7]);
  });

  test('refuses an address that is not an IP with a typed error naming it', () => {
    assert.throws(() => queryForAddress('unknown'), { code: 'P0F_ADDRESS', address: 'unknown' });
    assert.throws(() => queryForAddress('192.0.2.300'), { code: 'P0F_ADDRESS' });
  });
});

describe('p0f API response parser', () => {
  test('decodes every field of a 232-byte response at the offsets of api.h', () => {
    const frame = serializeResponse(windowsXp);
    assert.equal(frame.length, RESPONSE_LENGTH);
    assert.equal(frame.readUInt32LE(0), 0x50304602);
    assert.equal(frame.subarray(40, 47).toString('latin1'), 'Windows');
    assert.equal(frame.subarray(72, 74).toString('latin1'), 'XP');
    assert.deepEqual(parseResponseFrame(frame), windowsXp);
  });

  test('reads a negative distance (no estimate) as a signed 16-bit value', () => {
    assert.equal(parseResponseFrame(serializeResponse(linuxGeneric)).distance, -1);
  });

  test('yields the same responses whatever byte boundary the stream is split at', () => {
    const stream = Buffer.concat([
      serializeResponse(windowsXp),
      serializeResponse(noMatch),
      serializeResponse(linuxGeneric),
    ]);
    for (let first = 0; first <= stream.length; first += 1) {
      for (const second of [
        first,
        Math.min(stream.length, first + 1),
        Math.min(stream.length, first + 233),
      ]) {
        const parser = new P0fResponseParser();
        const seen: P0fResponse[] = [];
        parser.parse(stream.subarray(0, first), (r) => seen.push(r));
        parser.parse(stream.subarray(first, second), (r) => seen.push(r));
        parser.parse(stream.subarray(second), (r) => seen.push(r));
        assert.deepEqual(seen, [windowsXp, noMatch, linuxGeneric], `split at ${first}/${second}`);
        assert.equal(parser.buffered, 0);
      }
    }
  });

  test('yields responses when fed one byte at a time', () => {
    const parser = new P0fResponseParser();
    const seen: P0fResponse[] = [];
    const stream = Buffer.concat([serializeResponse(windowsXp), serializeResponse(noMatch)]);
    for (const byte of stream) parser.parse(Buffer.from([byte]), (r) => seen.push(r));
    assert.deepEqual(seen, [windowsXp, noMatch]);
  });

  test('rejects a response with the wrong magic with a protocol error showing the bytes', () => {
    const frame = serializeResponse(windowsXp);
    frame.writeUInt32BE(0x50304602, 0); // p0f's magic in the wrong byte order
    assert.throws(
      () => new P0fResponseParser().parse(frame, () => {}),
      (error: unknown) => {
        assert.ok(error instanceof P0fProtocolError);
        assert.equal(error.frameHead.slice(0, 8), '50304602');
        return true;
      },
    );
  });

  test('keeps only printable ASCII of a string field and stops at the 32-byte boundary', () => {
    const frame = serializeResponse(windowsXp);
    frame.fill(0x41, 72, 104); // a flavor without a terminating NUL
    frame[40] = 0x0a; // a newline must never reach a header
    const parsed = parseResponseFrame(frame);
    assert.equal(parsed.osFlavor, 'A'.repeat(32));
    assert.equal(parsed.osName, '?indows');
  });

  test('maps an unknown status code to unknown-status rather than ok', () => {
    const frame = serializeResponse(windowsXp);
    frame.writeUInt32LE(0x33, 4);
    assert.equal(parseResponseFrame(frame).status, 'unknown-status');
  });
});

describe('p0f response to OS label', () => {
  test('labels an exact Windows match as class win, not fuzzy, with the distance', () => {
    assert.deepEqual(labelFromResponse(windowsXp), {
      class: 'win',
      name: 'Windows',
      flavor: 'XP',
      distance: 3,
      fuzzy: false,
      source: 'p0f',
    });
  });

  test('marks a generic or fuzzy match as fuzzy and omits an unknown distance', () => {
    const label = labelFromResponse(linuxGeneric);
    assert.equal(label?.class, 'unix');
    assert.equal(label?.fuzzy, true);
    assert.equal(label && 'distance' in label, false);
  });

  test('gives no label for no-match, bad query, or a host seen without an OS match', () => {
    assert.equal(labelFromResponse(noMatch), undefined);
    assert.equal(labelFromResponse({ ...windowsXp, status: 'bad-query' }), undefined);
    assert.equal(labelFromResponse({ ...windowsXp, osName: '', osFlavor: '' }), undefined);
  });

  test('derives the class p0f database gives each OS name', () => {
    assert.equal(classForOsName('Windows'), 'win');
    assert.equal(classForOsName('Linux'), 'unix');
    assert.equal(classForOsName('Mac OS X'), 'unix');
    assert.equal(classForOsName('FreeBSD'), 'unix');
    assert.equal(classForOsName('Solaris'), 'unix');
    assert.equal(classForOsName('Nintendo'), 'other');
    assert.equal(classForOsName('Blackberry'), 'other');
    assert.equal(classForOsName('Windowsill'), 'other');
  });
});

describe('queryForParsed: the query from an address the policy path parsed already', () => {
  test('is the query queryForAddress builds from the text, for IPv4, IPv6 and IPv4-mapped IPv6', () => {
    for (const text of ['192.0.2.7', '2001:db8::25', '::ffff:198.51.100.9']) {
      const parsed = parseAddress(text);
      assert.ok(parsed, text);
      assert.deepEqual(queryForParsed(parsed), queryForAddress(text), text);
    }
  });
});
