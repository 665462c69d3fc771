/**
 * The whole pipeline in namespaces, shared by test/e2e/pipeline.test.ts and
 * demo/run.ts: p0f on the server's bridge, Postfix on SERVER_IP:25 asking
 * `greyprint serve` (in the server namespace, on its loopback) at RCPT and
 * END-OF-MESSAGE, and swaks in the client namespaces.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonLog } from '../helpers/daemon.js';
import { type PostfixInstance, startPostfix } from '../helpers/postfix.js';
import { createLab, type Lab, type P0fProcess, SERVER_IP, startP0f, stopChild } from './lab.js';

export const PACKAGE_DIR = resolve(import.meta.dirname, '../..');
export const REPO_ROOT = resolve(PACKAGE_DIR, '../..');
const CLI = join(PACKAGE_DIR, 'src/cli.ts');
export const POLICY_PORT = 10023;

export interface DecisionLog {
  readonly msg?: string;
  readonly client?: string;
  readonly os?: unknown;
  readonly rule?: string;
  readonly action?: string;
  readonly [key: string]: unknown;
}

export interface Greyprint {
  readonly pid: number;
  readonly logs: DecisionLog[];
  stop(): Promise<void>;
}

export interface Pipeline {
  readonly lab: Lab;
  readonly postfix: PostfixInstance;
  readonly greyprint: Greyprint;
  readonly delaySec: number;
  p0f: P0fProcess | undefined;
  stopP0f(): Promise<void>;
  close(): Promise<void>;
}

export interface PipelineOptions {
  readonly delaySec?: number;
  /** Extra Postfix main.cf settings. */
  readonly postfixMainCf?: Readonly<Record<string, string>>;
  /** Extra greyprint config keys (JSON config file). */
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * Told about every namespace and process as it comes up, so a caller (the
   * demo's shell trap) can clean up even if this process is killed.
   */
  readonly onResource?: (kind: 'netns' | 'pid', value: string) => void;
}

