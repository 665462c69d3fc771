import { performance } from 'node:perf_hooks';

/**
 * An answer that is not known yet when its request has been read: the policy
 * decision waits for the store or an OS source. It settles once, with the
 * decision or, if the deadline passes first, with what `timedOut()` says (the
 * daemon's fail-open DUNNO). The connection hooks `onSettled` to send it.
 */
export abstract class PendingAnswer {
  /** The reply's action text, once known. */
  action: string | undefined = undefined;
  /** Called once, when the action becomes known. */
  onSettled: (() => void) | undefined = undefined;
  /** Links in the deadline list of its watch (see DeadlineWatch). */
  expiresAt = 0;
  prevDue: PendingAnswer | undefined = undefined;
  nextDue: PendingAnswer | undefined = undefined;
  watch: DeadlineWatch | undefined = undefined;

  /** @param fallback sent at the deadline should `timedOut()` itself fail. */
  constructor(private readonly fallback: string) {}

  get settled(): boolean {
    return this.action !== undefined;
  }

  /** Sets the answer unless it is already set; true when this call set it. */
  settle(action: string): boolean {
    if (this.action !== undefined) return false;
    this.action = action;
    this.watch?.forget(this);
    this.onSettled?.();
    return true;
  }

  /** The action sent when the deadline passes before the answer is known. */
  protected abstract timedOut(): string;

  /** Called by the watch when the deadline has passed. */
  expire(): void {
    if (this.action !== undefined) return;
    let action: string;
    try {
      action = this.timedOut();
    } catch {
      action = this.fallback;
    }
    this.settle(action);
  }
}

/**
 * Deadlines of pending answers, kept by one timer for all of them rather than a
 * setTimeout and a clearTimeout per request (those two cost more than the rest
 * of a request's bookkeeping). Answers are kept in arrival order in a doubly
 * linked list; an answer that settles leaves the list at once, so nothing is
 * kept alive past its answer. The one timer is set for the oldest answer's
 * deadline; when it fires, every answer whose deadline has passed is expired
 * and the timer is set for the next one.
 *
 * Because the list is in arrival order, an answer expires no later than its own
 * deadline only while every answer gets the same deadline. When a reload
 * shortens the deadline, answers that arrived after it may wait until the
 * older answers ahead of them expire: never longer than the old deadline.
 */
export class DeadlineWatch {
  private head: PendingAnswer | undefined;
  private tail: PendingAnswer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private size_ = 0;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Answers waiting for their decision. */
  get size(): number {
    return this.size_;
  }

  /** Watches an unsettled answer: it is expired once `deadlineMs` have passed. */
  add(answer: PendingAnswer, deadlineMs: number): void {
    if (answer.action !== undefined) return;
    answer.expiresAt = this.clock() + deadlineMs;
    answer.watch = this;
    answer.prevDue = this.tail;
    answer.nextDue = undefined;
    if (this.tail === undefined) this.head = answer;
    else this.tail.nextDue = answer;
    this.tail = answer;
    this.size_++;
    if (this.timer === undefined) this.arm(deadlineMs);
  }

  /** Takes a settled answer out of the list. */
  forget(answer: PendingAnswer): void {
    if (answer.watch !== this) return;
    const { prevDue: prev, nextDue: next } = answer;
    if (prev === undefined) this.head = next;
    else prev.nextDue = next;
    if (next === undefined) this.tail = prev;
    else next.prevDue = prev;
    answer.prevDue = undefined;
    answer.nextDue = undefined;
    answer.watch = undefined;
    this.size_--;
  }

  /**
   * Expires every answer whose deadline is at or before `now`, oldest first.
   * Returns the milliseconds until the next deadline, or undefined when nothing
   * is left to watch.
   */
  sweep(now: number): number | undefined {
    let a = this.head;
    while (a !== undefined && a.expiresAt <= now) {
      a.expire(); // settles, which takes it out of the list
      a = this.head;
    }
    return a === undefined ? undefined : Math.max(1, a.expiresAt - now);
  }

  /** Stops the timer; answers still watched are no longer expired. */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.onTimer(), Math.ceil(ms));
    // The listening sockets keep the process alive, not a pending deadline.
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    const wait = this.sweep(this.clock());
    if (wait !== undefined) this.arm(wait);
  }
}
