import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { schemaDefaults } from 'opskit/config';
import { ALLOW_KINDS, type AllowEntry } from './allow/allowlist.js';
import { AllowFileMissingError, addAllowEntry, loadAllowList, removeAllowEntry } from './allow/files.js';
import { sendPolicyRequest } from './cli/client.js';
import { registerFingerprintCommand } from './cli/fingerprint.js';
import { registerReportCommand } from './cli/report.js';
import { ConfigError, loadConfig } from './config/load.js';
import { type Config, type ConfigInput, configSchema } from './config/schema.js';
import { startDaemon } from './daemon.js';
import { createLogger } from './log.js';
import { networkOf, type ParsedAddress, parseAddress, parseCidr } from './net/cidr.js';
import { normalizeRecipient, normalizeSender } from './policy/normalize.js';
import { clientKey } from './policy/triplet.js';
import { ListenError, parseListen } from './server/listen.js';
import { openStore } from './store/factory.js';
import type { ListFilter } from './store/types.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or config error. */
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

/** A command line the program cannot act on (exit 2), found after commander's own checks. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function intArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

interface ServeFlags {
  config?: string;
  listen?: string[];
  db?: string;
  delay?: number;
  osStatic?: string[];
  p0fSocket?: string;
  capture?: string;
  signatures?: string;
  logLevel?: string;
  logFormat?: string;
  allowFile?: string[];
  idleTimeout?: number;
  requestTimeout?: number;
  maxConnections?: number;
  metrics?: string;
  socketMode?: string;
  header?: boolean;
  headerSecret?: string;
  keyByDomain?: boolean;
  autoAllowClients?: number;
}

/** Command-line values as a config layer over the file; unset flags leave the file's value. */
function overridesFrom(f: ServeFlags): ConfigInput {
  const o: Record<string, unknown> = {};
  const greylist: Record<string, unknown> = {};
  const header: Record<string, unknown> = {};
  if (f.listen !== undefined) o.listen = f.listen;
  if (f.db !== undefined) o.db = f.db;
  if (f.logLevel !== undefined) o.logLevel = f.logLevel;
  if (f.logFormat !== undefined) o.logFormat = f.logFormat;
  if (f.idleTimeout !== undefined) o.idleTimeoutSec = f.idleTimeout;
  if (f.requestTimeout !== undefined) o.requestTimeoutSec = f.requestTimeout;
  if (f.maxConnections !== undefined) o.maxConnections = f.maxConnections;
  if (f.metrics !== undefined) o.metrics = f.metrics;
  if (f.socketMode !== undefined) o.socketMode = f.socketMode;
  if (f.osStatic !== undefined) o.os = { static: f.osStatic };
  if (f.p0fSocket !== undefined) o.p0f = { socket: f.p0fSocket };
  if (f.capture !== undefined || f.signatures !== undefined) {
    o.capture = {
      ...(f.capture !== undefined ? { interface: f.capture } : {}),
      ...(f.signatures !== undefined ? { signatures: f.signatures } : {}),
    };
  }
  if (f.allowFile !== undefined) o.allow = { files: f.allowFile };
  if (f.delay !== undefined) greylist.delaySec = f.delay;
  if (f.keyByDomain !== undefined) greylist.keyByDomain = f.keyByDomain;
  if (f.autoAllowClients !== undefined) greylist.autoAllowClients = f.autoAllowClients;
  if (f.header === false) header.enabled = false;
  if (f.headerSecret !== undefined) header.secret = f.headerSecret;
  if (Object.keys(greylist).length > 0) o.greylist = greylist;
  if (Object.keys(header).length > 0) o.header = header;
  return o as ConfigInput;
}

/** Every default of the config schema, by key path: the help texts quote these, never a copy. */
const SCHEMA_DEFAULTS = schemaDefaults(configSchema);

/** `(default VALUE)` for a config key, read from the schema. */
function byDefault(key: string): string {
  if (!SCHEMA_DEFAULTS.has(key)) throw new Error(`the config schema has no default for ${key}`);
  const value = SCHEMA_DEFAULTS.get(key);
  return `(default ${Array.isArray(value) ? value.join(', ') : String(value)})`;
}

