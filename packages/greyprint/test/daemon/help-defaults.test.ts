import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { schemaDefaults } from 'opskit/config';
import { runCli } from 'opskit/testing';
import { configSchema } from '../../src/config/schema.js';

const bin = join(import.meta.dirname, '../../bin/greyprint.js');

test('serve --help quotes the defaults of the config schema for the options it maps', async () => {
  const result = await runCli(process.execPath, [bin, 'serve', '--help'], { timeoutMs: 20_000 });
  assert.equal(result.code, 0, result.stderr);
  // commander wraps long lines; the defaults are compared on the text with its wrapping undone.
  const help = result.stdout.replace(/\s+/g, ' ');
  const defaults = schemaDefaults(configSchema);
  for (const [flag, key] of [
    ['--listen', 'listen'],
    ['--db', 'db'],
    ['--delay', 'greylist.delaySec'],
    ['--log-level', 'logLevel'],
    ['--idle-timeout', 'idleTimeoutSec'],
    ['--request-timeout', 'requestTimeoutSec'],
    ['--max-connections', 'maxConnections'],
    ['--socket-mode', 'socketMode'],
    ['--auto-allow-clients', 'greylist.autoAllowClients'],
  ] as const) {
    const value = defaults.get(key);
    assert.notEqual(value, undefined, key);
    const shown = Array.isArray(value) ? value.join(', ') : String(value);
    const option = new RegExp(
      `${flag} <[^>]+> [^-]*?\\(default ${shown.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`,
    );
    assert.match(help, option, `${flag} shows the schema default of ${key}`);
  }
  // logFormat has no schema default: the contract picks pretty on a terminal, JSON otherwise.
  assert.equal(defaults.get('logFormat'), undefined);
  assert.match(help, /--log-format <[^>]+> json\|pretty \(default: pretty on a terminal, json otherwise\)/);
});
