import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  builtinSignatures,
  classifySyn,
  isSyn,
  ja4t,
  loadSignatureFile,
  PcapFormatError,
  PcapStreamReader,
  parseIpPacket,
  parseSignatureFile,
  parseTcpSignature,
  Quirk,
  SignatureFileError,
  SynEngine,
  type TcpPacket,
} from '../../src/os/fingerprint/index.js';

const P0F_FP = '/work/shared/data/fingerprints/p0f-3.09b.fp';
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// A Windows 10 SYN as sent (TTL 128, DF, window 64240 = 44 x 1460, mss,nop,ws 8,nop,nop,sok).
const WIN10_SYN = hex(`
  45 00 00 34 12 34 40 00 80 06 00 00 c0 00 02 07 c0 00 02 19
  d4 31 00 19 00 00 00 01 00 00 00 00 80 02 fa f0 00 00 00 00
  02 04 05 b4 01 03 03 08 01 01 04 02`);
// A Linux 6.x SYN over IPv6 with a flow label, 57 hops left of 64.
const LINUX_V6_SYN = hex(`
  60 0a bc de 00 28 06 39 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 07
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 25
  b1 2c 00 19 11 22 33 44 00 00 00 00 a0 02 fd 20 00 00 00 00
  02 04 05 a0 04 02 08 0a 00 01 e2 40 00 00 00 00 01 03 03 07`);
// macOS: mss,nop,ws 6,nop,nop,ts,sok,eol + one pad byte; TTL 64, window 65535.
const MACOS_SYN = hex(`
  45 00 00 40 00 00 40 00 40 06 00 00 c0 00 02 08 c0 00 02 19
  f0 00 00 19 00 00 10 00 00 00 00 00 b0 02 ff ff 00 00 00 00
  02 04 05 b4 01 03 03 06 01 01 08 0a 00 00 00 05 00 00 00 00 04 02 00 00`);

function packet(b: Buffer): TcpPacket {
  const r = parseIpPacket(b);
  assert.ok('packet' in r, `not parsed: ${JSON.stringify(r)}`);
  return r.packet;
}

