import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeFileAtomic } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'opskit-atomic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('replaces a file whole, with the exact mode, leaving no temp file', () => {
  const path = join(dir, 'state.json');
  writeFileSync(path, 'old');
  const umask = process.umask(0o077);
  try {
    writeFileAtomic(path, '{"new":true}\n', { mode: 0o640 });
  } finally {
    process.umask(umask);
  }
  assert.equal(readFileSync(path, 'utf8'), '{"new":true}\n');
  assert.equal(statSync(path).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(dir), ['state.json']);
});

test('a target it cannot replace is refused, the old entry kept and the temp file removed', () => {
  const sub = mkdtempSync(join(dir, 'dir-'));
  const target = join(sub, 'target');
  mkdirSync(target);
  writeFileSync(join(target, 'keep'), 'k');
  assert.throws(() => writeFileAtomic(target, 'new'), /EISDIR|ENOTEMPTY|EEXIST/);
  assert.deepEqual(readdirSync(sub), ['target']);
  assert.deepEqual(readdirSync(target), ['keep']);
});

test('a missing directory is an error and creates nothing', () => {
  const missing = join(dir, 'no-such-dir', 'x');
  assert.throws(() => writeFileAtomic(missing, 'new'), /ENOENT/);
  assert.equal(existsSync(join(dir, 'no-such-dir')), false);
});
