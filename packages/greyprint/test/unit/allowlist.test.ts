import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  AllowList,
  AllowListError,
  addAllowEntry,
  loadAllowList,
  parseAddress,
  parseAllowText,
  removeAllowEntry,
} from '../../src/index.js';

const TEXT = `# operator allow-list
client 198.51.100.0/24
sender news@example.com   # a newsletter
sender trusted.example
recipient postmaster@
recipient abuse@example.net
recipient open.example
rdns *.outbound.example.com
`;

const q = (over: Partial<{ address: string; clientName: string; sender: string; recipient: string }>) => {
  const address = parseAddress(over.address ?? '192.0.2.1');
  assert.ok(address);
  return {
    address,
    clientName: over.clientName ?? 'unknown',
    sender: over.sender ?? 'x@other.example',
    recipient: over.recipient ?? 'y@dest.example',
  };
};

describe('allow-lists', () => {
  const list = new AllowList(parseAllowText(TEXT, 'allow.conf'));
  test('matches client CIDRs', () =>
    assert.equal(list.check(q({ address: '198.51.100.9' }))?.kind, 'client'));
  test('matches a sender address exactly, case-insensitively', () =>
    assert.equal(list.check(q({ sender: 'News@Example.com' }))?.value, 'news@example.com'));
  test('matches a sender domain and its subdomains', () => {
    assert.equal(list.check(q({ sender: 'a@trusted.example' }))?.kind, 'sender');
    assert.equal(list.check(q({ sender: 'a@mx.trusted.example' }))?.kind, 'sender');
    assert.equal(list.check(q({ sender: 'a@untrusted.example' })), undefined);
  });
  test('matches recipient local parts, addresses and domains', () => {
    assert.equal(list.check(q({ recipient: 'postmaster@any.example' }))?.kind, 'recipient');
    assert.equal(list.check(q({ recipient: 'abuse@example.net' }))?.kind, 'recipient');
    assert.equal(list.check(q({ recipient: 'abuse@example.org' })), undefined);
    assert.equal(list.check(q({ recipient: 'z@open.example' }))?.kind, 'recipient');
  });
  test('matches verified reverse DNS names, never unknown', () => {
    assert.equal(list.check(q({ clientName: 'a1.outbound.example.com' }))?.kind, 'rdns');
    assert.equal(list.check(q({ clientName: 'unknown' })), undefined);
  });
  test('names the file and line of a bad entry', () => {
    assert.throws(
      () => parseAllowText('client 192.0.2.0/24\nclient nope\n', '/etc/greyprint/allow.conf'),
      (e: unknown) => e instanceof AllowListError && e.origin === '/etc/greyprint/allow.conf:2',
    );
    assert.throws(() => parseAllowText('host x\n', 'f'), /unknown kind "host"/);
  });
  test('add and remove edit the file and keep comments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpc-allow-'));
    const file = join(dir, 'allow.conf');
    writeFileSync(file, '# mine\nclient 192.0.2.0/24\n');
    assert.equal(await addAllowEntry(file, 'sender', 'example.org'), true);
    assert.equal(await addAllowEntry(file, 'sender', 'EXAMPLE.org'), false);
    await assert.rejects(addAllowEntry(file, 'client', 'bad'), AllowListError);
    assert.equal(await removeAllowEntry(file, 'client', '192.0.2.0/24'), 1);
    assert.equal(readFileSync(file, 'utf8'), '# mine\nsender example.org\n');
    const { list: loaded, missing } = await loadAllowList(
      [file, join(dir, 'absent')],
      ['recipient postmaster@'],
    );
    assert.equal(loaded.size, 2);
    assert.deepEqual(missing, [join(dir, 'absent')]);
  });
});
