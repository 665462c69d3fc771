import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { z } from 'zod';
import {
  ConfigError,
  changedRestartOnlyKeys,
  formatKeyPath,
  loadLayeredConfig,
  mergeLayers,
  parseConfig,
  readJsonConfigFile,
  schemaDefaults,
} from '../src/index.js';

const schema = z
  .object({
    listen: z.string().default('127.0.0.1:10023'),
    greylist: z
      .object({ delaySec: z.number().int().min(0).default(300) })
      .strict()
      .default({}),
    rules: z.array(z.object({ client: z.string() }).strict()).default([]),
  })
  .strict();

const dir = mkdtempSync(join(tmpdir(), 'opskit-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config errors', () => {
  test('key paths are dotted with array indexes in brackets', () => {
    assert.equal(formatKeyPath(['rules', 0, 'when', 'client', 1]), 'rules[0].when.client[1]');
    assert.equal(formatKeyPath([]), '(top level)');
  });

  test('a bad value is FILE: KEY: MESSAGE', () => {
    assert.throws(
      () => parseConfig(schema, { greylist: { delaySec: -1 } }, '/etc/x.json'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.exitCode === 2 &&
        error.key === 'greylist.delaySec' &&
        /^\/etc\/x\.json: greylist\.delaySec: Number must be greater than or equal to 0$/.test(error.message),
    );
  });

  test('an unknown key names the keys allowed there, inside arrays too', () => {
    assert.throws(
      () => parseConfig(schema, { greylist: { delay: 3 } }, 'f.json'),
      /f\.json: greylist: unknown key "delay" \(allowed here: delaySec\)/,
    );
    assert.throws(
      () => parseConfig(schema, { rules: [{ client: 'a', clinet: 'b' }] }, 'f.json'),
      /f\.json: rules\[0\]: unknown key "clinet" \(allowed here: client\)/,
    );
  });

  test('a missing file, bad JSON and a non-object top level name the file', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"listen": ');
    const list = join(dir, 'list.json');
    writeFileSync(list, '[1]');
    assert.throws(() => readJsonConfigFile(join(dir, 'none.json')), /none\.json: cannot read: ENOENT/);
    assert.throws(() => readJsonConfigFile(bad), /bad\.json: not valid JSON/);
    assert.throws(() => readJsonConfigFile(list), /list\.json: the top level must be a JSON object/);
  });
});

describe('config layers', () => {
  test('later layers win key by key, appended lists concatenate', () => {
    const merged = mergeLayers(
      { a: { b: 1, c: 2 }, list: [1], other: [1] },
      { a: { c: 3 }, list: [2], other: [2], skip: undefined },
      new Set(['list']),
    );
    assert.deepEqual(merged, { a: { b: 1, c: 3 }, list: [1, 2], other: [2] });
  });

  test('an error names the layer that brought the bad value', () => {
    assert.throws(
      () =>
        loadLayeredConfig(schema, [
          { source: 'file.json', values: { listen: '127.0.0.1:1' } },
          { source: 'command line', values: { greylist: { delaySec: 'x' } } },
        ]),
      /^ConfigError: command line: greylist\.delaySec: Expected number, received string$/,
    );
    const ok = loadLayeredConfig(schema, [
      { source: 'file.json', values: { greylist: { delaySec: 60 } } },
      { source: 'environment', values: undefined },
    ]);
    assert.equal(ok.greylist.delaySec, 60);
    assert.equal(ok.listen, '127.0.0.1:10023');
  });

  test('restart-only keys that changed are listed, unchanged ones are not', () => {
    const before = parseConfig(schema, {}, 'a');
    const after = parseConfig(schema, { listen: '0.0.0.0:1', greylist: { delaySec: 1 } }, 'b');
    assert.deepEqual(changedRestartOnlyKeys(before, after, ['listen', 'rules']), ['listen']);
  });

  test('schema defaults are read from the schema, for help texts', () => {
    const defaults = schemaDefaults(schema);
    assert.equal(defaults.get('listen'), '127.0.0.1:10023');
    assert.equal(defaults.get('greylist.delaySec'), 300);
  });
});
