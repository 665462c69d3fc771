import assert from 'node:assert/strict';
import { test } from 'node:test';

test('the workspace runs TypeScript tests through tsx', () => {
  const value: number = 40 + 2;
  assert.equal(value, 42);
});
