import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { RequestVerifier } from '../../src/extension/signing.js';
import {
  PASSWORD_SYNC_PATH,
  PasswordOutbox,
  PasswordSyncError,
  type PasswordSyncMessage,
  type PeerSender,
  parsePasswordSyncMessage,
  passwordDigest,
  ReplicatedPasswordStore,
} from '../../src/ha/password-sync.js';

const SECRET = 'a-secret-of-16-chars';

function pair(send: PeerSender) {
  const dir = mkdtempSync(join(tmpdir(), 'gr-pwsync-'));
  const outbox = new PasswordOutbox(join(dir, 'outbox'), ['http://peer:8089'], SECRET, send);
  const store = new ReplicatedPasswordStore(join(dir, 'passwords'), 60_000, outbox, join(dir, 'acked'));
  return { dir, outbox, store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('password replication between the routers of a pair', () => {
  test('messages parse; anything else is refused with the reason', () => {
    assert.deepEqual(parsePasswordSyncMessage('{"op":"put","vmId":"vm-1","password":"pw"}'), {
      op: 'put',
      vmId: 'vm-1',
      password: 'pw',
    });
    const d = passwordDigest('pw');
    assert.deepEqual(parsePasswordSyncMessage(JSON.stringify({ op: 'delete', vmId: 'vm-1', digest: d })), {
      op: 'delete',
      vmId: 'vm-1',
      digest: d,
    });
    for (const bad of [
      '',
      'null',
      '{"op":"put","vmId":"v"}',
      '{"op":"delete","vmId":"v","digest":"x"}',
      '{"op":"x","vmId":"v"}',
    ])
      assert.ok(parsePasswordSyncMessage(bad) instanceof PasswordSyncError, bad);
  });

  test('put and acknowledgement are queued in order, signed, sent once, and kept while the peer is down', async () => {
    const sent: PasswordSyncMessage[] = [];
    let up = false;
    const verifier = new RequestVerifier(SECRET);
    const p = pair(async (url, headers, body) => {
      assert.equal(new URL(url).pathname, PASSWORD_SYNC_PATH);
      assert.equal(verifier.verify(headers, PASSWORD_SYNC_PATH, body).ok, true);
      if (!up) return undefined;
      sent.push(JSON.parse(body) as PasswordSyncMessage);
      return 'stored';
    });
    try {
      await p.store.put('vm-1', 'first');
      assert.equal(await p.store.get('vm-1'), 'first');
      await p.store.delete('vm-1'); // the VM acknowledged it
      assert.equal(await p.outbox.flush(), 2, 'both kept while the peer is down');
      up = true;
      await Promise.all([p.outbox.flush(), p.outbox.flush()]);
      assert.equal(await p.outbox.flush(), 0);
      assert.deepEqual(sent, [
        { op: 'put', vmId: 'vm-1', password: 'first' },
        { op: 'delete', vmId: 'vm-1', digest: passwordDigest('first') },
      ]);
      assert.deepEqual(readdirSync(join(p.dir, 'outbox')), []);
    } finally {
      p.cleanup();
    }
  });

  test("the peer's delete removes only the acknowledged password; a late copy of it is refused", async () => {
    const p = pair(async () => 'ok');
    try {
      assert.equal(await p.store.applyFromPeer({ op: 'put', vmId: 'vm-1', password: 'old' }), 'stored');
      await p.store.put('vm-1', 'new'); // a reset here since
      assert.equal(
        await p.store.applyFromPeer({ op: 'delete', vmId: 'vm-1', digest: passwordDigest('old') }),
        'kept',
      );
      assert.equal(await p.store.get('vm-1'), 'new');
      assert.equal(
        await p.store.applyFromPeer({ op: 'delete', vmId: 'vm-1', digest: passwordDigest('new') }),
        'deleted',
      );
      assert.equal(await p.store.get('vm-1'), undefined);
      assert.equal(
        await p.store.applyFromPeer({ op: 'put', vmId: 'vm-1', password: 'new' }),
        'already-acknowledged',
      );
      assert.equal(await p.store.get('vm-1'), undefined);
    } finally {
      p.cleanup();
    }
  });
});

describe('which router is master, from both routers', () => {
  test('own role and the peer’s last word; a silent peer’s word is not trusted', async () => {
    const { whoIsMaster } = await import('../../src/ha/wiring.js');
    assert.equal(whoIsMaster('MASTER', 'BACKUP', true), 'this');
    assert.equal(whoIsMaster('BACKUP', 'MASTER', true), 'peer');
    assert.equal(whoIsMaster('MASTER', 'MASTER', true), 'both');
    assert.equal(whoIsMaster('BACKUP', 'BACKUP', true), 'none');
    assert.equal(whoIsMaster('BACKUP', 'MASTER', false), 'unknown');
    assert.equal(whoIsMaster('MASTER', 'MASTER', false), 'this');
  });

  test('checkPeer: an unreachable peer keeps its last-seen time', async () => {
    const { checkPeer } = await import('../../src/ha/password-sync.js');
    const seen = await checkPeer(
      'http://peer:8089',
      SECRET,
      async () => '{"routerId":"rb","roles":{"gr_1":"MASTER"}}',
      undefined,
      new Date(1_000_000),
    );
    assert.equal(seen.reachable, true);
    const later = await checkPeer(
      'http://peer:8089',
      SECRET,
      async () => undefined,
      seen,
      new Date(2_000_000),
    );
    assert.equal(later.reachable, false);
    assert.equal(later.lastSeen, new Date(1_000_000).toISOString());
    assert.equal(later.state?.routerId, 'rb');
  });
});
