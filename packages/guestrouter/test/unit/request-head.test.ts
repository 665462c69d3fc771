import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_REQUEST_HEAD, parseRequestHead, responseBytes } from '../../src/metadata/request-head.js';

const parse = (text: string) => parseRequestHead(Buffer.from(text, 'latin1'));

describe('meta data request heads', () => {
  test('a head split at every byte is incomplete until its blank line, then complete', () => {
    const whole = 'GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: data-server\r\nAccept: */*\r\n\r\n';
    for (let at = 0; at < whole.length; at++) {
      assert.equal(parse(whole.slice(0, at)).kind, 'incomplete', `cut at ${at}`);
    }
    assert.deepEqual(parse(whole), {
      kind: 'complete',
      head: { method: 'GET', target: '/latest/meta-data/instance-id', version: '1.1' },
    });
  });

  test('HTTP/1.0 and bare LF line ends (wget, hand-typed requests) are accepted', () => {
    const r = parse('HEAD /latest/user-data HTTP/1.0\nUser-Agent: Wget\n\n');
    assert.deepEqual(r, {
      kind: 'complete',
      head: { method: 'HEAD', target: '/latest/user-data', version: '1.0' },
    });
  });

  test('garbage, bad header lines, bodies and other versions get 400', () => {
    for (const text of [
      'NONSENSE\r\n\r\n',
      'GET /x HTTP/2.0\r\n\r\n',
      'GET  /x HTTP/1.1\r\n\r\n',
      'get /x HTTP/1.1\r\n\r\n',
      'GET /x HTTP/1.1\r\nno colon here\r\n\r\n',
      'GET /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello',
      'GET /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n',
      'GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
    ]) {
      const r = parse(text);
      assert.equal(r.kind, 'error', JSON.stringify(text));
      assert.equal(r.kind === 'error' && r.status, 400, JSON.stringify(text));
    }
    assert.equal(parse('GET /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n').kind, 'complete');
  });

  test('a head longer than the limit gets 431, whether or not it has ended', () => {
    const long = `GET /${'a'.repeat(MAX_REQUEST_HEAD)} HTTP/1.1\r\n`;
    assert.deepEqual(parse(long).kind === 'error' && parse(long), {
      kind: 'error',
      status: 431,
      why: 'request head too large',
    });
    assert.equal((parse(`${long}\r\n`) as { status?: number }).status, 431);
  });

  test('a response is one buffer with its length, Connection: close, and no body for HEAD', () => {
    const r = responseBytes(200, 'abc\n').toString('latin1');
    assert.equal(
      r,
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabc\n',
    );
    const h = responseBytes(405, 'no\n', { head: true, extraHeaders: 'Allow: GET, HEAD\r\n' }).toString(
      'latin1',
    );
    assert.match(h, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(h, /Content-Length: 3\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n$/);
  });
});
