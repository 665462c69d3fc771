/**
 * Starts `greyprint serve` as a real child process (through tsx, from the
 * sources) on a port the kernel picks, reads its JSON log (stderr, as the operator contract
 * says), and stops it by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { runCli as runCliProcess } from 'opskit/testing';
import { PolicyReplyParser, serializeRequest } from '../../src/index.js';

export const PACKAGE_DIR = resolve(import.meta.dirname, '../..');
export const REPO_ROOT = resolve(PACKAGE_DIR, '../..');
export const CLI = join(PACKAGE_DIR, 'src/cli.ts');

export interface LogLine {
  msg?: string;
  /** A word (`info`, `warn`, ...), as the operator contract says. */
  level?: string;
  [key: string]: unknown;
}

export interface RunningDaemon {
  readonly child: ChildProcess;
  /** `127.0.0.1:PORT` of the first listener. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly logs: LogLine[];
  /** Resolves with the first log line (already seen or coming) that matches. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<number | null>;
}

export interface ServeOptions {
  /** A command that runs the daemon, e.g. `['prlimit', '--nofile=100:100', '--']` (it must exec it). */
  readonly wrapper?: readonly string[];
}

export async function startServe(args: string[], options: ServeOptions = {}): Promise<RunningDaemon> {
  const argv = [
    process.execPath,
    '--import',
    'tsx',
    CLI,
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--db',
    ':memory:',
    ...args,
  ];
  const [file, ...rest] = [...(options.wrapper ?? []), ...argv] as [string, ...string[]];
  const child = spawn(file, rest, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const stderrText = readJsonLog(child, (parsed) => {
    logs.push(parsed);
    for (const w of [...waiters]) {
      if (w.match(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 15000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderrText()}`));
      }, timeoutMs);
      waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`greyprint exited with ${code} before the log line; stderr: ${stderrText()}`));
      });
    });
  };

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  let started: LogLine;
  try {
    started = await waitForLog((l) => l.msg === 'greyprint started');
  } catch (err) {
    await stop();
    throw err;
  }
  const address = (started.listen as string[])[0] ?? '';
  const colon = address.lastIndexOf(':');
  return {
    child,
    address,
    host: address.slice(0, colon),
    port: Number(address.slice(colon + 1)),
    logs,
    waitForLog,
    stop,
  };
}

/**
 * Reads greyprint's log from a child's stderr (the operator contract's place for it): each
 * JSON line goes to `onLine`; other text (an error before the logger exists) is not a log line.
 * Returns the last 8,000 characters of stderr, for error messages.
 */
export function readJsonLog(child: ChildProcess, onLine: (line: LogLine) => void): () => string {
  let tail = '';
  let buffered = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-8000);
    buffered += text;
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      onLine(parsed);
    }
  });
  return () => tail;
}

/** A raw policy connection: write any bytes, read replies in order. */
export class PolicyConnection {
  readonly socket: Socket;
  private readonly replies: string[] = [];
  private readonly waiters: ((a: string) => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = new PolicyReplyParser((a) => {
      const w = this.waiters.shift();
      if (w) w(a);
      else this.replies.push(a);
    });
    socket.on('data', (c: Buffer) => parser.feed(c));
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  static open(host: string, port: number): Promise<PolicyConnection> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port });
      s.once('connect', () => resolve(new PolicyConnection(s)));
      s.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  next(timeoutMs = 10000): Promise<string> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.closed.then(() => {
        clearTimeout(timer);
        reject(new Error('connection closed before the reply'));
      });
    });
  }

  async ask(attributes: Record<string, string>): Promise<string> {
    this.write(serializeRequest(attributes));
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }
}

let instanceCounter = 0;

/** A RCPT request as Postfix sends it, with overrides. */
export function rcpt(over: Record<string, string> = {}): Record<string, string> {
  return {
    request: 'smtpd_access_policy',
    protocol_state: 'RCPT',
    protocol_name: 'ESMTP',
    client_address: '192.0.2.10',
    client_name: 'unknown',
    reverse_client_name: 'unknown',
    helo_name: 'client.example',
    sender: 'alice@example.org',
    recipient: 'bob@example.net',
    recipient_count: '0',
    queue_id: '',
    instance: `t.${process.pid}.${++instanceCounter}`,
    size: '0',
    ...over,
  };
}

/** The metrics endpoint's address from the start line (`--metrics 127.0.0.1:0`). */
export function metricsAddress(d: RunningDaemon): string {
  const started = d.logs.find((l) => l.msg === 'greyprint started');
  const entry = (started?.listen as string[] | undefined)?.find((a) => a.startsWith('metrics='));
  if (entry === undefined) throw new Error('the daemon serves no metrics');
  return entry.slice('metrics='.length);
}

/** One metric sample from the text exposition, e.g. `greyprint_failopen_total{reason="store"}`; undefined when absent. */
export async function scrape(d: RunningDaemon, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://${metricsAddress(d)}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Runs the CLI once (from the sources, through tsx); resolves with exit code and output. */
export function runCli(
  args: string[],
  timeoutMs = 30000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCliProcess(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO_ROOT, timeoutMs });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
