// The trivial policy server: answers DUNNO to every request without looking at
// it. Measures what the load generator itself can drive, so that a daemon's
// figure is known not to be the generator's ceiling.
// usage: echo-server.ts PORT|unix:/PATH
import { createServer } from 'node:net';

const REPLY = Buffer.from('action=DUNNO\n\n');
const server = createServer({ noDelay: true }, (socket) => {
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let from = 0;
    let end = buf.indexOf('\n\n', from);
    while (end !== -1) {
      socket.write(REPLY);
      from = end + 2;
      end = buf.indexOf('\n\n', from);
    }
    pending = from < buf.length ? buf.subarray(from) : undefined;
  });
  socket.on('error', () => socket.destroy());
});
const where = process.argv[2] ?? '0';
if (where.startsWith('unix:')) server.listen(where.slice(5));
else server.listen(Number(where), '127.0.0.1');
