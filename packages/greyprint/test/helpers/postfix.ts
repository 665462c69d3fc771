/**
 * A private, real Postfix (Debian postfix 3.7) for tests.
 *
 * What it gives you: a Postfix master in the foreground, with its own
 * config_directory, queue_directory, data_directory, syslog_name and
 * maillog_file under one temp dir, so it never meets another instance on
 * the machine (the system's or another test's). smtpd listens on one
 * address:port; mail for any address at `domain` is delivered by the
 * virtual(8) agent into one Maildir, `<dir>/mail/inbox/`, which the test reads
 * back per recipient (`mailbox(localpart)`, by Delivered-To).
 *
 * Usage:
 *   const mta = await startPostfix({ policy: 'inet:127.0.0.1:10023' });
 *   try { ... swaks --server `${mta.host}:${mta.port}` ...;
 *         const mails = await mta.waitForMail('alice', 1); }
 *   finally { await mta.stop(); }
 *
 * Options (all optional):
 *   host, port     where smtpd listens (default 127.0.0.1 and a free port; in a
 *                  namespace, port 25 unless given)
 *   netns          run the master (and so every Postfix daemon) inside this
 *                  existing network namespace: `ip netns exec NETNS master ...`;
 *                  the files stay on the shared file system, so the test reads
 *                  mail and logs as usual
 *   policy         the check_policy_service target, `inet:HOST:PORT` or
 *                  `unix:/path`; consulted at RCPT and, unless policyAtData is
 *                  false, at DATA (for header PREPEND actions)
 *   policyTimeout  smtpd_policy_service_timeout (default 3s)
 *   domain         the delivered domain (default gps.test)
 *   mynetworks     trusted clients (default 127.255.255.254/32: nobody the
 *                  tests send from, so every client goes through the policy)
 *   mainCf         extra main.cf settings, applied last
 *
 * Headers: Postfix refuses PREPEND in smtpd_end_of_data_restrictions ("action
 * PREPEND must be used before smtpd_end_of_data_restrictions", access(5)); a
 * policy that adds a header must answer it at RCPT or DATA (policyAtData).
 *
 * Fail open: smtpd_policy_service_default_action = DUNNO, so mail still flows
 * when the policy daemon is down (Postfix >= 3.0).
 *
 * Stop: `stop()` sends SIGTERM to the master's PID (from the child handle,
 * cross-checked with pid/master.pid) and waits for it, SIGKILL after a grace
 * period, then removes the temp dir (keep it with GPS_KEEP_POSTFIX=1).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from 'opskit/testing';

const run = promisify(execFile);
const MASTER = '/usr/lib/postfix/sbin/master';

export interface PostfixOptions {
  readonly host?: string;
  readonly port?: number;
  readonly netns?: string;
  readonly policy?: string;
  readonly policyAtData?: boolean;
  readonly policyTimeout?: string;
  readonly domain?: string;
  readonly mynetworks?: string;
  readonly mainCf?: Readonly<Record<string, string>>;
}

export interface DeliveredMail {
  readonly file: string;
  readonly text: string;
  /** Header field values by lower-case name, in order, unfolded. */
  header(name: string): string[];
}

export interface PostfixInstance {
  readonly dir: string;
  readonly configDir: string;
  readonly host: string;
  readonly port: number;
  readonly domain: string;
  readonly pid: number;
  /** Mail delivered so far to `localpart@domain`. */
  mailbox(localpart: string): DeliveredMail[];
  /** Waits until at least `count` messages were delivered to the mailbox. */
  waitForMail(localpart: string, count: number, timeoutMs?: number): Promise<DeliveredMail[]>;
  /** Postfix's own log (maillog_file). */
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port that was free a moment ago on `host` (root namespace): opskit's helper. */
export const freeTcpPort = freePort;

function userIds(name: string): { uid: number; gid: number } {
  const fields = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))
    ?.split(':');
  if (fields === undefined || fields.length < 4)
    throw new Error(`user ${name} missing: install Debian postfix`);
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

// Only the services a receiving MX needs, none chrooted (the temp dir has no chroot jail).
const MASTER_CF = (host: string, port: number) => `# service type private unpriv chroot wakeup maxproc command
${host}:${port} inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
virtual   unix  - n n -    - virtual
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
`;

