import assert from 'node:assert/strict';
import { PolicyParser, type PolicyRequest, serializeRequest } from '../../src/index.js';

/** A RCPT request from a desktop-looking client, through the real codec, with `over` applied. */
export function policyRequest(over: Record<string, string> = {}): PolicyRequest {
  let out: PolicyRequest | undefined;
  new PolicyParser((m) => {
    if (m.kind === 'request') out = m.request;
  }).feed(
    Buffer.from(
      serializeRequest({
        request: 'smtpd_access_policy',
        protocol_state: 'RCPT',
        client_address: '192.0.2.10',
        client_name: 'unknown',
        reverse_client_name: 'unknown',
        helo_name: 'pc.example',
        sender: 'a@example.org',
        recipient: 'b@example.net',
        instance: 'i1',
        ...over,
      }),
    ),
  );
  assert.ok(out);
  return out;
}
