import { connect, type Socket } from 'node:net';
import { P0fLookupError, P0fProtocolError } from './errors.js';
import type { P0fQuery, P0fResponse } from './messages.js';
import { P0fResponseParser } from './parser.js';
import { serializeQuery } from './serializer.js';

/** Socket errors that mean "p0f is not there (now)": retry later, answer unknown meanwhile. */
const UNAVAILABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK', 'EAGAIN']);

function failureFor(error: unknown, socketPath: string, stage: 'connect' | 'query'): P0fLookupError {
  if (error instanceof P0fLookupError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (error instanceof P0fProtocolError) {
    return new P0fLookupError('protocol', error.message, socketPath, { cause: error });
  }
  const reason = stage === 'connect' && UNAVAILABLE_CODES.has(code) ? 'unavailable' : 'connection-lost';
  const text = error instanceof Error ? error.message : String(error);
  return new P0fLookupError(reason, `p0f API ${stage} failed on ${socketPath}: ${text}`, socketPath, {
    cause: error,
  });
}

/**
 * One API connection to p0f. p0f answers queries on a connection one at a
 * time and in order, so a connection carries at most one query in flight.
 *
 * The connection is only ever closed with destroy(): a half-close (end(),
 * shutdown of the write side) leaves p0f polling an EOF forever at 100% CPU.
 * `allowHalfOpen: false` makes Node close our side fully when p0f closes its.
 */
export class P0fConnection {
  private readonly parser = new P0fResponseParser();
  private pending:
    | { resolve: (response: P0fResponse) => void; reject: (error: P0fLookupError) => void }
    | undefined;
  private closed = false;
  /** Called once when the connection is gone, for whatever reason. */
  onClose: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(failureFor(error, socketPath, 'query')));
    socket.on('close', () =>
      this.fail(new P0fLookupError('connection-lost', `p0f closed the API connection`, socketPath)),
    );
  }

  static open(socketPath: string, signal: AbortSignal): Promise<P0fConnection> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new P0fLookupError('timeout', 'no time left to connect to p0f', socketPath));
        return;
      }
      const socket = connect({ path: socketPath, allowHalfOpen: false });
      const onAbort = () => {
        socket.destroy();
        reject(new P0fLookupError('timeout', `connecting to p0f at ${socketPath} timed out`, socketPath));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(failureFor(error, socketPath, 'connect'));
      });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        resolve(new P0fConnection(socket, socketPath));
      });
    });
  }

  get alive(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  query(query: P0fQuery): Promise<P0fResponse> {
    if (!this.alive) {
      return Promise.reject(
        new P0fLookupError('connection-lost', 'p0f API connection is closed', this.socketPath),
      );
    }
    if (this.pending) throw new Error('P0fConnection: one query at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(serializeQuery(query));
    });
  }

  /** Closes both directions at once (never a half-close). Idempotent. */
  destroy(reason?: P0fLookupError): void {
    this.fail(reason ?? new P0fLookupError('closed', 'p0f API connection closed by us', this.socketPath));
  }

  private receive(chunk: Buffer): void {
    try {
      this.parser.parse(chunk, (response) => {
        const pending = this.pending;
        this.pending = undefined;
        if (pending) pending.resolve(response);
        else this.fail(new P0fLookupError('protocol', 'p0f sent a reply nobody asked for', this.socketPath));
      });
    } catch (error) {
      this.fail(failureFor(error, this.socketPath, 'query'));
    }
  }

  private fail(error: P0fLookupError): void {
    const pending = this.pending;
    this.pending = undefined;
    if (!this.closed) {
      this.closed = true;
      this.socket.destroy();
      this.onClose?.();
    }
    pending?.reject(error);
  }
}
