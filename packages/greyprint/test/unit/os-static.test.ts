import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatOsLabel, parseOsLabel, StaticOsSource } from '../../src/index.js';

describe('OS label parsing', () => {
  const cases: [string, string, string, string][] = [
    ['Windows 7 or 8', 'win', 'Windows', '7 or 8'],
    ['Windows XP', 'win', 'Windows', 'XP'],
    ['Windows Server 2019', 'win', 'Windows', 'Server 2019'],
    ['Linux 3.11 and newer', 'unix', 'Linux', '3.11 and newer'],
    ['FreeBSD', 'unix', 'FreeBSD', ''],
    ['Mac OS X 10.x', 'unix', 'Mac OS X', '10.x'],
    ['Nintendo 3DS', 'other', 'Nintendo 3DS', ''],
    ['Solaris 10', 'unix', 'Solaris', '10'],
    ['win:Windows:NT kernel', 'win', 'Windows', 'NT kernel'],
    ['s:unix:Linux:2.6.x', 'unix', 'Linux', '2.6.x'],
  ];
  for (const [text, cls, name, flavor] of cases) {
    test(`"${text}" is ${cls}/${name}/${flavor || '-'}`, () => {
      const l = parseOsLabel(text);
      assert.deepEqual([l.class, l.name, l.flavor], [cls, name, flavor]);
    });
  }
  test('formats back in p0f wording', () => {
    assert.equal(formatOsLabel(parseOsLabel('Windows 7 or 8')), 'Windows 7 or 8');
    assert.equal(formatOsLabel(parseOsLabel('FreeBSD')), 'FreeBSD');
    assert.equal(formatOsLabel(undefined), 'unknown');
  });
  test('rejects an empty label', () => assert.throws(() => parseOsLabel('  '), /empty OS label/));
});

describe('static OS source', () => {
  const src = new StaticOsSource([
    '192.0.2.0/24 = Windows 7 or 8',
    '192.0.2.128/25=Linux 3.11 and newer',
    '192.0.2.200 = Windows Server 2016',
    '2001:db8::/32 = FreeBSD',
  ]);
  test('refuses a pinned label that is not printable ASCII (it reaches reply texts as written)', () => {
    assert.throws(() => new StaticOsSource(['192.0.2.0/24=Windows\u0007XP']), /must be printable ASCII/);
    assert.throws(() => new StaticOsSource(['192.0.2.0/24=Windöws']), /must be printable ASCII/);
  });

  test('the longest prefix wins', async () => {
    assert.equal((await src.lookup('192.0.2.1'))?.name, 'Windows');
    assert.equal((await src.lookup('192.0.2.129'))?.name, 'Linux');
    assert.equal((await src.lookup('192.0.2.200'))?.flavor, 'Server 2016');
  });
  test('answers IPv6 and IPv4-mapped addresses', () => {
    assert.equal(src.lookupSync('2001:db8::25')?.name, 'FreeBSD');
    assert.equal(src.lookupSync('::ffff:192.0.2.7')?.flavor, '7 or 8');
  });
  test('does not know other addresses or non-addresses', () => {
    assert.equal(src.lookupSync('203.0.113.1'), undefined);
    assert.equal(src.lookupSync('not-an-ip'), undefined);
  });
  test('labels carry the source name', () => assert.equal(src.lookupSync('192.0.2.1')?.source, 'static'));
  test('rejects an entry without = or with a bad CIDR, naming the entry', () => {
    assert.throws(() => new StaticOsSource(['192.0.2.0/24 Windows']), /is not CIDR=LABEL/);
    assert.throws(() => new StaticOsSource(['192.0.2.0/33=Linux']), /192\.0\.2\.0\/33/);
  });
});