describe('.fp signature files (p0f grammar)', () => {
  test("loads p0f 3.09b's own database unchanged: 91 SYN, 101 SYN+ACK, 130 MTU/HTTP signatures", () => {
    const db = loadSignatureFile(P0F_FP);
    assert.deepEqual(db.classes, ['win', 'unix', 'other']);
    assert.equal(db.request.length, 91);
    assert.equal(db.response.length, 101);
    assert.equal(db.otherSignatures, 130);
    const first = db.request[0];
    assert.equal(first?.name, 'Linux');
    assert.equal(first?.flavor, '3.11 and newer');
    assert.equal(first?.line, 96);
  });

  test('reads each field of real p0f lines', () => {
    const s = parseTcpSignature('*:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0');
    assert.equal(s.ipVersion, undefined);
    assert.equal(s.ttl, 64);
    assert.equal(s.mss, undefined);
    assert.deepEqual([s.winType, s.win, s.wscale], ['mss', 20, 10]);
    assert.deepEqual(s.layout, [2, 4, 8, 1, 3]);
    assert.equal(s.quirks, Quirk.DF | Quirk.NZ_ID);
    assert.equal(s.payloadClass, 0);
    const nmap = parseTcpSignature('*:64-:0:265:512,0:mss,sok,ts:ack+:0');
    assert.equal(nmap.badTtl, true);
    const mac = parseTcpSignature('*:64:0:*:65535,*:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0');
    assert.deepEqual([mac.eolPad, mac.wscale, mac.layout.at(-1)], [1, undefined, 0]);
    const dist = parseTcpSignature('4:120+8:0:1452:%8192,0:mss,?30,nop:flow:+'.replace('flow', 'ecn'));
    assert.deepEqual(
      [dist.ttl, dist.winType, dist.win, dist.layout[1], dist.payloadClass],
      [128, 'mod', 8192, 30, 1],
    );
  });

  const bad: [string, string, RegExp][] = [
    ['bad TTL', 'sig = *:300:0:*:8192,0:mss:df:0', /bogus initial TTL/],
    ['unknown option', 'sig = *:64:0:*:8192,0:mss,xyz:df:0', /unrecognized TCP option/],
    ['df on IPv6', 'sig = 6:64:0:*:8192,0:mss:df:0', /'df' is not valid for IPv6/],
    ['EOL not last', 'sig = *:64:0:*:8192,0:eol+1,mss:df:0', /EOL must be the last option/],
    ['payload class', 'sig = *:64:0:*:8192,0:mss:df:x', /malformed payload class/],
    ['truncated', 'sig = *:64:0:*:8192,0', /malformed signature|truncated/],
  ];
  for (const [what, line, re] of bad) {
    test(`refuses ${what} with its line number`, () => {
      const fixed = `classes = win,unix\n[tcp:request]\nlabel = s:win:Test:\n${line}\n`;
      assert.throws(
        () => parseSignatureFile(fixed, 'test.fp'),
        (e: unknown) => {
          assert.ok(e instanceof SignatureFileError);
          assert.match(e.message, /^test\.fp:4: /);
          assert.match(e.message, re);
          return true;
        },
      );
    });
  }

  test('refuses an unknown class, a misplaced sig and a signature already covered, like p0f', () => {
    assert.throws(
      () => parseSignatureFile('classes = win\n[tcp:request]\nlabel = s:unix:Linux:\n'),
      /:3: unknown class 'unix'/,
    );
    assert.throws(
      () => parseSignatureFile('[tcp:request]\nsig = *:64:0:*:8192,0:mss:df:0\n'),
      /:2: misplaced 'sig'/,
    );
    assert.throws(
      () => loadSignatureFile('/work/shared/data/fingerprints/huginn-net-p0f-tcp-syn.fp'),
      /huginn-net-p0f-tcp-syn\.fp:297: signature is already covered by line 124/,
    );
  });
});

