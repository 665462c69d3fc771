import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/*
 * TCP endpoints inside network namespaces, run by this same node binary:
 * a server that answers every connection with the address it sees the peer
 * as, and a one-shot client. Servers are stopped by PID.
 */

const SERVER = `
const net = require('node:net');
const args = process.argv.slice(1);
const label = Number.isNaN(Number(args[0])) ? args.shift() + ' ' : '';
const ports = args.map(Number);
let ready = 0;
for (const port of ports) {
  net.createServer((s) => { s.on('error', () => {}); s.end(label + s.remoteAddress.replace(/^::ffff:/, '') + ' ' + port + '\\n'); })
    .listen(port, '0.0.0.0', () => { if (++ready === ports.length) process.stdout.write('ready\\n'); });
}
`;

const CLIENT = `
const net = require('node:net');
const [host, port, ms] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
let out = '';
s.setTimeout(Number(ms), () => { process.stdout.write('timeout'); process.exit(2); });
s.on('data', (d) => { out += d; });
s.on('end', () => { process.stdout.write(out.trim()); process.exit(0); });
s.on('error', (e) => { process.stdout.write('error ' + e.code); process.exit(1); });
`;

export class TcpServers {
  private readonly children: ChildProcess[] = [];

  /**
   * Starts one server process in `ns` listening on every port given; resolves when all listen.
   * A string first (a label) is put before every answer, to tell load-balanced backends apart.
   */
  async start(ns: string, ...ports: (number | string)[]): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, ...ports.map(String)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    const stdout = child.stdout;
    if (!stdout) throw new Error('no stdout');
    let text = '';
    await new Promise<void>((resolve, reject) => {
      stdout.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`tcp server in ${ns} exited with ${code}`)));
    });
    return child;
  }

  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    if (child.pid) process.kill(child.pid, 'SIGTERM');
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.children.map((c) => this.stop(c)));
  }
}

/** Connects from `ns`; the server's answer ("<peer address> <port>"), or "timeout" / "error CODE". */
export function connect(ns: string, host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', CLIENT, host, String(port), String(timeoutMs)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
}
