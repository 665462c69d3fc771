import { unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import {
  type ConnectionContext,
  type ConnectionHandler,
  type ConnectionOptions,
  PolicyConnection,
} from '../server/connection.js';
import type { ConnectionGate } from '../server/gate.js';
import { listenOn, parseListen } from '../server/listen.js';

export interface ListenerSettings {
  readonly listen: readonly string[];
  /** Mode of unix sockets, octal text as in the config (`0660`). */
  readonly socketMode: string;
  /** Read per connection, so a reload's new limits and timeouts apply to new connections. */
  readonly connectionOptions: () => ConnectionOptions;
}

/** The policy listeners and the connections they accepted. */
export interface PolicyListeners {
  /** Where they listen, e.g. `127.0.0.1:10023`, `unix:/run/greyprint/policy.sock`. */
  readonly addresses: readonly string[];
  readonly connections: ReadonlySet<PolicyConnection>;
  /** Stops accepting; resolves when every server has closed (after its connections ended). */
  stopAccepting(): Promise<void>;
  /** Answers what is in flight, then closes each connection; a peer that does not read gets `graceMs`. */
  endConnections(graceMs: number): Promise<void>;
  /** Removes the unix socket files. */
  unlinkSockets(): Promise<void>;
}

/**
 * Opens one listener per `listen` entry; each accepted connection passes the gate (connection
 * cap, descriptor room) and is served by `handler`. If one listener cannot open, the ones
 * opened before it are closed and the error is thrown.
 */
export async function openListeners(
  settings: ListenerSettings,
  handler: ConnectionHandler,
  gate: ConnectionGate,
  metrics: Metrics,
  logger: Logger,
): Promise<PolicyListeners> {
  const connections = new Set<PolicyConnection>();
  let nextId = 1;
  const servers: Server[] = [];
  const addresses: string[] = [];
  const unixPaths: string[] = [];
  const socketMode = Number.parseInt(settings.socketMode, 8);
  try {
    for (const listen of settings.listen) {
      const server = createServer((socket) => {
        const refused = gate.admit(connections.size);
        if (refused !== undefined) {
          metrics.refused.inc({ reason: refused });
          socket.destroy();
          return;
        }
        metrics.connections.inc();
        const ctx: ConnectionContext = {
          id: nextId++,
          peer: socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : listen,
        };
        const conn = new PolicyConnection(socket, ctx, handler, settings.connectionOptions());
        connections.add(conn);
        socket.once('close', () => connections.delete(conn));
      });
      // After listening, the only errors are failed accepts (EMFILE when descriptors run out).
      server.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EMFILE' || err.code === 'ENFILE') {
          metrics.refused.inc({ reason: 'fd_limit' });
          gate.refuse('fd_limit', connections.size);
        } else
          logger.error({ event: 'accept_failed', listen, err: err.message }, 'accepting a connection failed');
      });
      servers.push(server);
      addresses.push(await listenOn(server, listen, socketMode));
      const target = parseListen(listen);
      if (target.kind === 'unix') unixPaths.push(target.path);
    }
  } catch (err) {
    await Promise.allSettled(servers.map((s) => new Promise((r) => s.close(r))));
    throw err;
  }
  return {
    addresses,
    connections,
    stopAccepting: () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(),
    async endConnections(graceMs) {
      const ended = Promise.all([...connections].map((c) => c.end()));
      const timer = setTimeout(() => {
        for (const c of connections) c.socket.destroy();
      }, graceMs);
      await ended;
      clearTimeout(timer);
    },
    async unlinkSockets() {
      for (const p of unixPaths) await unlink(p).catch(() => undefined);
    },
  };
}
