import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ParsedMessage,
  PolicyParser,
  PolicyReplyParser,
  serializeReply,
  serializeRequest,
} from '../../src/index.js';

const RCPT = serializeRequest({
  request: 'smtpd_access_policy',
  protocol_state: 'RCPT',
  protocol_name: 'ESMTP',
  client_address: '192.0.2.10',
  client_name: 'mail.example.com',
  reverse_client_name: 'mail.example.com',
  helo_name: 'mail.example.com',
  sender: 'alice@example.com',
  recipient: 'bob@example.net',
  instance: '123.456.7',
  some_future_attribute: 'ignored=but kept',
});

function parseAll(chunks: Buffer[], limits = {}): ParsedMessage[] {
  const out: ParsedMessage[] = [];
  const p = new PolicyParser((m) => out.push(m), limits);
  for (const c of chunks) p.feed(c);
  return out;
}

/** Every way to cut the input in two, and byte by byte. */
function splits(input: Buffer): Buffer[][] {
  const out: Buffer[][] = [[input]];
  for (let i = 1; i < input.length; i++) out.push([input.subarray(0, i), input.subarray(i)]);
  out.push([...input].map((b) => Buffer.from([b])));
  return out;
}

const summary = (ms: ParsedMessage[]) =>
  ms.map((m) =>
    m.kind === 'request'
      ? { kind: m.kind, attrs: [...m.request.attributes], latin1: m.request.latin1 }
      : { kind: m.kind, code: m.error.code },
  );

