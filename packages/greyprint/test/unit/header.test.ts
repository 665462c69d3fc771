import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { osHeaderAction, parseOsLabel, sanitizeHeaderValue } from '../../src/index.js';

describe('X-P0f-OS header', () => {
  test("uses p0f's wording", () =>
    assert.equal(
      osHeaderAction('X-P0f-OS', parseOsLabel('Windows 7 or 8', 'p0f'), 100),
      'PREPEND X-P0f-OS: Windows 7 or 8',
    ));
  test('appends the site secret marker for header_checks when configured', () =>
    assert.equal(
      osHeaderAction('X-P0f-OS', parseOsLabel('Windows XP'), 100, 'abcdefgh12'),
      'PREPEND X-P0f-OS: Windows XP [gp:abcdefgh12]',
    ));
  test("qualifies a Windows client judged a mail server after p0f's wording, before the secret", () =>
    assert.equal(
      osHeaderAction('X-P0f-OS', parseOsLabel('Windows 7 or 8'), 100, 'abcdefgh12', 'verified rDNS'),
      'PREPEND X-P0f-OS: Windows 7 or 8 (mail server: verified rDNS) [gp:abcdefgh12]',
    ));
  test('keeps the mail-server qualifier whole when the label hits the length bound', () =>
    assert.equal(
      osHeaderAction('X-P0f-OS', parseOsLabel('Windows 7 or 8'), 34, undefined, 'verified rDNS'),
      'PREPEND X-P0f-OS: Windo (mail server: verified rDNS)',
    ));
  test('says unknown when no source knew the OS', () =>
    assert.equal(osHeaderAction('X-P0f-OS', undefined, 100), 'PREPEND X-P0f-OS: unknown'));
  test('keeps only printable ASCII and folds white space', () =>
    assert.equal(sanitizeHeaderValue('Win\u00e9dows\r\n  7\tor\u00008', 100), 'Win?dows 7 or?8'));
  test('cuts to the length bound', () =>
    assert.equal(sanitizeHeaderValue('x'.repeat(500), 20), 'x'.repeat(20)));
  test('never yields an empty value', () => assert.equal(sanitizeHeaderValue(' \r\n ', 20), 'unknown'));
});
