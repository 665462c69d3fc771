import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  osHeaderAction,
  parseOsLabel,
  REPLY_TEXT_MAX,
  sanitizeHeaderValue,
  sanitizeReplyText,
} from '../../src/index.js';

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

describe('reply text', () => {
  test('passes an ordinary text unchanged', () =>
    assert.equal(
      sanitizeReplyText('Greylisted by greyprint, retry in 300 seconds'),
      'Greylisted by greyprint, retry in 300 seconds',
    ));
  test('replaces control bytes and non-ASCII, folds white space, bounds the length', () => {
    assert.equal(sanitizeReplyText('a\u0001b\u001b[31mc\u007f d\r\n\te é'), 'a?b?[31mc? d e ?');
    const long = sanitizeReplyText(`retry for ${'x'.repeat(5000)}.example`);
    assert.equal(long.length, REPLY_TEXT_MAX);
    assert.match(long, /^[\x20-\x7e]+$/);
  });
});