function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'JSON config file (every option below is also a key there)')
    .option('-l, --listen <addr>', `HOST:PORT or unix:/PATH, repeatable ${byDefault('listen')}`, collect)
    .option('--db <path>', `SQLite file, :memory: or redis://HOST:PORT/DB ${byDefault('db')}`)
    .option('--delay <seconds>', `greylist delay ${byDefault('greylist.delaySec')}`, intArg('--delay'))
    .option('--os-static <cidr=label>', 'pin an OS label to a CIDR block, repeatable', collect)
    .option('--p0f-socket <path>', "p0f's API socket (p0f -s PATH); unset: p0f is not asked")
    .option('--capture <iface>', 'classify client SYNs on this interface itself (capture helper, README)')
    .option('--signatures <file>', "p0f .fp signatures for --capture (default: greyprint's built-in set)")
    .option('--allow-file <path>', 'allow-list file, repeatable', collect)
    .option('--log-level <level>', `trace|debug|info|warn|error|fatal|silent ${byDefault('logLevel')}`)
    .option('--log-format <format>', 'json|pretty (default: pretty on a terminal, json otherwise)')
    .option(
      '--idle-timeout <seconds>',
      `close connections silent this long ${byDefault('idleTimeoutSec')}`,
      intArg('--idle-timeout'),
    )
    .option(
      '--request-timeout <seconds>',
      `close a connection whose request is not complete this long after its first byte ${byDefault('requestTimeoutSec')}`,
      intArg('--request-timeout'),
    )
    .option(
      '--max-connections <n>',
      `policy connections open at once; more are closed at once ${byDefault('maxConnections')}`,
      intArg('--max-connections'),
    )
    .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics (default off)')
    .option('--socket-mode <octal>', `mode of unix sockets ${byDefault('socketMode')}`)
    .option('--no-header', 'do not add the X-P0f-OS header')
    .option('--header-secret <secret>', 'append [gp:SECRET] to X-P0f-OS for header_checks (README)')
    .option('--key-by-domain', 'key verified mail servers by registered domain instead of network')
    .option(
      '--auto-allow-clients <n>',
      `allow a client after N confirmed triplets, 0 = off ${byDefault('greylist.autoAllowClients')}`,
      intArg('--auto-allow-clients'),
    );
}

async function effectiveConfig(flags: ServeFlags): Promise<Config> {
  return loadConfig({
    ...(flags.config !== undefined ? { file: flags.config } : {}),
    overrides: overridesFrom(flags),
  });
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`greyprint: ${err.message}\n`);
    process.exit(EXIT_USAGE);
  }
  if (err instanceof UsageError || (err as Error).name === 'AllowListError') {
    process.stderr.write(`greyprint: ${(err as Error).message}\n`);
    process.exit(EXIT_USAGE);
  }
  process.stderr.write(`greyprint: ${(err as Error).message ?? String(err)}\n`);
  process.exit(EXIT_RUNTIME);
}

const program = new Command('greyprint')
  .description('Postfix policy daemon: greylists desktop Windows clients by passive OS fingerprint')
  .version(VERSION, '-V, --version', 'print the version and exit')
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nExamples:\n  greyprint serve --listen 127.0.0.1:10023 --p0f-socket /run/p0f/p0f.sock\n' +
      '  greyprint check --client-address 192.0.2.7 --sender a@example.org --recipient b@example.net\n' +
      '  greyprint config check --config /etc/greyprint/greyprint.json',
  )
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  });

addConfigOptions(
  program
    .command('serve')
    .description('run the policy daemon')
    .addHelpText(
      'after',
      '\nExamples:\n  greyprint serve --listen 127.0.0.1:10023 --db /var/lib/greyprint/greyprint.sqlite \\\n' +
        '    --os-static "192.0.2.0/24=Windows XP" --p0f-socket /run/p0f.sock\n' +
        'Signals: SIGHUP reloads the config file and allow files; SIGTERM stops after answering.',
    ),
).action(async (flags: ServeFlags) => {
  let config: Config;
  try {
    config = await effectiveConfig(flags);
  } catch (err) {
    fail(err);
  }
  const logger = createLogger(config.logLevel, config.logFormat);
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(config, { logger, reloadConfig: () => effectiveConfig(flags) });
  } catch (err) {
    logger.fatal({ event: 'start_failed', err: (err as Error).message }, 'cannot start');
    logger.flush();
    fail(err);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal }, 'stopping');
    daemon.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ event: 'stop_failed', err: (err as Error).message }, 'error while stopping');
        process.exit(EXIT_RUNTIME);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    daemon.reload().catch(() => undefined);
  });
});

