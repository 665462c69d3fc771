import type { Socket } from 'node:net';
import type { ParserLimits, PolicyRequest, PolicyRequestError } from '../protocol/messages.js';
import { PolicyParser } from '../protocol/parser.js';
import { serializeReply } from '../protocol/serializer.js';
import type { PendingAnswer } from './deadline.js';

/** Per-connection memory the handler may use (e.g. the message that already got its header). */
export interface ConnectionContext {
  readonly id: number;
  readonly peer: string;
  lastHeaderInstance?: string;
}

export interface ConnectionHandler {
  /**
   * Returns the action text, or an answer that settles later; the handler owns fail-open
   * (a pending answer must settle within bounded time).
   */
  onRequest(req: PolicyRequest, ctx: ConnectionContext): string | PendingAnswer;
  /** A request the parser rejected: returns the action text sent once for it. */
  onBadRequest(err: PolicyRequestError, ctx: ConnectionContext): string;
  /** The connection is being closed: silent too long between requests, or a request not complete in time. */
  onTimeout(ctx: ConnectionContext, midRequest: boolean): void;
  onSocketError(ctx: ConnectionContext, err: Error): void;
}

export interface ConnectionOptions {
  readonly limits: ParserLimits;
  readonly idleTimeoutMs: number;
  /** Total time from the first byte of a request to its last (not an inactivity timer). */
  readonly requestTimeoutMs: number;
}

/** Unanswered requests one connection may have before we stop reading from it. */
const MAX_IN_FLIGHT = 256;

/**
 * Serves one policy connection: feeds the parser, answers in request order
 * (Postfix matches replies to requests by order), stops reading while the
 * client does not read its answers, and closes a connection that stalls.
 */
export class PolicyConnection {
  private readonly parser: PolicyParser;
  /** Answers in request order; the first ones may still be pending. */
  private readonly queue: (string | PendingAnswer)[] = [];
  private readonly flushNow = () => this.flush();
  private timeoutMode: 'idle' | 'request' = 'idle';
  private paused = false;
  private closing = false;
  /** The total deadline of the request being received; unset between requests. */
  private requestTimer: NodeJS.Timeout | undefined;
  /** Requests completed so far: tells a new half request from the same one still arriving. */
  private completed = 0;
  private onDrained: (() => void) | undefined;

  constructor(
    readonly socket: Socket,
    readonly ctx: ConnectionContext,
    handler: ConnectionHandler,
    private readonly options: ConnectionOptions,
  ) {
    this.parser = new PolicyParser((m) => {
      this.completed++;
      if (m.kind === 'request') this.enqueue(handler.onRequest(m.request, ctx));
      else this.enqueue(handler.onBadRequest(m.error, ctx));
    }, options.limits);
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => {
      handler.onTimeout(ctx, this.parser.inRequest);
      socket.destroy();
    });
    this.onRequestDeadline = () => {
      this.requestTimer = undefined;
      if (socket.destroyed) return;
      handler.onTimeout(ctx, true);
      socket.destroy();
    };
    socket.on('error', (err) => handler.onSocketError(ctx, err));
    socket.on('drain', () => this.resumeIfPossible());
    socket.on('close', () => {
      if (this.requestTimer !== undefined) clearTimeout(this.requestTimer);
      this.queue.length = 0;
      this.onDrained?.();
    });
  }

  /** Answers pending requests, then closes; resolves when the socket is gone. */
  end(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      if (this.queue.length === 0) this.socket.end();
      else this.onDrained = () => this.socket.end();
    });
  }

  private readonly onRequestDeadline: () => void;

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const completedBefore = this.completed;
    this.parser.feed(chunk);
    // A request that arrives whole in one chunk (Postfix writes it at once) never arms the timer:
    // only a chunk that leaves a request half received does, and only for a request not already timed.
    if (this.parser.inRequest) {
      if (this.requestTimer === undefined || this.completed !== completedBefore) {
        if (this.requestTimer !== undefined) clearTimeout(this.requestTimer);
        this.requestTimer = setTimeout(this.onRequestDeadline, this.options.requestTimeoutMs);
      }
    } else if (this.requestTimer !== undefined) {
      clearTimeout(this.requestTimer);
      this.requestTimer = undefined;
    }
    const mode = this.parser.inRequest ? 'request' : 'idle';
    if (mode !== this.timeoutMode) {
      this.timeoutMode = mode;
      this.socket.setTimeout(mode === 'request' ? this.options.requestTimeoutMs : this.options.idleTimeoutMs);
    }
  }

  private enqueue(result: string | PendingAnswer): void {
    if (typeof result === 'string' && this.queue.length === 0) {
      this.write(serializeReply(result));
      return;
    }
    this.queue.push(result);
    if (typeof result !== 'string') result.onSettled = this.flushNow;
    if (this.queue.length >= MAX_IN_FLIGHT && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    this.flush();
  }

  private flush(): void {
    let out = '';
    while (this.queue.length > 0) {
      const head = this.queue[0] as string | PendingAnswer;
      const action = typeof head === 'string' ? head : head.action;
      if (action === undefined) break;
      out += serializeReply(action);
      this.queue.shift();
    }
    if (out !== '') this.write(out);
    if (this.queue.length === 0 && this.onDrained !== undefined) {
      const done = this.onDrained;
      this.onDrained = undefined;
      done();
    }
    this.resumeIfPossible();
  }

  private write(text: string): void {
    if (this.socket.destroyed) return;
    if (!this.socket.write(text) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resumeIfPossible(): void {
    if (this.paused && this.queue.length < MAX_IN_FLIGHT && !this.socket.writableNeedDrain) {
      this.paused = false;
      this.socket.resume();
    }
  }
}