describe('SYN parsing and matching (p0f 3.09b semantics)', () => {
  const db = parseSignatureFile(readFileSync(P0F_FP, 'utf8'), P0F_FP);

  test("a Windows 10 SYN is p0f's generic 'Windows NT kernel', window 44 x MSS", () => {
    const p = packet(WIN10_SYN);
    assert.ok(isSyn(p));
    assert.deepEqual(
      [p.ipVersion, p.src, p.srcPort, p.dstPort, p.ttl, p.mss, p.wscale],
      [4, '192.0.2.7', 54321, 25, 128, 1460, 8],
    );
    const v = classifySyn(db, p);
    assert.equal(v.os, 'Windows NT kernel');
    assert.equal(v.osClass, 'win');
    assert.deepEqual([v.generic, v.fuzzy, v.distance, v.params], [true, false, 0, 'generic']);
    assert.equal(v.signature, '4:128+0:0:1460:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+:0');
    assert.equal(v.ja4t, '64240_2-1-3-1-1-4_1460_8');
  });

  test("a Linux SYN over IPv6 with a flow label matches nothing in p0f's database (the flow quirk)", () => {
    const p = packet(LINUX_V6_SYN);
    assert.equal(p.src, '2001:db8::7');
    assert.equal(p.quirks, Quirk.FLOW);
    const v = classifySyn(db, p);
    assert.equal(v.os, '???');
    assert.equal(v.osClass, undefined);
    assert.equal(v.distance, 7);
    assert.equal(v.signature, '6:57+7:0:1440:mss*45,7:mss,sok,ts,nop,ws:flow:0');
    assert.equal(v.ja4t, '64800_2-4-8-1-3_1440_7');
  });

  test('macOS: EOL padding counted, JA4T lists the padding', () => {
    const p = packet(MACOS_SYN);
    assert.equal(p.eolPad, 1);
    const v = classifySyn(db, p);
    assert.equal(v.os, 'Mac OS X');
    assert.equal(v.generic, true);
    assert.equal(v.signature, '4:64+0:0:1460:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df:0');
    // DF without id+ (ID 0): the signature's id+ is gone, which p0f tolerates as fuzzy
    assert.equal(v.fuzzy, true);
    assert.equal(ja4t(p), '65535_2-1-3-1-1-8-4-0-0_1460_6');
  });

  test('a TTL more than 35 below the signature makes a fuzzy match with the guessed distance', () => {
    const b = Buffer.from(WIN10_SYN);
    b[8] = 80; // 48 hops below 128
    const v = classifySyn(db, packet(b));
    assert.equal(v.os, 'Windows NT kernel');
    assert.equal(v.fuzzy, true);
    assert.equal(v.distance, 48);
    assert.equal(v.params, 'generic fuzzy excess_dist');
  });

  test('bad input is skipped with a reason or marked with the bad quirk, never thrown', () => {
    assert.deepEqual(parseIpPacket(WIN10_SYN.subarray(0, 30)), { skip: 'truncated' });
    assert.deepEqual(parseIpPacket(hex('00'.repeat(60))), { skip: 'not_ip' });
    const udp = Buffer.from(WIN10_SYN);
    udp[9] = 17;
    assert.deepEqual(parseIpPacket(udp), { skip: 'not_tcp' });
    const frag = Buffer.from(WIN10_SYN);
    frag[6] = 0x20; // MF
    assert.deepEqual(parseIpPacket(frag), { skip: 'fragment' });
    const doff = Buffer.from(WIN10_SYN);
    doff[32] = 0xf0; // 60-byte TCP header in a 32-byte segment
    assert.deepEqual(parseIpPacket(doff), { skip: 'bad_tcp_header' });
    const synFin = Buffer.from(WIN10_SYN);
    synFin[33] = 0x03;
    assert.deepEqual(parseIpPacket(synFin), { skip: 'bad_tcp_flags' });
    const badLen = Buffer.from(WIN10_SYN);
    badLen[41] = 40; // MSS option claims 40 bytes: p0f reads it as 4 and flags `bad`
    const p = packet(badLen);
    assert.ok(p.quirks & Quirk.OPT_BAD);
    const cut = Buffer.from(WIN10_SYN);
    cut[48] = 5; // SACK kind with length 2: out of range, option walk stops
    assert.ok(packet(cut).quirks & Quirk.OPT_BAD);
    // Every prefix and every single-byte corruption: parsed or skipped, never an exception.
    for (let n = 0; n <= WIN10_SYN.length; n++) parseIpPacket(WIN10_SYN.subarray(0, n));
    for (let i = 0; i < WIN10_SYN.length; i++) {
      for (const v of [0, 0xff, 0x45, 0x60]) {
        const b = Buffer.from(WIN10_SYN);
        b[i] = v;
        parseIpPacket(b);
      }
    }
  });
});

describe("greyprint's built-in signatures", () => {
  const db = builtinSignatures();
  test('name Windows 10/11, modern Linux over IPv6 and macOS, where p0f says NT kernel, ??? and Mac OS X', () => {
    assert.equal(classifySyn(db, packet(WIN10_SYN)).os, 'Windows 10 or 11 (or 2016+ edition)');
    const linux = classifySyn(db, packet(LINUX_V6_SYN));
    assert.deepEqual([linux.os, linux.osClass, linux.generic], ['Linux 4.19 and newer', 'unix', false]);
    assert.equal(classifySyn(db, packet(MACOS_SYN)).osClass, 'unix');
  });
  test('a Windows SYN with timestamps is Windows (p0f 3.09b: ???)', () => {
    // mss,nop,ws,sok,ts as Windows sends it with RFC 1323 timestamps on.
    const b = hex(`
      45 00 00 3c 12 34 40 00 80 06 00 00 c0 00 02 09 c0 00 02 19
      d4 32 00 19 00 00 00 01 00 00 00 00 a0 02 fa f0 00 00 00 00
      02 04 05 b4 01 03 03 08 04 02 08 0a 00 00 30 39 00 00 00 00`);
    assert.equal(classifySyn(db, packet(b)).os, 'Windows 10 or 11 (timestamps on)');
    assert.equal(classifySyn(loadSignatureFile(P0F_FP), packet(b)).os, '???');
  });
});