describe('policy request parser', () => {
  test('parses a request with typed fields and keeps unknown attributes', () => {
    const [m] = parseAll([Buffer.from(RCPT)]);
    assert.equal(m?.kind, 'request');
    if (m?.kind !== 'request') return;
    assert.equal(m.request.protocolState, 'RCPT');
    assert.equal(m.request.clientAddress, '192.0.2.10');
    assert.equal(m.request.clientName, 'mail.example.com');
    assert.equal(m.request.sender, 'alice@example.com');
    assert.equal(m.request.recipient, 'bob@example.net');
    assert.equal(m.request.attributes.get('some_future_attribute'), 'ignored=but kept');
  });

  test('a repeated attribute keeps its last value, in the typed fields and in the map alike', () => {
    const text =
      'request=smtpd_access_policy\r\nsender=first@example.org\nclient_address=192.0.2.1\n' +
      'x_sender=not the sender\nsender=last@example.org\r\nrecipients=not the recipient\n' +
      'recipient=\nhelo_name=a=b\nprotocol_state=rcpt\n\n';
    const [m] = parseAll([Buffer.from(text)]);
    assert.equal(m?.kind, 'request');
    if (m?.kind !== 'request') return;
    const r = m.request;
    assert.equal(r.sender, 'last@example.org');
    assert.equal(r.attributes.get('sender'), 'last@example.org');
    assert.equal(r.recipient, '');
    assert.equal(r.heloName, 'a=b', 'only the first = separates name and value');
    assert.equal(r.protocolState, 'RCPT');
    assert.equal(r.clientName, 'unknown', 'absent client_name reads as Postfix writes it');
    assert.deepEqual(
      [...r.attributes.keys()],
      [
        'request',
        'sender',
        'client_address',
        'x_sender',
        'recipients',
        'recipient',
        'helo_name',
        'protocol_state',
      ],
    );
  });

  test('gives the same result for every split of several requests, bad ones included', () => {
    const bad = 'request=smtpd_access_policy\nclient_address=1.2.3.4\nnot a pair\n\n';
    const nul = 'request=smtpd_access_policy\nsender=a\0b@example.com\n\n';
    const latin1 = Buffer.concat([
      Buffer.from('request=smtpd_access_policy\nprotocol_state=RCPT\nsender=caf'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('@example.com\n\n'),
    ]);
    const missing = 'protocol_state=RCPT\nclient_address=192.0.2.1\n\n';
    const input = Buffer.concat([
      Buffer.from(RCPT),
      Buffer.from(bad),
      Buffer.from(nul),
      latin1,
      Buffer.from(missing),
      Buffer.from(RCPT.replaceAll('\n', '\r\n')),
    ]);
    const expected = summary(parseAll([input]));
    assert.deepEqual(
      expected.map((e) => (e.kind === 'request' ? 'request' : e.code)),
      ['request', 'malformed_line', 'nul_byte', 'request', 'missing_request', 'request'],
    );
    for (const chunks of splits(input)) assert.deepEqual(summary(parseAll(chunks)), expected);
  });

  test('decodes valid UTF-8 as UTF-8 and anything else byte for byte as latin1', () => {
    const utf8 = parseAll([Buffer.from('request=smtpd_access_policy\nsender=jösé@exämple.com\n\n')]);
    const bad = parseAll([
      Buffer.concat([
        Buffer.from('request=smtpd_access_policy\nsender=a'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('@x\n\n'),
      ]),
    ]);
    assert.equal(utf8[0]?.kind === 'request' && utf8[0].request.sender, 'jösé@exämple.com');
    assert.equal(bad[0]?.kind === 'request' && bad[0].request.sender, 'a\u00c3(@x');
    assert.equal(bad[0]?.kind === 'request' && bad[0].request.latin1, true);
  });

  test('rejects an over-long line once and stays in step for the next request, at every split', () => {
    const long = `request=smtpd_access_policy\nsender=${'x'.repeat(300)}@example.com\nrecipient=a@b\n\n`;
    const input = Buffer.from(long + RCPT);
    for (const chunks of splits(input)) {
      const ms = parseAll(chunks, { maxLineBytes: 100 });
      assert.deepEqual(
        ms.map((m) => (m.kind === 'request' ? 'request' : m.error.code)),
        ['line_too_long', 'request'],
      );
    }
  });

  test('rejects too many attributes and too large a request', () => {
    let many = 'request=smtpd_access_policy\n';
    for (let i = 0; i < 20; i++) many += `a${i}=x\n`;
    const tooMany = parseAll([Buffer.from(`${many}\n`)], { maxAttributes: 10 });
    assert.equal(tooMany[0]?.kind === 'error' && tooMany[0].error.code, 'too_many_attributes');
    assert.equal(tooMany[0]?.kind === 'error' && tooMany[0].error.limit, 10);
    const huge = `${many}${'b=y\n'.repeat(100)}\n`;
    const big = parseAll([Buffer.from(huge + RCPT)], { maxRequestBytes: RCPT.length + 10 });
    assert.deepEqual(
      big.map((m) => (m.kind === 'request' ? 'request' : m.error.code)),
      ['request_too_large', 'request'],
    );
  });

  test('names a request that is not smtpd_access_policy', () => {
    const [m] = parseAll([Buffer.from('request=junk\n\n')]);
    assert.equal(m?.kind === 'error' && m.error.code, 'wrong_request');
  });

  test('reports whether a request is half received', () => {
    const p = new PolicyParser(() => undefined);
    assert.equal(p.inRequest, false);
    p.feed(Buffer.from('request=smtpd_access_policy\nclient_addr'));
    assert.equal(p.inRequest, true);
    p.feed(Buffer.from('ess=192.0.2.1\n\n'));
    assert.equal(p.inRequest, false);
  });
});

describe('policy reply serializer', () => {
  test('writes one action line and an empty line, with line breaks made harmless', () => {
    assert.equal(serializeReply('DUNNO'), 'action=DUNNO\n\n');
    assert.equal(serializeReply('DEFER_IF_PERMIT a\nb\r\0c'), 'action=DEFER_IF_PERMIT a b  c\n\n');
  });

  test('round-trips through the reply parser at every split', () => {
    const input = Buffer.from(serializeReply('DUNNO') + serializeReply('PREPEND X-P0f-OS: Windows XP'));
    for (const chunks of splits(input)) {
      const got: string[] = [];
      const p = new PolicyReplyParser((a) => got.push(a));
      for (const c of chunks) p.feed(c);
      assert.deepEqual(got, ['DUNNO', 'PREPEND X-P0f-OS: Windows XP']);
    }
  });

  test('decodes a multibyte character split across chunks at every byte', () => {
    const text = 'DEFER_IF_PERMIT Grüße, 灰色リスト 🙂 retry later';
    const input = Buffer.from(serializeReply(text));
    for (const chunks of splits(input)) {
      const got: string[] = [];
      const p = new PolicyReplyParser((a) => got.push(a));
      for (const c of chunks) p.feed(c);
      assert.deepEqual(got, [text]);
    }
  });

  test('refuses a reply line longer than its limit', () => {
    const p = new PolicyReplyParser(() => undefined, 64);
    assert.throws(() => p.feed(Buffer.from(`action=${'x'.repeat(100)}`)), /longer than 64 bytes/);
  });
});
