import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApplyIncompleteError, DeletionBudgetError } from '../../src/errors.js';

describe('error messages an operator reads', () => {
  test('a batch with 2,000 failed lines is summarised: the first five and counts by error, not one huge line', () => {
    const failures = Array.from({ length: 2000 }, (_, i) => ({
      line: `link add link eth1 name eth1.${i + 1} address 02:00:00:00:00:01 type vlan id ${i + 1}`,
      link: `eth1.${i + 1}`,
      error: i < 1990 ? 'Error: Unknown device type.' : 'RTNETLINK answers: File exists',
    }));
    const error = new ApplyIncompleteError(failures);
    assert.ok(error.message.length < 1000, `${error.message.length} characters`);
    assert.match(
      error.message,
      /^2000 plan line\(s\) on 2000 link\(s\) failed, the rest was applied: "link add link eth1 name eth1\.1 /,
    );
    assert.match(
      error.message,
      /\.\.\. 1995 more \(by error: 1990 x Error: Unknown device type\.; 10 x RTNETLINK answers: File exists\)$/,
    );
    assert.deepEqual(error.summary.byError, {
      'Error: Unknown device type.': 1990,
      'RTNETLINK answers: File exists': 10,
    });
  });

  test('a few failed lines are all shown', () => {
    const error = new ApplyIncompleteError([
      { line: 'link set dev x up', link: 'x', error: 'Cannot find device "x"' },
    ]);
    assert.equal(
      error.message,
      '1 plan line(s) on 1 link(s) failed, the rest was applied: "link set dev x up": Cannot find device "x"',
    );
  });

  test('the deletion budget message names the links, the limit and the way to confirm', () => {
    const links = Array.from({ length: 12 }, (_, i) => `vxlan${5001 + i}`);
    const error = new DeletionBudgetError(links, 5);
    assert.match(
      error.message,
      /^refusing to delete 12 networks in one cycle \(limit 5\): vxlan5001, .*vxlan5010, \.\.\. \(2 more\) kept as they are/,
    );
    assert.match(error.message, /`guestrouter apply --allow-deletes 12`/);
  });
});