/** A pcap (little-endian, microseconds) of the given frames with one link type. */
function pcap(linkType: number, frames: Buffer[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [head];
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1700000000, 0);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  }
  return Buffer.concat(parts);
}

const ether = (ip: Buffer, type = ip[0] === 0x60 ? '86dd' : '0800'): Buffer =>
  Buffer.concat([hex(`020000000002 020000000001 ${type}`), ip]);

function readAll(data: Buffer, split = data.length): { engine: SynEngine; oses: string[] } {
  const engine = new SynEngine(loadSignatureFile(P0F_FP));
  const oses: string[] = [];
  const r = new PcapStreamReader(
    (f) => {
      const v = engine.frame(f);
      if (v) oses.push(v.os);
    },
    (why) => engine.skip(why),
  );
  for (let i = 0; i < data.length; i += split) r.push(data.subarray(i, i + split));
  r.end();
  return { engine, oses };
}

describe('pcap reading', () => {
  const frames = [
    ether(WIN10_SYN),
    ether(LINUX_V6_SYN),
    ether(hex('0806 0001'), '0806'),
    ether(WIN10_SYN.subarray(0, 30)),
    Buffer.concat([hex('020000000002 020000000001 8100 0064 0800'), MACOS_SYN]),
    ether(WIN10_SYN),
  ];
  const file = pcap(1, frames);

  test('Ethernet (with an 802.1Q tag): SYNs classified, ARP and a cut packet counted, a retransmission reported once', () => {
    const { engine, oses } = readAll(file);
    assert.deepEqual(oses, ['Windows NT kernel', '???', 'Mac OS X']);
    assert.equal(engine.counts.frames, 6);
    assert.equal(engine.counts.skipped.link_not_ip, 1);
    assert.equal(engine.counts.skipped.truncated, 1);
    assert.equal(engine.counts.duplicateSyns, 1);
  });

  test('the same verdicts whatever the chunk boundaries (every split size up to 97 bytes)', () => {
    for (let split = 1; split < 98; split++) assert.deepEqual(readAll(file, split).oses, readAll(file).oses);
  });

  test('Linux cooked capture and raw IP', () => {
    const sll = (ip: Buffer): Buffer => Buffer.concat([hex('0000 0001 0006 020000000001 0000 0800'), ip]);
    assert.deepEqual(readAll(pcap(113, [sll(WIN10_SYN)])).oses, ['Windows NT kernel']);
    assert.deepEqual(readAll(pcap(101, [WIN10_SYN, LINUX_V6_SYN])).oses, ['Windows NT kernel', '???']);
  });

  test('a link type it cannot read counts every frame; a bad header or a corrupt record is an error', () => {
    const { engine } = readAll(pcap(105, [WIN10_SYN, WIN10_SYN]));
    assert.equal(engine.counts.skipped.link_type, 2);
    assert.throws(() => readAll(Buffer.from('this is not a capture file at all')), PcapFormatError);
    assert.throws(() => readAll(Buffer.alloc(0)), /empty input/);
    const corrupt = Buffer.from(file);
    corrupt.writeUInt32LE(0x7fffffff, 24 + 8);
    assert.throws(() => readAll(corrupt), /corrupt/);
  });

  test('a file cut inside a record counts it as truncated_record', () => {
    const { engine, oses } = readAll(file.subarray(0, file.length - 10));
    assert.equal(engine.counts.skipped.truncated_record, 1);
    assert.equal(oses.length, 3);
  });
});