interface CheckFlags {
  server: string;
  clientAddress: string;
  clientName: string;
  reverseClientName?: string;
  helo: string;
  sender: string;
  recipient: string;
  state: string;
  instance?: string;
  timeout: number;
}

program
  .command('check')
  .description('send one policy request to a running daemon and print the action')
  .option('-s, --server <addr>', 'daemon address, HOST:PORT or unix:/PATH', '127.0.0.1:10023')
  .option('--client-address <ip>', 'client_address', '192.0.2.1')
  .option('--client-name <name>', 'client_name (forward-confirmed reverse DNS)', 'unknown')
  .option('--reverse-client-name <name>', 'reverse_client_name (default: same as --client-name)')
  .option('--helo <name>', 'helo_name', 'client.example')
  .option('--sender <address>', 'sender', 'sender@example.org')
  .option('--recipient <address>', 'recipient', 'postmaster@example.net')
  .option('--state <stage>', 'protocol_state: RCPT, DATA, END-OF-MESSAGE ...', 'RCPT')
  .option('--instance <id>', 'instance (one value per message)')
  .option('--timeout <ms>', 'wait this long for the answer', intArg('--timeout'), 5000)
  .addHelpText(
    'after',
    '\nExamples:\n  greyprint check --client-address 192.0.2.7 --sender a@example.org --recipient b@example.net\n' +
      '  prints e.g. "DEFER_IF_PERMIT Greylisted by greyprint: desktop Windows client, retry in 300 seconds"',
  )
  .action(async (f: CheckFlags) => {
    try {
      parseListen(f.server);
    } catch (err) {
      if (err instanceof ListenError) fail(new UsageError(`--server: ${err.message}`));
      throw err;
    }
    const attributes: Record<string, string> = {
      request: 'smtpd_access_policy',
      protocol_state: f.state.toUpperCase(),
      protocol_name: 'ESMTP',
      client_address: f.clientAddress,
      client_name: f.clientName,
      reverse_client_name: f.reverseClientName ?? f.clientName,
      helo_name: f.helo,
      sender: f.sender,
      recipient: f.recipient,
      recipient_count: '0',
      queue_id: '',
      instance: f.instance ?? `check.${process.pid}.${Date.now()}`,
      size: '0',
    };
    // One attribute per line: a line break in a value would send attributes of its own.
    for (const [name, value] of Object.entries(attributes)) {
      if (/[\r\n\0]/.test(value)) {
        fail(new UsageError(`the value of ${name} contains a line break or NUL; refusing to send it`));
      }
    }
    try {
      const action = await sendPolicyRequest(f.server, attributes, f.timeout);
      process.stdout.write(`${action}\n`);
    } catch (err) {
      fail(err);
    }
  });

interface StoreFlags {
  config?: string;
  db?: string;
  client?: string;
  sender?: string;
  recipient?: string;
  confirmed?: boolean;
  unconfirmed?: boolean;
  limit?: number;
  json?: boolean;
  expire?: boolean;
  all?: boolean;
}

/**
 * The store key a `--client` filter names: a network key as stored (`192.0.2.0/24`), a single
 * address (read as the network it falls in, by the configured prefixes), or a registered
 * domain (keyByDomain). Anything else is a usage error rather than a filter that matches nothing.
 */
