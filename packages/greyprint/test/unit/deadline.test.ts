import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeadlineWatch, PendingAnswer } from '../../src/server/deadline.js';

/** An answer that says which one it was when its deadline passes. */
class Answer extends PendingAnswer {
  settledWith: string[] = [];
  constructor(
    readonly name: string,
    private readonly fail = false,
  ) {
    super('FALLBACK');
    this.onSettled = () => this.settledWith.push(this.action as string);
  }
  protected timedOut(): string {
    if (this.fail) throw new Error('logger broke');
    return `TIMEOUT ${this.name}`;
  }
}

describe('DeadlineWatch: one timer for the deadlines of pending answers', () => {
  test('expires, oldest first, exactly the answers whose deadline has passed', () => {
    let now = 1000;
    const watch = new DeadlineWatch(() => now);
    const a = new Answer('a');
    const b = new Answer('b');
    const c = new Answer('c');
    watch.add(a, 100);
    now = 1030;
    watch.add(b, 100);
    now = 1060;
    watch.add(c, 100);
    assert.equal(watch.sweep(1099), 1, 'nothing due yet: wait until a is due');
    assert.equal(a.action, undefined);
    assert.equal(watch.sweep(1130), 30, 'a and b are due, c is due in 30 ms');
    assert.equal(a.action, 'TIMEOUT a');
    assert.equal(b.action, 'TIMEOUT b');
    assert.equal(c.action, undefined);
    assert.equal(watch.size, 1);
    assert.equal(watch.sweep(1160), undefined, 'nothing left to watch');
    assert.equal(c.action, 'TIMEOUT c');
    watch.close();
  });

  test('an answer that settles leaves the watch at once and never times out', () => {
    let now = 0;
    const watch = new DeadlineWatch(() => now);
    const answers = ['a', 'b', 'c', 'd'].map((n) => new Answer(n));
    for (const a of answers) watch.add(a, 50);
    // settle the head, one in the middle and the tail, out of order
    assert.equal(answers[3]?.settle('DUNNO'), true);
    assert.equal(answers[0]?.settle('DEFER_IF_PERMIT'), true);
    assert.equal(answers[2]?.settle('DUNNO'), true);
    assert.equal(watch.size, 1);
    now = 50;
    assert.equal(watch.sweep(now), undefined);
    assert.deepEqual(
      answers.map((a) => a.settledWith),
      [['DEFER_IF_PERMIT'], ['TIMEOUT b'], ['DUNNO'], ['DUNNO']],
      'every answer settled exactly once',
    );
    assert.equal(answers[1]?.settle('late decision'), false, 'a late decision does not replace the answer');
    assert.equal(answers[1]?.action, 'TIMEOUT b');
    watch.close();
  });

  test('an answer whose timeout handler throws still gets the fallback answer', () => {
    let now = 0;
    const watch = new DeadlineWatch(() => now);
    const a = new Answer('a', true);
    watch.add(a, 10);
    now = 10;
    watch.sweep(now);
    assert.equal(a.action, 'FALLBACK');
    assert.equal(watch.size, 0);
  });

  test('the timer expires an answer nobody settles, and keeps watching later ones', async () => {
    // The watch's timer does not hold the process open (the daemon's sockets do): this stands in.
    const keepAlive = setInterval(() => undefined, 1000);
    const watch = new DeadlineWatch();
    try {
      const settled = (a: PendingAnswer) =>
        new Promise<string>((resolve) => {
          a.onSettled = () => resolve(a.action as string);
        });
      const first = new Answer('first');
      const done1 = settled(first);
      watch.add(first, 5);
      assert.equal(await done1, 'TIMEOUT first');
      const second = new Answer('second');
      const done2 = settled(second);
      watch.add(second, 5);
      assert.equal(await done2, 'TIMEOUT second');
      assert.equal(watch.size, 0);
    } finally {
      watch.close();
      clearInterval(keepAlive);
    }
  });
});
