/**
 * Started by guestrouter's metadata service as `ip netns exec NS node binder-main.js` with an IPC
 * channel: binds listening TCP sockets inside the router's network namespace and hands each to the
 * parent (a socket keeps the namespace it was made in), so the parent serves them itself. It stays
 * alive while the parent runs, which keeps /proc/<its pid>/net/arp pointing at the namespace's
 * neighbour table. It exits when the parent goes.
 */
import net from 'node:net';

interface BindRequest {
  id: number;
  host: string;
  port: number;
  /** Send the raw socket handle (its fd goes to a worker thread), not a listening net.Server. */
  raw?: boolean;
}

process.on('message', (message: BindRequest) => {
  const server = net.createServer();
  server.once('error', (error: NodeJS.ErrnoException) => {
    process.send?.({ id: message.id, error: `${error.code ?? ''} ${error.message}`.trim() });
  });
  server.listen({ host: message.host, port: message.port, exclusive: true }, () => {
    // The parent gets its own copy of the socket; this one is closed so only the parent accepts.
    const handle = message.raw === true ? (server as unknown as { _handle: net.Server })._handle : server;
    process.send?.({ id: message.id, ok: true }, handle, () => server.close());
  });
});
process.on('disconnect', () => process.exit(0));
