import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../src/index.js';

describe('config schema', () => {
  test('has working defaults for a single host', () => {
    const c = parseConfig({});
    assert.deepEqual(c.listen, ['127.0.0.1:10023']);
    assert.equal(c.greylist.delaySec, 300);
    assert.equal(c.greylist.unconfirmedTtlSec, 172800);
    assert.equal(c.greylist.confirmedTtlSec, 35 * 86400);
    assert.equal(c.greylist.autoAllowClients, 5);
    assert.equal(c.header.name, 'X-P0f-OS');
    assert.equal(c.p0f.socket, undefined);
    assert.equal(c.p0f.poolSize, 4);
    assert.deepEqual(
      c.rules.map((r) => [r.name, r.action]),
      [
        ['desktop-windows', 'greylist'],
        ['default', 'accept'],
      ],
    );
  });
  test('names the key of a bad value', () => {
    assert.throws(
      () => parseConfig({ rules: [{ name: 'x', when: { client: ['10.0.0.0/99'] }, action: 'greylist' }] }),
      (e: unknown) => e instanceof ConfigError && e.key === 'rules[0].when.client[0]',
    );
    assert.throws(
      () => parseConfig({ greylist: { delaySec: -1 } } as never),
      (e: unknown) => e instanceof ConfigError && e.key === 'greylist.delaySec',
    );
    assert.throws(
      () => parseConfig({ listen: ['127.0.0.1:99999'] }),
      (e: unknown) => e instanceof ConfigError && e.key === 'listen[0]' && /0-65535/.test(e.message),
    );
    assert.throws(
      () => parseConfig({ bogus: 1 } as never),
      /config: \(top level\): unknown key "bogus" \(allowed here: listen, /,
    );
    assert.throws(() => parseConfig({ greylist: { text: 'two\nlines' } }), /single line/);
  });
  test('the file and then the command line override defaults, and errors name the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpc-config-'));
    const file = join(dir, 'greyprint.json');
    writeFileSync(file, JSON.stringify({ greylist: { delaySec: 60, autoAllowClients: 2 }, db: ':memory:' }));
    const c = await loadConfig({ file, overrides: { greylist: { delaySec: 5 } } });
    assert.equal(c.greylist.delaySec, 5);
    assert.equal(c.greylist.autoAllowClients, 2);
    writeFileSync(file, JSON.stringify({ os: { static: ['192.0.2.0/24 Windows'] } }));
    await assert.rejects(
      loadConfig({ file }),
      (e: unknown) => e instanceof ConfigError && e.file === file && e.key === 'os.static[0]',
    );
    writeFileSync(file, '{ not json');
    await assert.rejects(loadConfig({ file }), /not valid JSON/);
  });
});
