// The trivial policy server: answers DUNNO to every request without looking at
// it. Measures what the load generator itself can drive, so that a daemon's
// figure is known not to be the generator's ceiling.
// usage: echo-server.ts [PORT]   prints "listening PORT" once bound
import { createServer } from 'node:net';

const server = createServer({ noDelay: true }, (socket) => {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let end = pending.indexOf('\n\n');
    while (end !== -1) {
      pending = pending.slice(end + 2);
      socket.write('action=DUNNO\n\n');
      end = pending.indexOf('\n\n');
    }
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`listening ${address.port}\n`);
});
