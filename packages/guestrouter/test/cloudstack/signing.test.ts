import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildSignedQuery,
  encodeParamValue,
  formatExpires,
  signRequest,
  stringToSign,
} from '../../src/cloudstack/signing.js';

describe('CloudStack request signing', () => {
  test('reproduces the signature of the example in the CloudStack developer guide', () => {
    // The guide's listUsers example; the signature was also recomputed with
    // `printf '%s' "$lower" | openssl dgst -sha1 -hmac "$secret" -binary | base64`.
    const params = {
      apiKey: 'plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg',
      command: 'listUsers',
      response: 'json',
    };
    const secret = 'VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ';
    assert.equal(
      stringToSign(params),
      'apikey=plgwjfzk4gys3momtvmjuvg-x-jlwlnfauj9gabbbf9edm-kaymmailqzzq1elzlyq_u38zcm0bewzgudp66mg&command=listusers&response=json',
    );
    assert.equal(signRequest(params, secret), 'TTpdDq/7j/J58XCRHomKoQXEQds=');
  });

  test('signs a version 3 request with reserved and non-ASCII characters like the management server', () => {
    const params = {
      response: 'json',
      command: 'listNetworks',
      apiKey: 'gc-Key_1',
      signatureversion: '3',
      expires: '2026-11-25T05:00:00+0000',
      keyword: "a b*c~d!e'f(g)h",
      listall: 'true',
      name: 'réseau/ü=1',
      page: '2',
      pagesize: '500',
    };
    // Encoded by hand following java.net.URLEncoder (space as %20), then lower-cased.
    const expected =
      'apikey=gc-key_1&command=listnetworks&expires=2026-11-25t05%3a00%3a00%2b0000' +
      '&keyword=a%20b*c%7ed%21e%27f%28g%29h&listall=true&name=r%c3%a9seau%2f%c3%bc%3d1' +
      '&page=2&pagesize=500&response=json&signatureversion=3';
    assert.equal(stringToSign(params), expected);
    // printf '%s' "$expected" | openssl dgst -sha1 -hmac 'gc-Secret/+=' -binary | base64
    assert.equal(signRequest(params, 'gc-Secret/+='), '6rzhGASXQsS4O9Aw1mZNjqeVv/A=');
  });

  test('leaves out an existing signature parameter and sorts by lower-cased name', () => {
    const signed = stringToSign({ Zeta: '1', alpha: '2', signature: 'old', Beta: '3' });
    assert.equal(signed, 'alpha=2&beta=3&zeta=1');
  });

  test('encodes exactly the characters java.net.URLEncoder encodes', () => {
    for (let code = 0x20; code <= 0x7e; code++) {
      const c = String.fromCharCode(code);
      const unreserved = /[A-Za-z0-9.*_-]/.test(c);
      const expected =
        c === ' ' ? '%20' : unreserved ? c : `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
      assert.equal(encodeParamValue(c), expected, `character ${JSON.stringify(c)}`);
    }
  });

  test('encodes non-ASCII as UTF-8 bytes and refuses lone surrogates', () => {
    assert.equal(encodeParamValue('é'), '%C3%A9');
    assert.equal(encodeParamValue('漢'), '%E6%BC%A2');
    assert.equal(encodeParamValue('😀'), '%F0%9F%98%80');
    assert.throws(() => encodeParamValue('a\ud800b'), /not valid Unicode/);
  });

  test('formats expires as CloudStack documents it, in UTC', () => {
    assert.equal(formatExpires(new Date(Date.UTC(2026, 10, 25, 5, 7, 9))), '2026-11-25T05:07:09+0000');
  });

  test('builds a query whose decoded values round-trip and whose signature is URL-encoded', () => {
    const query = buildSignedQuery({
      command: 'listNetworks',
      params: { keyword: 'a b+c', listall: 'true' },
      apiKey: 'key',
      secretKey: 'secret',
      expires: new Date(Date.UTC(2030, 0, 1)),
    });
    assert.doesNotMatch(query, /\+/, 'spaces and plus signs are percent-encoded');
    const decoded = new URLSearchParams(query);
    assert.equal(decoded.get('keyword'), 'a b+c');
    assert.equal(decoded.get('command'), 'listNetworks');
    assert.equal(decoded.get('response'), 'json');
    assert.equal(decoded.get('signatureversion'), '3');
    assert.equal(decoded.get('expires'), '2030-01-01T00:00:00+0000');
    const { signature, ...rest } = Object.fromEntries(decoded);
    assert.equal(signature, signRequest(rest, 'secret'));
  });

  test('does not let caller parameters replace command, apiKey or response', () => {
    const query = buildSignedQuery({
      command: 'listZones',
      params: { command: 'deleteZone', apiKey: 'evil', response: 'xml' },
      apiKey: 'key',
      secretKey: 'secret',
      expires: new Date(0),
    });
    const decoded = new URLSearchParams(query);
    assert.deepEqual(decoded.getAll('command'), ['listZones']);
    assert.deepEqual(decoded.getAll('apiKey'), ['key']);
    assert.deepEqual(decoded.getAll('response'), ['json']);
  });
});
