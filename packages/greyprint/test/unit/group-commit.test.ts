import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GroupCommit, type PendingWrite } from '../../src/store/group-commit.js';

/** A group commit whose "transaction" records each group and whose flush the test triggers. */
function harness(failOn?: (batch: readonly PendingWrite[]) => boolean) {
  const groups: number[] = [];
  const events: string[] = [];
  let scheduled: (() => void) | undefined;
  const commit = new GroupCommit(
    (batch) => {
      events.push(`commit ${batch.length}`);
      if (failOn?.(batch)) throw new Error('SQLITE_FULL');
      groups.push(batch.length);
      return batch.map((w) => w.run());
    },
    () => events.push('before'),
    (flush) => {
      assert.equal(scheduled, undefined, 'one flush scheduled per group');
      scheduled = flush;
    },
  );
  const turn = () => {
    const flush = scheduled;
    scheduled = undefined;
    flush?.();
  };
  return { commit, groups, events, turn };
}

describe('GroupCommit: the writes of one turn share one transaction', () => {
  test('writes queued in one turn commit as one group and each gets its own result, in order', async () => {
    const { commit, groups, events, turn } = harness();
    const a = commit.add(() => 'a');
    const b = commit.add(() => 'b');
    const c = commit.add(() => 3);
    turn();
    assert.deepEqual(await Promise.all([a, b, c]), ['a', 'b', 3]);
    assert.deepEqual(groups, [3]);
    assert.deepEqual(events, ['before', 'commit 3'], 'the read transaction ends before the group commits');
    const d = commit.add(() => 'd');
    turn();
    assert.equal(await d, 'd');
    assert.deepEqual(groups, [3, 1], 'the next turn is the next group');
  });

  test('a write does not settle before its group commits', async () => {
    const { commit, turn } = harness();
    let settled = false;
    const p = commit
      .add(() => 1)
      .then(() => {
        settled = true;
      });
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    turn();
    await p;
    assert.equal(settled, true);
  });

  test('a failed commit rejects every write of its group and no other', async () => {
    const { commit, turn } = harness((batch) => batch.length === 2);
    const a = commit.add(() => 'a');
    const b = commit.add(() => 'b');
    turn();
    await assert.rejects(a, /SQLITE_FULL/);
    await assert.rejects(b, /SQLITE_FULL/);
    const c = commit.add(() => 'c');
    turn();
    assert.equal(await c, 'c');
  });

  test('flush commits what is queued at once (close), and an empty flush commits nothing', async () => {
    const { commit, events } = harness();
    commit.flush();
    assert.deepEqual(events, []);
    const a = commit.add(() => 'a');
    commit.flush();
    assert.equal(await a, 'a');
    assert.deepEqual(events, ['before', 'commit 1']);
  });
});
