import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AllowList,
  type ConfigInput,
  compileDynamicPatterns,
  compileRules,
  createOsSource,
  decide,
  MemoryStore,
  parseAllowText,
  parseConfig,
} from '../../src/index.js';
import { policyRequest } from '../helpers/request.js';

const request = policyRequest;

function setup(input: ConfigInput, allow = '') {
  const config = parseConfig({
    os: { static: ['192.0.2.0/24=Windows XP', '198.51.100.0/24=Linux'] },
    ...input,
  });
  const state = {
    config,
    rules: compileRules(config.rules),
    allow: new AllowList(parseAllowText(allow, 'allow.conf')),
    isDynamicName: compileDynamicPatterns(config.desktop.dynamicNamePatterns),
  };
  let now = 1_000_000;
  const deps = { os: createOsSource(config), store: new MemoryStore(), now: () => now };
  return {
    run: async (over: Record<string, string>) => decide(request(over), state, deps),
    tick: (s: number) => (now += s),
  };
}

describe('decision pipeline', () => {
  test('greylists with the configured text and placeholders, then passes after the delay', async () => {
    const p = setup({
      greylist: { delaySec: 60, text: 'wait {retry}s ({os}, rule {rule}, {recipient_domain})' },
    });
    const first = await p.run({});
    assert.equal(
      first.action,
      'DEFER_IF_PERMIT wait 60s (desktop Windows, rule desktop-windows, example.net)',
    );
    assert.equal(first.reason, 'new');
    p.tick(20);
    assert.equal(
      (await p.run({})).action,
      'DEFER_IF_PERMIT wait 40s (desktop Windows, rule desktop-windows, example.net)',
    );
    p.tick(40);
    const pass = await p.run({});
    assert.deepEqual([pass.action, pass.verdict, pass.reason], ['DUNNO', 'pass', 'passed']);
  });

  test('an allow-list hit answers DUNNO and names the entry', async () => {
    const p = setup({}, 'recipient postmaster@\n');
    const d = await p.run({ recipient: 'PostMaster@example.net' });
    assert.deepEqual(
      [d.action, d.verdict, d.reason],
      ['DUNNO', 'allow', 'recipient postmaster@ (allow.conf:1)'],
    );
  });

  test('the tag action prepends the tag header at RCPT', async () => {
    const p = setup({
      rules: [{ name: 'linux', when: { osName: ['Linux'] }, action: 'tag', tag: 'linux client' }],
    });
    const d = await p.run({ client_address: '198.51.100.5' });
    assert.equal(d.action, 'PREPEND X-Greyprint: linux client');
    assert.equal((await p.run({})).verdict, 'accept');
  });

  test('answers the header at DATA and BDAT, DUNNO at other stages', async () => {
    const p = setup({});
    assert.equal((await p.run({ protocol_state: 'DATA' })).action, 'PREPEND X-P0f-OS: Windows XP');
    assert.equal((await p.run({ protocol_state: 'BDAT' })).action, 'PREPEND X-P0f-OS: Windows XP');
    for (const stage of ['CONNECT', 'EHLO', 'MAIL', 'END-OF-MESSAGE', 'VRFY']) {
      const d = await p.run({ protocol_state: stage });
      assert.deepEqual([d.action, d.verdict], ['DUNNO', 'skip'], stage);
    }
    const off = setup({ header: { enabled: false } });
    assert.equal((await off.run({ protocol_state: 'DATA' })).action, 'DUNNO');
  });

  test('marks the header of a Windows client with verified non-dynamic rDNS as a mail server, not a dynamic one', async () => {
    const p = setup({});
    const server = await p.run({ protocol_state: 'DATA', client_name: 'mx1.example.org' });
    assert.deepEqual(
      [server.action, server.reason],
      ['PREPEND X-P0f-OS: Windows XP (mail server: verified rDNS)', 'mail server: verified rDNS'],
    );
    const pool = await p.run({ protocol_state: 'DATA', client_name: 'dsl-192-0-2-10.dyn.example.org' });
    assert.equal(pool.action, 'PREPEND X-P0f-OS: Windows XP');
    const linux = await p.run({
      protocol_state: 'DATA',
      client_address: '198.51.100.5',
      client_name: 'mx1.example.org',
    });
    assert.equal(linux.action, 'PREPEND X-P0f-OS: Linux');
  });

  test('a client address that is not an IP is DUNNO at RCPT and at DATA', async () => {
    const p = setup({});
    for (const stage of ['RCPT', 'DATA']) {
      const d = await p.run({ protocol_state: stage, client_address: '192.0.2.300' });
      assert.deepEqual([d.action, d.verdict], ['DUNNO', 'bad_address']);
    }
  });

  test('keys a verified mail server by domain when keyByDomain is on', async () => {
    const p = setup({
      greylist: { keyByDomain: true },
      rules: [{ name: 'all', when: {}, action: 'greylist' }],
    });
    const d = await p.run({ client_name: 'mail-a1.outbound.example.co.uk' });
    assert.equal(d.triplet?.client, 'example.co.uk');
    const dyn = await p.run({ client_name: 'dsl-192-0-2-10.pool.example.net' });
    assert.equal(dyn.triplet?.client, '192.0.2.0/24');
  });

  test('the header stage cannot be END-OF-MESSAGE', () => {
    assert.throws(
      () => parseConfig({ header: { stage: 'END-OF-MESSAGE' as 'DATA' } }),
      /refuses PREPEND at END-OF-MESSAGE/,
    );
  });
});
