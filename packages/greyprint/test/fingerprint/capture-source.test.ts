import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import type { CaptureLogger } from '../../src/os/capture/helper.js';
import { CaptureSource } from '../../src/os/capture/source.js';
import { builtinSignatures, classifySyn, parseIpPacket } from '../../src/os/fingerprint/index.js';
import { writePcap } from './syn-specs.js';

const dir = mkdtempSync(join(tmpdir(), `gp-cap-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Logged {
  level: string;
  msg: string;
  fields: object;
}

function recorder(): { logger: CaptureLogger; lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (fields: object, msg: string) => lines.push({ level, msg, fields });
  return { logger: { warn: at('warn'), info: at('info'), debug: at('debug') }, lines };
}

const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('capture source (helper process feeding the engine; a stand-in helper replays a pcap)', () => {
  const pcap = join(dir, 'syns.pcap');
  writePcap(pcap, [
    {
      v: 4,
      src: '198.51.100.7',
      dst: '192.0.2.25',
      sport: 50001,
      dport: 25,
      ttl: 120,
      df: true,
      id: 9,
      win: 64240,
      opts: '020405b4010303080101' + '0402',
    },
    {
      v: 6,
      src: '2001:db8:0:0::20',
      dst: '2001:db8::25',
      sport: 50002,
      dport: 25,
      ttl: 60,
      flow: 0x5a5a5,
      win: 64240,
      opts: '020405a00402080a0001e24000000000' + '01030307',
    },
  ]);

  test('answers from the SYNs the helper delivered, IPv6 under its canonical text, with JA4T', async () => {
    const { logger } = recorder();
    // The helper writes the pcap and keeps running, as tcpdump does.
    const src = new CaptureSource({
      interface: 'unused',
      filter: 'unused',
      command: 'sh',
      args: ['-c', `cat ${pcap}; exec sleep 30`],
      signatures: builtinSignatures(),
      cacheTtlSec: 60,
      waitMs: 200,
      logger,
    }).start();
    try {
      await until(() => src.stats().engine.syns === 2);
      const win = await src.lookup('198.51.100.7');
      assert.equal(win?.class, 'win');
      assert.equal(win?.flavor, '10 or 11 (or 2016+ edition)');
      assert.equal(win?.ja4t, '64240_2-1-3-1-1-4_1460_8');
      assert.equal(win?.distance, 8);
      const linux = await src.lookup('2001:DB8::20');
      assert.equal(linux?.name, 'Linux');
      assert.equal(linux?.source, 'capture');
      const registry = new Registry();
      src.registerMetrics(registry);
      const text = await registry.metrics();
      assert.match(text, /greyprint_capture_up 1/);
      assert.match(text, /greyprint_capture_syns_total 2/);
    } finally {
      await src.close();
    }
  });

  test('a lookup for an address not seen waits at most waitMs while capture runs', async () => {
    const { logger } = recorder();
    const src = new CaptureSource({
      interface: 'unused',
      filter: 'unused',
      command: 'sh',
      args: ['-c', `cat ${pcap}; exec sleep 30`],
      signatures: builtinSignatures(),
      cacheTtlSec: 60,
      waitMs: 150,
      logger,
    }).start();
    try {
      await until(() => src.stats().helper.up === 1);
      const t0 = Date.now();
      assert.equal(await src.lookup('203.0.113.9'), undefined);
      const waited = Date.now() - t0;
      assert.ok(waited >= 140 && waited < 1000, `waited ${waited} ms`);
      // The next lookups of that client (one per recipient, then DATA) do not wait again.
      const t1 = Date.now();
      assert.equal(await src.lookup('203.0.113.9'), undefined);
      assert.ok(Date.now() - t1 < 50, 'no second wait for the same client');
    } finally {
      await src.close();
    }
  });

  test('a helper that dies is restarted with a growing pause, logged once, and lookups answer at once meanwhile', async () => {
    const { logger, lines } = recorder();
    const src = new CaptureSource({
      interface: 'unused',
      filter: 'unused',
      command: 'sh',
      args: ['-c', 'echo "tcpdump: eth9: No such device exists" >&2; exit 1'],
      signatures: builtinSignatures(),
      cacheTtlSec: 60,
      waitMs: 500,
      logger,
      minBackoffMs: 50,
      maxBackoffMs: 200,
    }).start();
    try {
      await until(() => src.stats().helper.restarts >= 4);
      const stops = lines.filter((l) => l.msg.startsWith('capture stopped'));
      assert.equal(stops.length, 1, 'the stop is logged once, not per restart');
      assert.match(JSON.stringify(stops[0]?.fields), /No such device/);
      const t0 = Date.now();
      assert.equal(await src.lookup('198.51.100.7'), undefined);
      assert.ok(Date.now() - t0 < 50, 'no wait while capture is down');
    } finally {
      await src.close();
    }
  });

  test('a helper whose output is not pcap is stopped and restarted, never crashing the source', async () => {
    const { logger, lines } = recorder();
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'this is not pcap at all, not even close\n'.repeat(10));
    const src = new CaptureSource({
      interface: 'unused',
      filter: 'unused',
      command: 'sh',
      args: ['-c', `cat ${junk}; exec sleep 30`],
      signatures: builtinSignatures(),
      cacheTtlSec: 60,
      waitMs: 0,
      logger,
      minBackoffMs: 50,
    }).start();
    try {
      await until(() => src.stats().helper.restarts >= 2);
      assert.ok(lines.some((l) => l.msg === 'capture helper output is not pcap'));
    } finally {
      await src.close();
    }
  });
  test('the host cache keeps the newest clients, forgets the oldest half at once, and expires verdicts', async () => {
    const { logger } = recorder();
    const src = new CaptureSource({
      interface: 'unused',
      filter: 'unused',
      command: 'false',
      signatures: builtinSignatures(),
      cacheTtlSec: 0.2,
      waitMs: 0,
      maxEntries: 4,
      logger,
    });
    const db = builtinSignatures();
    const r = parseIpPacket(
      Buffer.from(
        '4500003412344000800600000000000000000000d431001900000001000000008002faf00000000002040' +
          '5b4010303080101' +
          '0402',
        'hex',
      ),
    );
    assert.ok('packet' in r);
    for (let i = 1; i <= 10; i++) src.remember({ ...classifySyn(db, r.packet), client: `192.0.2.${i}` });
    assert.equal(await src.lookup('192.0.2.1'), undefined, 'the oldest is forgotten');
    assert.equal((await src.lookup('192.0.2.10'))?.class, 'win');
    assert.equal((await src.lookup('192.0.2.9'))?.class, 'win');
    await new Promise((ok) => setTimeout(ok, 300));
    assert.equal(await src.lookup('192.0.2.10'), undefined, 'expired after cacheTtlSec');
    await src.close();
  });
});
