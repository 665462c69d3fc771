import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { describePortHolders, findPortHolders } from './port-holder.js';

export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly listen: string,
    message: string,
  ) {
    super(message);
  }
}

export type ListenTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseListen(text: string): ListenTarget {
  if (text.startsWith('unix:')) return { kind: 'unix', path: text.slice(5) };
  const colon = text.lastIndexOf(':');
  const port = Number(text.slice(colon + 1));
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ListenError(text, `"${text}" is not HOST:PORT or unix:/PATH`);
  }
  return { kind: 'tcp', host, port };
}

/** True when something answers on the unix socket (another daemon owns it). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Removes a unix socket left by a daemon that died, but never a live one or a non-socket file. */
async function removeStaleSocket(path: string, listen: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ListenError(listen, `${path} exists and is not a socket; not removing it`);
  if (await socketAnswers(path)) throw new ListenError(listen, `${path} is in use by a running process`);
  await unlink(path);
}

/** Starts listening; returns the address as text (`127.0.0.1:10023`, `unix:/run/greyprint.sock`). */
export async function listenOn(server: Server, text: string, socketMode: number): Promise<string> {
  const target = parseListen(text);
  if (target.kind === 'unix') await removeStaleSocket(target.path, text);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      // Say who holds the port: on a Debian MX that is usually postgrey, on greyprint's port.
      const holder =
        err.code === 'EADDRINUSE' && target.kind === 'tcp'
          ? describePortHolders(target.port, findPortHolders(target.port))
          : '';
      reject(new ListenError(text, `cannot listen on ${text}: ${err.message}${holder}`));
    };
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (target.kind === 'unix') server.listen(target.path, done);
    else server.listen({ host: target.host, port: target.port, backlog: 1024 }, done);
  });
  if (target.kind === 'unix') {
    await chmod(target.path, socketMode);
    return `unix:${target.path}`;
  }
  const addr = server.address();
  if (addr === null || typeof addr === 'string') return text;
  return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}
