import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from '../src/testing.js';

// One test pins the operator contract (docs/operator-contract.md) across every tool: the same
// help, version, usage-error and config-error behaviour wherever an operator meets them.
const root = resolve(import.meta.dirname, '../../..');
const tools = [
  { name: 'greyprint', bin: join(root, 'packages/greyprint/bin/greyprint.js'), command: ['serve'] },
  { name: 'guestrouter', bin: join(root, 'packages/guestrouter/bin/guestrouter.js'), command: ['plan'] },
  { name: 'denul', bin: join(root, 'packages/denul/bin/denul.js'), command: [] },
] as const;

const dir = mkdtempSync(join(tmpdir(), 'opskit-contract-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const node = (bin: string, args: readonly string[]) =>
  runCli(process.execPath, [bin, ...args], { timeoutMs: 20_000 });

for (const tool of tools) {
  describe(`${tool.name} follows the operator contract`, () => {
    test('--help exits 0 and shows examples', async () => {
      const result = await node(tool.bin, ['--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Examples:/);
    });

    test('--version exits 0 and prints a version', async () => {
      const result = await node(tool.bin, ['--version']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout.trim(), /^\d+\.\d+\.\d+$/);
    });

    test('an unknown flag exits 2 and names the flag', async () => {
      const result = await node(tool.bin, [...tool.command, '--no-such-flag']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--no-such-flag/);
    });

    if (tool.command.length > 0) {
      test('a command shows its example and the global options in its help', async () => {
        const result = await node(tool.bin, [...tool.command, '--help']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /Examples:/);
        assert.match(result.stdout, /--config/);
      });

      test('a bad config exits 2 with FILE: KEY: MESSAGE', async () => {
        const file = join(dir, `${tool.name}.json`);
        writeFileSync(file, JSON.stringify({ noSuchKey: { nested: 1 } }));
        const result = await node(tool.bin, [...tool.command, '--config', file]);
        assert.equal(result.code, 2, result.stderr);
        assert.ok(result.stderr.includes(`${file}: (top level): unknown key "noSuchKey"`), result.stderr);
      });
    }
  });
}
