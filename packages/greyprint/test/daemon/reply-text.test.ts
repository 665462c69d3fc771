import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { serializeRequest } from '../../src/index.js';
import { PolicyConnection, rcpt, startServe } from '../helpers/daemon.js';

describe('reply texts that carry request data', () => {
  test('{recipient_domain} with control bytes, non-ASCII and 4 KB becomes printable ASCII of at most 256 characters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpc-reply-'));
    const config = join(dir, 'greyprint.json');
    writeFileSync(
      config,
      JSON.stringify({
        greylist: { text: 'Greylisted for {recipient_domain} ({client}), retry in {retry} s' },
      }),
    );
    const d = await startServe(['--config', config, '--os-static', '192.0.2.0/24=Windows XP']);
    try {
      const c = await PolicyConnection.open(d.host, d.port);
      const request = serializeRequest(rcpt({ client_address: '192.0.2.7' })).replace(
        /^recipient=.*$/m,
        'recipient=bob@RECIPIENT',
      );
      const [head, tail] = request.split('RECIPIENT') as [string, string];
      const domain = Buffer.concat([
        Buffer.from('ex\u0001am\u001b[2Jple'),
        Buffer.from([0x7f, 0xe9, 0x08, 0x0d]),
        Buffer.from(`.${'d'.repeat(3900)}.example`),
      ]);
      c.write(Buffer.concat([Buffer.from(head), domain, Buffer.from(tail)]));
      const reply = await c.next();
      assert.match(reply, /^DEFER_IF_PERMIT Greylisted for ex\?am\?\[2jple\?\?\? ?\.d+$/);
      const text = reply.slice('DEFER_IF_PERMIT '.length);
      assert.ok(text.length <= 256, `${text.length} characters`);
      assert.match(text, /^[\x20-\x7e]+$/);
      // An ordinary request on the same connection still gets the whole text.
      assert.equal(
        await c.ask(rcpt({ client_address: '192.0.2.8', recipient: 'bob@example.net' })),
        'DEFER_IF_PERMIT Greylisted for example.net (192.0.2.0/24), retry in 300 s',
      );
      c.close();
    } finally {
      await d.stop();
    }
  });
});