/** Starts greyprint serve inside the server namespace and collects its JSON log lines. */
async function startGreyprint(
  lab: Lab,
  p0fSocket: string,
  delaySec: number,
  extra: object,
): Promise<Greyprint> {
  const configFile = join(lab.dir, 'greyprint.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: [`127.0.0.1:${POLICY_PORT}`],
      db: join(lab.dir, 'greyprint.sqlite'),
      greylist: { delaySec },
      // A short cache so that "p0f stopped" shows within a second in the test;
      // generous waits, because two shared cores can stall any process for a while.
      p0f: { socket: p0fSocket, timeoutMs: 1000, poolSize: 4, cacheTtlSec: 1 },
      deadlineMs: 3000,
      header: { stage: 'DATA' },
      ...extra,
    }),
  );
  const child: ChildProcess = spawn(
    'ip',
    [
      'netns',
      'exec',
      lab.serverNs,
      process.execPath,
      '--import',
      'tsx',
      CLI,
      'serve',
      '--config',
      configFile,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: DecisionLog[] = [];
  const stderrText = readJsonLog(child, (line) => logs.push(line));
  const pid = child.pid;
  if (pid === undefined) throw new Error('greyprint did not start');
  const greyprint = { pid, logs, stop: () => stopChild(child) };
  // Ready when the policy port answers inside the namespace.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`greyprint serve exited ${child.exitCode}: ${stderrText()}`);
    const listening = await new Promise<boolean>((ok) =>
      execFile('ip', ['netns', 'exec', lab.serverNs, 'ss', '-Hltn', `sport = :${POLICY_PORT}`], (err, out) =>
        ok(!err && out.trim() !== ''),
      ),
    );
    if (listening) return greyprint;
    if (Date.now() > deadline) {
      await greyprint.stop();
      throw new Error(`greyprint serve did not listen: ${stderrText()}`);
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

export async function startPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const delaySec = options.delaySec ?? 3;
  const lab = await createLab();
  const note = options.onResource ?? (() => {});
  for (const ns of [lab.serverNs, lab.windowsNs, lab.linuxNs]) note('netns', ns);
  const started: { p0f?: P0fProcess; greyprint?: Greyprint; postfix?: PostfixInstance } = {};
  const close = async () => {
    await started.postfix?.stop().catch(() => {});
    await started.greyprint?.stop().catch(() => {});
    await started.p0f?.stop().catch(() => {});
    await lab.destroy();
  };
  try {
    started.p0f = await startP0f(lab);
    note('pid', String(started.p0f.pid));
    started.greyprint = await startGreyprint(lab, started.p0f.socket, delaySec, options.config ?? {});
    note('pid', String(started.greyprint.pid));
    const policy = `inet:127.0.0.1:${POLICY_PORT}`;
    started.postfix = await startPostfix({
      netns: lab.serverNs,
      host: SERVER_IP,
      port: 25,
      domain: 'mx.test',
      policy,
      // The install notes' setup: greylist at RCPT, the header once per message at
      // DATA (smtpd_data_restrictions). Postfix cannot PREPEND at END-OF-MESSAGE
      // (access(5): "it cannot execute in the context of smtpd_end_of_data_restrictions").
      policyAtData: true,
      policyTimeout: '10s',
      mainCf: {
        // The helper runs `postfix check` in the root namespace, where SERVER_IP does
        // not exist; master.cf still binds smtpd to SERVER_IP:25 inside the namespace.
        inet_interfaces: 'all',
        ...options.postfixMainCf,
      },
    });
    note('pid', String(started.postfix.pid));
  } catch (error) {
    await close();
    throw error;
  }
  const pipeline: Pipeline = {
    lab,
    postfix: started.postfix,
    greyprint: started.greyprint,
    delaySec,
    p0f: started.p0f,
    async stopP0f() {
      await pipeline.p0f?.stop();
      pipeline.p0f = undefined;
      started.p0f = undefined;
    },
    close,
  };
  return pipeline;
}

export interface SmtpAttempt {
  /** The server's reply to RCPT TO, e.g. `450 4.2.0 <bob@mx.test>: Recipient address rejected: Greylisted ...`. */
  readonly rcptReply: string;
  /** The reply after the message data, when the transaction got that far. */
  readonly dataReply: string | undefined;
  readonly accepted: boolean;
  readonly transcript: string;
}

/** One SMTP transaction with swaks from `source` in namespace `ns`. */
export function sendMail(
  ns: string,
  source: string,
  mail: { from: string; to: string; subject: string; headers?: readonly string[]; body?: string },
): Promise<SmtpAttempt> {
  const args = [
    'netns',
    'exec',
    ns,
    'swaks',
    '--server',
    `${SERVER_IP}:25`,
    '--local-interface',
    source,
    '--helo',
    `client-${source.replace(/[.:]/g, '-')}.example`,
    '--from',
    mail.from,
    '--to',
    mail.to,
    '--header',
    `Subject: ${mail.subject}`,
    '--body',
    mail.body ?? 'Hello, this is a test message from the greyprint pipeline.',
    '--timeout',
    '20',
  ];
  for (const header of mail.headers ?? []) args.push('--add-header', header);
  return new Promise((ok) => {
    execFile('ip', args, { timeout: 60_000 }, (_error, stdout, stderr) => {
      const transcript = `${stdout}${stderr}`;
      const lines = transcript.split('\n');
      const rcptAt = lines.findIndex((l) => /^ *-> RCPT TO/.test(l));
      const reply = /^ *<[-~*]+ +/;
      const rcptReply = (lines.slice(rcptAt + 1).find((l) => reply.test(l)) ?? '').replace(reply, '');
      const dataAt = lines.findIndex((l) => /^ *-> \.$/.test(l));
      const dataReply =
        dataAt === -1
          ? undefined
          : (lines.slice(dataAt + 1).find((l) => reply.test(l)) ?? '').replace(reply, '');
      ok({ rcptReply, dataReply, accepted: dataReply?.startsWith('250') ?? false, transcript });
    });
  });
}
