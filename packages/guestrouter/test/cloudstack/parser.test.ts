import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloudStackApiError } from '../../src/cloudstack/errors.js';
import { apiErrorFromBody, decodeResponseText, ResponseDecoder } from '../../src/cloudstack/parser.js';
import { serializeErrorResponse, serializeListResponse } from '../../src/cloudstack/serializer.js';

// A listNetworks answer as CloudStack writes it, with non-ASCII names so chunk
// splits land inside multi-byte UTF-8 sequences.
const LIST_NETWORKS = JSON.stringify({
  listnetworksresponse: {
    count: 2,
    network: [
      {
        id: '5d3c9c4c-1f0a-4b43-9a0b-8a0e6f0b1c01',
        name: 'réseau-ü',
        zoneid: 'z1',
        cidr: '203.0.113.0/24',
        gateway: '203.0.113.1',
        netmask: '255.255.255.0',
        vlan: '1234',
        broadcasturi: 'vlan://1234',
        broadcastdomaintype: 'Vlan',
        service: [{ name: 'Dhcp', provider: [{ name: 'VirtualRouter' }] }],
        tags: [],
      },
      { id: 'n2', name: '網絡-😀', zoneid: 'z1', broadcasturi: 'vxlan://5001' },
    ],
  },
});

function decodeInChunks(command: string, status: number, body: Buffer, cuts: number[]) {
  const decoder = new ResponseDecoder(command, status);
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    decoder.push(body.subarray(from, cut));
    from = cut;
  }
  return decoder.finish();
}

function assertApiError(fn: () => unknown, expected: Partial<CloudStackApiError>): CloudStackApiError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CloudStackApiError, `expected CloudStackApiError, got ${String(err)}`);
    for (const [k, v] of Object.entries(expected)) assert.equal(err[k as keyof CloudStackApiError], v, k);
    return err;
  }
  assert.fail('expected a CloudStackApiError');
}