function parseMail(file: string): DeliveredMail {
  const text = readFileSync(file, 'utf8');
  const headEnd = text.search(/\r?\n\r?\n/);
  const head = (headEnd === -1 ? text : text.slice(0, headEnd)).replace(/\r?\n[ \t]+/g, ' ');
  const fields = head.split(/\r?\n/).map((line) => {
    const colon = line.indexOf(':');
    return { name: line.slice(0, colon).toLowerCase(), value: line.slice(colon + 1).trim() };
  });
  return {
    file,
    text,
    header: (name) => fields.filter((f) => f.name === name.toLowerCase()).map((f) => f.value),
  };
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export async function startPostfix(options: PostfixOptions = {}): Promise<PostfixInstance> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (options.netns ? 25 : await freeTcpPort(host));
  const domain = options.domain ?? 'gps.test';
  const dir = mkdtempSync(join(tmpdir(), 'gps-postfix-'));
  // Postfix's daemons run as the postfix user and must reach the queue and data directories.
  chmodSync(dir, 0o755);
  const configDir = join(dir, 'etc');
  const queueDir = join(dir, 'queue');
  const dataDir = join(dir, 'data');
  const mailDir = join(dir, 'mail');
  const maillog = join(dir, 'maillog');
  const postfixUser = userIds('postfix');
  mkdirSync(configDir);
  mkdirSync(queueDir);
  mkdirSync(dataDir);
  mkdirSync(mailDir);
  // virtual(8) refuses to deliver as root; it writes the Maildirs as the postfix user.
  chownSync(mailDir, postfixUser.uid, postfixUser.gid);
  chownSync(dataDir, postfixUser.uid, postfixUser.gid);

  const policy = options.policy;
  const main: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: queueDir,
    data_directory: dataDir,
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    syslog_name: `gps-postfix-${process.pid}-${port}`,
    maillog_file: maillog,
    maillog_file_prefixes: dir,
    myhostname: `mx.${domain}`,
    mydomain: domain,
    myorigin: '$myhostname',
    mydestination: '',
    inet_interfaces: host,
    inet_protocols: host.includes(':') ? 'ipv6' : 'ipv4',
    mynetworks: options.mynetworks ?? '127.255.255.254/32',
    alias_maps: '',
    alias_database: '',
    local_recipient_maps: '',
    relay_domains: '',
    biff: 'no',
    smtputf8_enable: 'no',
    // No DNS in tests: the client's name comes from /etc/hosts or stays "unknown".
    smtp_dns_support_level: 'disabled',
    smtp_host_lookup: 'native',
    virtual_mailbox_domains: domain,
    virtual_mailbox_base: mailDir,
    // One Maildir for the whole domain (virtual(8) forbids $1 substitution in its maps);
    // mailbox() tells recipients apart by the Delivered-To header virtual(8) adds.
    virtual_mailbox_maps: 'static:inbox/',
    virtual_uid_maps: `static:${postfixUser.uid}`,
    virtual_gid_maps: `static:${postfixUser.gid}`,
    virtual_minimum_uid: String(Math.min(100, postfixUser.uid)),
    smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
    smtpd_recipient_restrictions: policy
      ? `reject_unauth_destination, check_policy_service ${policy}`
      : 'reject_unauth_destination',
    smtpd_data_restrictions: policy && options.policyAtData !== false ? `check_policy_service ${policy}` : '',
    smtpd_policy_service_default_action: 'DUNNO',
    smtpd_policy_service_timeout: options.policyTimeout ?? '3s',
    smtpd_policy_service_try_limit: '1',
    smtpd_policy_service_max_idle: '10s',
    // Test mail should go at once, and a deferred test message should not linger.
    queue_run_delay: '1s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    maximal_queue_lifetime: '60s',
    bounce_queue_lifetime: '60s',
    delay_warning_time: '0h',
    smtpd_error_sleep_time: '0s',
    smtpd_soft_error_limit: '100',
    smtpd_hard_error_limit: '200',
    ...options.mainCf,
  };
  writeFileSync(
    join(configDir, 'main.cf'),
    `${Object.entries(main)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  writeFileSync(join(configDir, 'master.cf'), MASTER_CF(host.includes(':') ? `[${host}]` : host, port));

  const env = { ...process.env, MAIL_CONFIG: configDir };
  const cleanup = () => {
    if (process.env.GPS_KEEP_POSTFIX !== '1') rmSync(dir, { recursive: true, force: true });
  };
  try {
    // `postfix check` creates the queue's subdirectories with Postfix's own owners and modes.
    await run('/usr/sbin/postfix', ['-c', configDir, 'check'], { env });
  } catch (err) {
    cleanup();
    const e = err as { stderr?: string; message: string };
    throw new Error(`postfix -c ${configDir} check failed: ${e.stderr ?? e.message}`);
  }

  const command = options.netns ? 'ip' : MASTER;
  const args = options.netns
    ? ['netns', 'exec', options.netns, MASTER, '-c', configDir, '-d']
    : ['-c', configDir, '-d'];
  // detached: the master leads its own process group; on SIGTERM it signals that group, which then
  // holds exactly its own daemons (in the caller's group it would fail with "kill process group").
  const child: ChildProcess = spawn(command, args, {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => {
    stderr = (stderr + c).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;

  const stop = async () => {
    if (alive()) {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  };

  const log = () => (existsSync(maillog) ? readFileSync(maillog, 'utf8') : '');
  try {
    const ssArgs = ['-Hltn', `sport = :${port}`];
    await waitUntil(`postfix smtpd on ${host}:${port}`, 15_000, async () => {
      if (!alive()) throw new Error(`postfix master exited: ${stderr}\n${log()}`);
      const { stdout } = options.netns
        ? await run('ip', ['netns', 'exec', options.netns, 'ss', ...ssArgs])
        : await run('ss', ssArgs);
      return stdout.trim() !== '';
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const mailbox = (localpart: string): DeliveredMail[] => {
    const newDir = join(mailDir, 'inbox', 'new');
    if (!existsSync(newDir)) return [];
    const address = `${localpart}@${domain}`.toLowerCase();
    return readdirSync(newDir)
      .sort()
      .map((f) => parseMail(join(newDir, f)))
      .filter((m) => m.header('delivered-to').some((v) => v.toLowerCase() === address));
  };

  return {
    dir,
    configDir,
    host,
    port,
    domain,
    pid: child.pid as number,
    mailbox,
    waitForMail: async (localpart, count, timeoutMs = 15_000) => {
      await waitUntil(
        `${count} message(s) for ${localpart}@${domain}`,
        timeoutMs,
        () => mailbox(localpart).length >= count,
      );
      return mailbox(localpart);
    },
    log,
    stop,
  };
}
