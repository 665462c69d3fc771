import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  clientKey,
  normalizeRecipient,
  normalizeSender,
  parseAddress,
  registeredDomain,
} from '../../src/index.js';

describe('sender normalisation (postgrey rules plus SRS)', () => {
  const cases: [string, string, string][] = [
    ['lower-cases', 'Alice@Example.COM', 'alice@example.com'],
    ['keeps the null sender empty', '', ''],
    ['removes +extension', 'bob+list-42@example.org', 'bob@example.org'],
    ['replaces all-digit words with #', 'bounce-12345-678@lists.example.org', 'bounce-#-#@lists.example.org'],
    ['leaves digits inside words', 'user42@example.org', 'user42@example.org'],
    ['reduces BATV prvs=tag=local', 'prvs=0123456789=carol@example.org', 'carol@example.org'],
    ['reduces the older BATV order prvs=local=tag', 'prvs=carol=0123456789@example.org', 'carol@example.org'],
    ['reduces btv1==tag==local', 'btv1==1a2b3c4d5e6==dave@example.org', 'dave@example.org'],
    [
      'reduces SRS0 to the original address',
      'SRS0=HHH=TT=origin.example=erin@forwarder.example',
      'erin@origin.example',
    ],
    [
      'reduces SRS1 to the original address',
      'SRS1=HHH=fwd1.example==HHH=TT=origin.example=frank@fwd2.example',
      'frank@origin.example',
    ],
    ['combines BATV, +ext and digits', 'prvs=0123456789=news+123@example.org', 'news@example.org'],
  ];
  for (const [name, input, want] of cases) {
    test(`${name}: ${input || '<>'} -> ${want || '<>'}`, () => assert.equal(normalizeSender(input), want));
  }
  test('lower-cases the recipient only', () =>
    assert.equal(normalizeRecipient('Bob+X@Example.NET'), 'bob+x@example.net'));
});

describe('client keys', () => {
  const opts = { ipv4Prefix: 24, ipv6Prefix: 64, keyByDomain: false };
  const addr = (s: string) => {
    const a = parseAddress(s);
    assert.ok(a, s);
    return a;
  };
  test('keys IPv4 clients by /24', () =>
    assert.equal(clientKey(addr('192.0.2.77'), undefined, opts), '192.0.2.0/24'));
  test('keys IPv6 clients by /64', () =>
    assert.equal(clientKey(addr('2001:db8:1:2:3::4'), undefined, opts), '2001:db8:1:2::/64'));
  test('folds IPv4-mapped IPv6 to IPv4', () =>
    assert.equal(clientKey(addr('::ffff:192.0.2.9'), undefined, opts), '192.0.2.0/24'));
  test('uses other prefix lengths when configured', () =>
    assert.equal(clientKey(addr('192.0.2.77'), undefined, { ...opts, ipv4Prefix: 32 }), '192.0.2.77/32'));
  test('keys a verified mail server by registered domain when asked', () => {
    const o = { ...opts, keyByDomain: true };
    assert.equal(
      clientKey(addr('192.0.2.7'), 'mail-eopbgr.outbound.protection.outlook.com', o),
      'outlook.com',
    );
    assert.equal(clientKey(addr('192.0.2.7'), undefined, o), '192.0.2.0/24');
  });
  test('the registered domain follows the Public Suffix List', () => {
    assert.equal(registeredDomain('mx1.mail.example.co.uk'), 'example.co.uk');
    assert.equal(registeredDomain('smtp.example.com.au.'), 'example.com.au');
    assert.equal(registeredDomain('a.b.example.de'), 'example.de');
    assert.equal(registeredDomain('Example.COM'), 'example.com');
    // suffixes no short list of generic labels knows
    assert.equal(registeredDomain('mail.example.gv.at'), 'example.gv.at');
    assert.equal(registeredDomain('mx.school.k12.ca.us'), 'school.k12.ca.us');
    // a wildcard rule (*.kawasaki.jp) and its exception (!city.kawasaki.jp)
    assert.equal(registeredDomain('smtp.example.kawasaki.jp'), 'smtp.example.kawasaki.jp');
    assert.equal(registeredDomain('smtp.city.kawasaki.jp'), 'city.kawasaki.jp');
    // the private section (platforms handing out subdomains) is not used: the operator's domain
    assert.equal(registeredDomain('mx.customer.github.io'), 'github.io');
  });
  test('a name the list cannot split has no registered domain, and the key falls back to the network', () => {
    for (const name of ['localhost', 'co.uk', '192.0.2.1', ''])
      assert.equal(registeredDomain(name), undefined, name);
    assert.equal(clientKey(addr('192.0.2.7'), 'co.uk', { ...opts, keyByDomain: true }), '192.0.2.0/24');
  });
});
