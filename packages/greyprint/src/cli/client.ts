import { connect } from 'node:net';
import { PolicyReplyParser } from '../protocol/parser.js';
import { serializeRequest } from '../protocol/serializer.js';
import { parseListen } from '../server/listen.js';

export class CheckError extends Error {
  override readonly name = 'CheckError';
  constructor(
    readonly server: string,
    message: string,
  ) {
    super(message);
  }
}

/** Sends one policy request to a running daemon and resolves with the reply's action text. */
export function sendPolicyRequest(
  server: string,
  attributes: Readonly<Record<string, string>>,
  timeoutMs = 5000,
): Promise<string> {
  const target = parseListen(server);
  return new Promise((resolve, reject) => {
    const socket =
      target.kind === 'unix' ? connect(target.path) : connect({ host: target.host, port: target.port });
    const fail = (message: string) => {
      socket.destroy();
      reject(new CheckError(server, message));
    };
    const timer = setTimeout(() => fail(`no answer from ${server} within ${timeoutMs} ms`), timeoutMs);
    const parser = new PolicyReplyParser((action) => {
      clearTimeout(timer);
      socket.end();
      resolve(action);
    });
    socket.on('connect', () => socket.write(serializeRequest(attributes)));
    socket.on('data', (chunk: Buffer) => {
      try {
        parser.feed(chunk);
      } catch (err) {
        clearTimeout(timer);
        fail((err as Error).message);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      fail(`cannot talk to ${server}: ${err.message} (is greyprint serve running and listening there?)`);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new CheckError(server, `${server} closed the connection without an answer`));
    });
  });
}