describe('CloudStack response decoder', () => {
  test('decodes a list answer to the object under <command>response', () => {
    const decoded = decodeResponseText('listNetworks', 200, LIST_NETWORKS);
    assert.equal(decoded.kind, 'ok');
    if (decoded.kind !== 'ok') return;
    assert.equal(decoded.responseKey, 'listnetworksresponse');
    assert.equal(decoded.body.count, 2);
    assert.equal((decoded.body.network as { name: string }[])[1]?.name, '網絡-😀');
  });

  test('gives the same result for the body split at every byte boundary', () => {
    const body = Buffer.from(LIST_NETWORKS, 'utf8');
    const whole = decodeResponseText('listNetworks', 200, LIST_NETWORKS);
    for (let cut = 0; cut <= body.length; cut++) {
      assert.deepEqual(decodeInChunks('listNetworks', 200, body, [cut]), whole, `split at byte ${cut}`);
    }
  });

  test('gives the same result when fed one byte at a time', () => {
    const body = Buffer.from(LIST_NETWORKS, 'utf8');
    const cuts = Array.from({ length: body.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(
      decodeInChunks('listNetworks', 200, body, cuts),
      decodeResponseText('listNetworks', 200, LIST_NETWORKS),
    );
  });

  test('treats an empty list answer without count as an empty object', () => {
    const decoded = decodeResponseText('listNetworks', 200, '{ "listnetworksresponse" : { } }');
    assert.deepEqual(decoded, { kind: 'ok', responseKey: 'listnetworksresponse', body: {} });
  });

  test('returns CloudStack error bodies with errorcode, cserrorcode and errortext', () => {
    const body =
      '{"listnetworksresponse":{"uuidList":[],"errorcode":431,"cserrorcode":4350,"errortext":"Unable to execute API command listnetworks due to invalid value"}}';
    const decoded = decodeResponseText('listNetworks', 431, body);
    assert.deepEqual(decoded, {
      kind: 'error',
      responseKey: 'listnetworksresponse',
      error: {
        uuidList: [],
        errorcode: 431,
        cserrorcode: 4350,
        errortext: 'Unable to execute API command listnetworks due to invalid value',
      },
    });
  });

  test('reads errorresponse, the key CloudStack uses when the command is unknown', () => {
    const decoded = decodeResponseText(
      'listBogus',
      401,
      '{"errorresponse":{"uuidList":[],"errorcode":401,"errortext":"unable to verify user credentials and/or request signature"}}',
    );
    assert.equal(decoded.kind, 'error');
  });

  test('names the command, errorcode and errortext in the typed error, and marks 530 transient and 431 not', () => {
    const e431 = apiErrorFromBody('listNetworks', 431, {
      errorcode: 431,
      cserrorcode: 4350,
      errortext: 'bad value',
    });
    assert.match(e431.message, /listNetworks.*errorcode 431.*cserrorcode 4350.*bad value/);
    assert.equal(e431.code, 'api-error');
    assert.equal(e431.transient, false);
    assert.equal(e431.errorCode, 431);
    assert.equal(e431.csErrorCode, 4350);
    const e530 = apiErrorFromBody('listZones', 530, { errorcode: 530, errortext: 'internal' });
    assert.equal(e530.transient, true);
    const e401 = apiErrorFromBody('listZones', 401, { errorcode: 401, errortext: 'unable to verify' });
    assert.equal(e401.code, 'auth-failed');
    assert.equal(e401.transient, false);
    assert.match(e401.message, /CLOUDSTACK_SECRET_KEY/);
  });

  test('reports truncated JSON with status 200 as malformed-response', () => {
    const err = assertApiError(
      () => decodeResponseText('listNetworks', 200, '{"listnetworksresponse":{"count":3,"net'),
      {
        code: 'malformed-response',
        command: 'listNetworks',
        transient: false,
      },
    );
    assert.match(err.message, /listNetworks: malformed response \(HTTP 200\): not JSON/);
  });

  test('reports an empty 200 body, a JSON array and a missing response key as malformed-response', () => {
    assertApiError(() => decodeResponseText('listZones', 200, ''), { code: 'malformed-response' });
    assertApiError(() => decodeResponseText('listZones', 200, '[1,2]'), { code: 'malformed-response' });
    const err = assertApiError(() => decodeResponseText('listZones', 200, '{"somethingelse":{}}'), {
      code: 'malformed-response',
    });
    assert.match(err.message, /no "listzonesresponse" key/);
    assertApiError(() => decodeResponseText('listZones', 200, '{"listzonesresponse":[]}'), {
      code: 'malformed-response',
    });
  });

  test('reports a proxy error page as a transient http-error and a 404 page as permanent', () => {
    assertApiError(() => decodeResponseText('listZones', 502, '<html>Bad Gateway</html>'), {
      code: 'http-error',
      httpStatus: 502,
      transient: true,
    });
    assertApiError(() => decodeResponseText('listZones', 404, '<html>Not Found</html>'), {
      code: 'http-error',
      httpStatus: 404,
      transient: false,
    });
  });

  test('stops collecting past the size limit and reports response-too-large', () => {
    const decoder = new ResponseDecoder('listNetworks', 200, 10);
    assert.equal(decoder.push(Buffer.from('{"listnet')), true);
    assert.equal(decoder.push(Buffer.from('worksresponse":{}}')), false);
    assert.throws(
      () => decoder.finish(),
      (err: unknown) => err instanceof CloudStackApiError && err.code === 'response-too-large',
    );
  });
});

describe('CloudStack response serializer', () => {
  test('writes an empty list as CloudStack does, without count', () => {
    assert.equal(serializeListResponse('listNetworks', 'network', [], 0), '{"listnetworksresponse":{}}');
  });

  test('round-trips a page with the total count through the decoder', () => {
    const text = serializeListResponse(
      'listVirtualMachines',
      'virtualmachine',
      [{ id: 'a' }, { id: 'b' }],
      7,
    );
    const decoded = decodeResponseText('listVirtualMachines', 200, text);
    assert.deepEqual(decoded, {
      kind: 'ok',
      responseKey: 'listvirtualmachinesresponse',
      body: { count: 7, virtualmachine: [{ id: 'a' }, { id: 'b' }] },
    });
  });

  test('round-trips an error answer through the decoder', () => {
    const text = serializeErrorResponse(
      'listzonesresponse',
      401,
      'unable to verify user credentials and/or request signature',
    );
    assert.equal(
      text,
      '{"listzonesresponse":{"uuidList":[],"errorcode":401,"errortext":"unable to verify user credentials and/or request signature"}}',
    );
    const decoded = decodeResponseText('listZones', 401, text);
    assert.equal(decoded.kind, 'error');
  });
});