function clientFilter(text: string, config: Config): string {
  const g = config.greylist;
  const address = parseAddress(text);
  if (address !== undefined) {
    return clientKey(address, undefined, {
      ipv4Prefix: g.ipv4Prefix,
      ipv6Prefix: g.ipv6Prefix,
      keyByDomain: false,
    });
  }
  const slash = text.indexOf('/');
  if (slash !== -1) {
    let cidr: ReturnType<typeof parseCidr>;
    try {
      cidr = parseCidr(text);
    } catch (err) {
      throw new UsageError(`--client: ${(err as Error).message}`);
    }
    const want = cidr.kind === 'ipv4' ? g.ipv4Prefix : g.ipv6Prefix;
    const key = networkOf(parseAddress(text.slice(0, slash)) as ParsedAddress, want);
    if (cidr.bits !== want) {
      throw new UsageError(
        `--client: triplets are keyed by /${want} networks, so ${text} matches none (try ${key})`,
      );
    }
    return key;
  }
  if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i.test(text))
    return text.toLowerCase();
  throw new UsageError(`--client: "${text}" is not an address, a network such as 192.0.2.0/24, or a domain`);
}

function filterFrom(f: StoreFlags, config: Config): ListFilter {
  if (f.confirmed && f.unconfirmed) throw new UsageError('--confirmed and --unconfirmed exclude each other');
  for (const [flag, value] of [
    ['--sender', f.sender],
    ['--recipient', f.recipient],
  ] as const) {
    if (value !== undefined && /[\s\0]/.test(value))
      throw new UsageError(`${flag}: "${value}" contains white space`);
  }
  return {
    ...(f.client !== undefined ? { client: clientFilter(f.client, config) } : {}),
    ...(f.sender !== undefined ? { sender: normalizeSender(f.sender) } : {}),
    ...(f.recipient !== undefined ? { recipient: normalizeRecipient(f.recipient) } : {}),
    ...(f.confirmed ? { confirmed: true } : f.unconfirmed ? { confirmed: false } : {}),
    ...(f.limit !== undefined ? { limit: f.limit } : {}),
  };
}

const storeOptions = (cmd: Command): Command =>
  cmd
    .option('-c, --config <file>', 'JSON config file (for db)')
    .option('--db <path>', 'SQLite file (default from the config)')
    .option('--client <key>', 'client key, e.g. 192.0.2.0/24')
    .option('--sender <address>', 'sender (normalised as in the triplet)')
    .option('--recipient <address>', 'recipient');

storeOptions(program.command('list').description('list greylist triplets'))
  .option('--confirmed', 'only triplets that passed')
  .option('--unconfirmed', 'only triplets still waiting')
  .option('--limit <n>', 'at most N entries', intArg('--limit'))
  .option('--json', 'one JSON object per line')
  .addHelpText(
    'after',
    '\nExamples:\n  greyprint list --db /var/lib/greyprint/greyprint.sqlite --unconfirmed --limit 20',
  )
  .action(async (f: StoreFlags) => {
    try {
      const config = await effectiveConfig({
        ...(f.config ? { config: f.config } : {}),
        ...(f.db ? { db: f.db } : {}),
      });
      const filter = filterFrom(f, config);
      // Read-only: safe beside a running daemon (SQLite WAL readers do not block the writer).
      const store = await openStore({ path: config.db, readonly: true, mustExist: true });
      const rows = await store.list(filter);
      await store.close();
      for (const r of rows) {
        if (f.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          const first = new Date(r.firstSeen * 1000).toISOString();
          const last = new Date(r.lastSeen * 1000).toISOString();
          process.stdout.write(
            `${r.client}\t${r.sender || '<>'}\t${r.recipient}\tfirst=${first}\tlast=${last}\tpasses=${r.passes}\n`,
          );
        }
      }
      if (!f.json) process.stderr.write(`${rows.length} entries\n`);
    } catch (err) {
      fail(err);
    }
  });

storeOptions(program.command('purge').description('remove expired entries now, or entries matching a filter'))
  .option('--all', 'remove every triplet')
  .addHelpText(
    'after',
    '\nExamples:\n  greyprint purge                      # expire by the configured TTLs now\n' +
      '  greyprint purge --client 192.0.2.0/24  # forget one network',
  )
  .action(async (f: StoreFlags) => {
    try {
      const config = await effectiveConfig({
        ...(f.config ? { config: f.config } : {}),
        ...(f.db ? { db: f.db } : {}),
      });
      const filter = filterFrom(f, config);
      const store = await openStore({ path: config.db, mustExist: true });
      if (f.all || Object.keys(filter).length > 0) {
        const n = await store.remove(f.all ? {} : filter);
        process.stdout.write(`removed ${n} triplets\n`);
      } else {
        const g = config.greylist;
        const r = await store.expire(Math.floor(Date.now() / 1000), {
          unconfirmedTtl: g.unconfirmedTtlSec,
          confirmedTtl: g.confirmedTtlSec,
        });
        process.stdout.write(`expired ${r.triplets} triplets and ${r.clients} clients\n`);
      }
      await store.close();
    } catch (err) {
      fail(err);
    }
  });

