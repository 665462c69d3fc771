import { InterruptedError } from './errors.js';

const HANDLED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Turns SIGINT/SIGTERM/SIGHUP into a flag that the copy loop checks between chunks, so an
 * interrupted in-place run removes its temporary file instead of leaving it behind. Once the
 * run is cleaned up, `reraise` ends the process by the same signal, as the caller expects.
 */
export class Interrupts {
  private received: NodeJS.Signals | null = null;
  private readonly handler = (signal: NodeJS.Signals) => {
    this.received = signal;
  };

  install(): void {
    for (const signal of HANDLED) process.on(signal, this.handler);
  }

  uninstall(): void {
    for (const signal of HANDLED) process.off(signal, this.handler);
  }

  get pending(): NodeJS.Signals | null {
    return this.received;
  }

  /** Throws InterruptedError when a signal arrived. */
  check(): void {
    if (this.received !== null) throw new InterruptedError(this.received);
  }

  /** Ends the process by `signal` with the default action (after our handlers are gone). */
  async reraise(signal: NodeJS.Signals): Promise<never> {
    this.uninstall();
    process.kill(process.pid, signal);
    // The signal may be delivered to another thread a moment later; wait for it rather than
    // exiting first with an ordinary status, and fall back to the shell's 128+n convention.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
  }
}
