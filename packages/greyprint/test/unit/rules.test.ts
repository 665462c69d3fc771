import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ClientFacts,
  compileDynamicPatterns,
  compileRules,
  DEFAULT_DYNAMIC_PATTERNS,
  deriveFacts,
  parseAddress,
  parseConfig,
  parseOsLabel,
} from '../../src/index.js';

const isDynamic = compileDynamicPatterns(DEFAULT_DYNAMIC_PATTERNS);
const seed = compileRules(parseConfig({}).rules);

function facts(
  os: string | undefined,
  clientName = 'unknown',
  extra: Partial<ClientFacts> = {},
): ClientFacts {
  const address = parseAddress('192.0.2.10');
  assert.ok(address);
  return {
    os: os === undefined ? undefined : parseOsLabel(os, 'p0f'),
    address,
    clientName,
    reverseClientName: clientName,
    helo: 'client.example',
    sender: 'a@example.org',
    recipient: 'b@example.net',
    ...extra,
  };
}

const decideSeed = (f: ClientFacts) => seed.match(f, deriveFacts(f, isDynamic)).action;

describe('default (seed) rule set', () => {
  test('greylists Windows XP without a mail-server name', () =>
    assert.equal(decideSeed(facts('Windows XP')), 'greylist'));
  test('greylists Windows 7 or 8', () => assert.equal(decideSeed(facts('Windows 7 or 8')), 'greylist'));
  test('greylists Windows NT kernel (generic) too', () =>
    assert.equal(decideSeed(facts('Windows NT kernel')), 'greylist'));
  test('accepts a label naming a Windows Server edition', () =>
    assert.equal(decideSeed(facts('Windows Server 2019')), 'accept'));
  test('accepts Windows with a verified non-dynamic name (mail.example.com)', () =>
    assert.equal(decideSeed(facts('Windows 7 or 8', 'mail.example.com')), 'accept'));
  test('greylists Windows whose verified name is a dynamic pool (dsl-192-0-2-1.pool.example.net)', () =>
    assert.equal(decideSeed(facts('Windows 7 or 8', 'dsl-192-0-2-1.pool.example.net')), 'greylist'));
  test('greylists Windows whose unverified reverse name looks like a mail server', () =>
    assert.equal(
      decideSeed(facts('Windows XP', 'unknown', { reverseClientName: 'mail.example.com' })),
      'greylist',
    ));
  test('accepts Linux', () => assert.equal(decideSeed(facts('Linux 3.11 and newer')), 'accept'));
  test('accepts Mac OS X', () => assert.equal(decideSeed(facts('Mac OS X 10.x')), 'accept'));
  test('accepts an unknown OS', () => assert.equal(decideSeed(facts(undefined)), 'accept'));
});

describe('dynamic name patterns', () => {
  const dynamic = [
    'dsl-192-0-2-1.pool.example.net',
    'c0000201.dyn.example.net',
    'host-1-2-3-4.isp.example',
    '1.2.0.192.in.example.net',
    'ppp123.example.net',
    'cable-45.example.net',
    'dhcp.example.net',
    '3221225985.example.net',
    'cpe-1-2-3.example.com',
  ];
  const servers = [
    'mail.example.com',
    'mx1.example.org',
    'smtp-out.example.net',
    'outbound.protection.outlook.com',
  ];
  for (const n of dynamic) test(`${n} looks dynamic`, () => assert.equal(isDynamic(n), true));
  for (const n of servers) test(`${n} does not look dynamic`, () => assert.equal(isDynamic(n), false));
});

describe('rule conditions', () => {
  const rules = compileRules(
    parseConfig({
      rules: [
        { name: 'pinned-net', when: { client: ['198.51.100.0/24'] }, action: 'accept' },
        {
          name: 'tag-bulk',
          when: { sender: ['*@bulk.example'], osClass: ['unix'] },
          action: 'tag',
          tag: 'bulk',
        },
        { name: 'helo-regex', when: { helo: ['/^\\[?\\d+\\./'] }, action: 'greylist' },
        { name: 'old-windows', when: { osName: ['Windows'], osFlavor: ['XP', '2000'] }, action: 'greylist' },
        { name: 'unknown-os', when: { osKnown: false }, action: 'tag', tag: 'os unknown' },
      ],
    }).rules,
  );
  const m = (f: ClientFacts) => rules.match(f, deriveFacts(f, isDynamic));
  test('first match wins in order', () => {
    const f = facts('Windows XP', 'unknown', {
      address: parseAddress('198.51.100.3') ?? facts(undefined).address,
    });
    assert.equal(m(f).rule, 'pinned-net');
  });
  test('conditions inside a rule all have to hold', () => {
    assert.equal(m(facts('Linux 2.2.x-3.x', 'unknown', { sender: 'x@bulk.example' })).rule, 'tag-bulk');
    assert.equal(m(facts('Windows 7 or 8', 'unknown', { sender: 'x@bulk.example' })).rule, 'none');
  });
  test('regex and glob patterns both work', () => {
    assert.equal(m(facts('Linux', 'unknown', { helo: '[192.0.2.1]' })).rule, 'helo-regex');
    assert.equal(m(facts('Windows XP')).rule, 'old-windows');
    assert.equal(m(facts('Windows 7 or 8')).rule, 'none');
  });
  test('osKnown false matches when no source knew the OS', () => {
    const r = m(facts(undefined));
    assert.equal(r.rule, 'unknown-os');
    assert.equal(r.tag, 'os unknown');
  });
});