const DEFAULT_ALLOW_FILE = '/etc/greyprint/allow.conf';

async function allowFileFrom(f: { config?: string; file?: string }): Promise<string> {
  if (f.file !== undefined) return f.file;
  const config = await effectiveConfig(f.config ? { config: f.config } : {});
  return config.allow.files[0] ?? DEFAULT_ALLOW_FILE;
}

const allow = program
  .command('allow')
  .description(`edit allow-list files (kinds: ${ALLOW_KINDS.join(', ')}); then send SIGHUP to the daemon`);
for (const verb of ['add', 'remove'] as const) {
  allow
    .command(`${verb} <kind> <value>`)
    .description(`${verb} an allow-list entry`)
    .option('-f, --file <path>', `allow file (default: first of allow.files, else ${DEFAULT_ALLOW_FILE})`)
    .option('-c, --config <file>', 'JSON config file')
    .addHelpText(
      'after',
      `\nExamples:\n  greyprint allow ${verb} client 192.0.2.0/24\n  greyprint allow ${verb} sender example.org\n` +
        `  greyprint allow ${verb} recipient postmaster@\n  greyprint allow ${verb} rdns '*.outbound.example.com'`,
    )
    .action(async (kind: string, value: string, f: { file?: string; config?: string }) => {
      try {
        const file = await allowFileFrom(f);
        if (verb === 'add') {
          const added = await addAllowEntry(file, kind.toLowerCase(), value);
          process.stdout.write(added ? `added to ${file}\n` : `already in ${file}\n`);
        } else {
          const n = await removeAllowEntry(file, kind, value);
          process.stdout.write(`removed ${n} from ${file}\n`);
        }
      } catch (err) {
        fail(err);
      }
    });
}
allow
  .command('list')
  .description('print the allow-list entries of the config and its files')
  .option('-c, --config <file>', 'JSON config file')
  .option('-f, --file <path>', 'read only this file')
  .addHelpText('after', '\nExamples:\n  greyprint allow list --config /etc/greyprint/greyprint.json')
  .action(async (f: { config?: string; file?: string }) => {
    try {
      let entries: readonly AllowEntry[];
      if (f.file !== undefined) {
        if (!existsSync(f.file)) throw new AllowFileMissingError(f.file);
        entries = (await loadAllowList([f.file], [])).list.entries;
      } else {
        const config = await effectiveConfig(f.config ? { config: f.config } : {});
        entries = (await loadAllowList(config.allow.files, config.allow.entries)).list.entries;
      }
      for (const e of entries) process.stdout.write(`${e.kind}\t${e.value}\t${e.origin}\n`);
    } catch (err) {
      if ((err as Error).name === 'AllowListError') {
        process.stderr.write(`greyprint: ${(err as Error).message}\n`);
        process.exit(EXIT_USAGE);
      }
      fail(err);
    }
  });

const configCmd = program.command('config').description('inspect the configuration');
addConfigOptions(
  configCmd
    .command('check')
    .description('print the effective config as JSON, or the exact error (file and key) and exit 2')
    .addHelpText(
      'after',
      '\nExamples:\n  greyprint config check --config /etc/greyprint/greyprint.json --delay 60',
    ),
).action(async (flags: ServeFlags) => {
  try {
    const config = await effectiveConfig(flags);
    const { list } = await loadAllowList(config.allow.files, config.allow.entries);
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    process.stderr.write(`config ok (${list.size} allow-list entries)\n`);
  } catch (err) {
    if ((err as Error).name === 'AllowListError') {
      process.stderr.write(`greyprint: config error: ${(err as Error).message}\n`);
      process.exit(EXIT_USAGE);
    }
    fail(err);
  }
});

registerFingerprintCommand(program);
registerReportCommand(program);

program.parseAsync(process.argv).catch(fail);
