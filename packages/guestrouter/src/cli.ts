#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { packageVersion } from 'opskit/cli';
import { changedRestartOnlyKeys } from 'opskit/config';
import { createLogger } from 'opskit/log';
import type { Registry } from 'prom-client';
import {
  CloudStackApiError,
  CloudStackClient,
  CloudStackConfigError,
  cloudStackClientConfig,
  cloudStackMetrics,
  deployVirtualMachine,
  fetchInventory,
  fetchSshKeyPairs,
  fetchUserData,
  type Params,
  type RawVirtualMachine,
} from './cloudstack/index.js';
import { type ConfigOverrides, loadConfig, requireInterfaces } from './config/load.js';
import { type GuestrouterConfig, RESTART_ONLY_KEYS } from './config/schema.js';
import { DeletionBudgetError, GuestrouterConfigError } from './errors.js';
import { runExtension } from './extension/entry.js';
import { mergeInventories } from './extension/merge.js';
import { openExtensionServer, persistedEvents } from './extension/run.js';
import type { ExtensionServer } from './extension/server.js';
import { cmkLines, PROVIDED_SERVICES, runSetup } from './extension/setup.js';
import { EventUserData, LayeredUserData } from './extension/userdata.js';
import type { ConntrackdService } from './ha/conntrackd.js';
import type { KeepalivedService } from './ha/keepalived.js';
import { type OutboxLogger, ReplicatedPasswordStore, servePasswordSync } from './ha/password-sync.js';
import {
  closePeerSenders,
  conntrackdService,
  haStatus,
  keepalivedService,
  ownState,
  PeerWatch,
  peerSender,
  replicatedPasswordStore,
} from './ha/wiring.js';
import type { Inventory } from './inventory/types.js';
import { IprouteKernel } from './kernel/kernel.js';
import { HaproxyService } from './lb/haproxy.js';
import {
  generatePassword,
  KeyPairDirectory,
  LocalBinder,
  MetadataMetrics,
  MetadataService,
  NetnsBinder,
  PasswordStore,
  UserDataCache,
} from './metadata/index.js';
import { NftKernel } from './nft/current.js';
import { planOperations } from './plan/operations.js';
import { renderPlan, renderShellPlan } from './plan/render.js';
import type { Plan } from './plan/types.js';
import { Controller, type ControllerSettings } from './reconcile/controller.js';
import { ControllerMetrics, startMetricsServer } from './reconcile/metrics.js';
import { applyPlan, computePlan, isEmptyPlan } from './reconcile/reconcile.js';
import { DnsmasqService } from './services/dnsmasq.js';
import { StatusBoard } from './status/board.js';
import { systemPinger } from './status/ping.js';
import { routerStatusRoutes } from './status/routes.js';
import { formatStatus, networkStatus } from './status/status.js';

interface GlobalOptions {
  config?: string;
  trunk?: string;
  uplink?: string;
  netns?: string;
  zone?: string;
  json?: boolean;
  once?: boolean;
  metricsPort?: number;
  allowDeletes?: number;
  logFormat?: 'json' | 'pretty';
}

interface ExtensionSetupOptions extends GlobalOptions {
  physicalNetwork: string;
  url: string;
  isolation: 'vlan' | 'vxlan';
  name: string;
  offering: string;
  services: string;
  print?: boolean;
}

interface DeployCommandOptions extends GlobalOptions {
  templateId: string;
  serviceOfferingId: string;
  networkId: string[];
  name?: string;
  keypair?: string;
  userDataFile?: string;
  param: string[];
}

const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

function overridesFrom(options: GlobalOptions): ConfigOverrides {
  return {
    trunk: options.trunk,
    uplink: options.uplink,
    netns: options.netns,
    zoneId: options.zone,
    logFormat: options.logFormat,
  };
}

function makeLogger(config: GuestrouterConfig) {
  // The contract's logger (opskit): stderr, so stdout carries only the plan (or status) and stays
  // pipeable; ISO time and level words; pretty on a terminal unless logFormat says otherwise.
  return createLogger({
    name: 'guestrouter',
    level: config.logLevel,
    ...(config.logFormat !== undefined ? { format: config.logFormat } : {}),
  });
}

interface Session {
  config: GuestrouterConfig;
  trunk: string;
  uplink: string;
  kernel: IprouteKernel;
  nft: NftKernel;
  fetch: () => Promise<Inventory>;
}

function apiClient(
  config: GuestrouterConfig,
  log: ReturnType<typeof makeLogger>,
  registry?: Registry,
): CloudStackClient {
  // The environment is already in config.cloudstack (a config layer); this checks what the client needs.
  const cloudstack = cloudStackClientConfig(config.cloudstack);
  return new CloudStackClient(cloudstack, {
    logger: log,
    ...(registry ? { metrics: cloudStackMetrics(registry) } : {}),
  });
}

/** With ha.passwordSync the store also hands every new and every acknowledged password to the other router. */
function passwordStore(config: GuestrouterConfig, logger?: OutboxLogger): PasswordStore {
  const dir = join(config.stateDir, 'passwords');
  return (
    replicatedPasswordStore(config, dir, logger) ??
    new PasswordStore(dir, config.metadata.passwordTtlSeconds * 1000)
  );
}

/** Hands what the store queued for the other router to it now; a peer that is down gets it from `run` later. */
async function flushToPeer(store: PasswordStore, logger: ReturnType<typeof makeLogger>): Promise<void> {
  if (!(store instanceof ReplicatedPasswordStore)) return;
  const left = await store.outbox.flush().finally(closePeerSenders);
  if (left > 0)
    logger.warn(
      { event: 'password-sync', pending: left },
      'the other router did not take the password yet; `run` keeps trying every 2 s',
    );
}

function session(
  options: GlobalOptions,
  logger?: ReturnType<typeof makeLogger>,
  registry?: Registry,
  events?: Pick<ExtensionServer, 'inventory'>,
): Session {
  const config = loadConfig(options.config, overridesFrom(options), process.env);
  const { trunk, uplink } = requireInterfaces(config, options.config);
  const log = logger ?? makeLogger(config);
  const zoneId = config.zoneId;
  // Events alone need no API credentials: the client is made only when the API is polled.
  const poll = events === undefined || config.extension.poll;
  const client = poll ? apiClient(config, log, registry) : undefined;
  const fromApi = () =>
    fetchInventory(client as CloudStackClient, { logger: log, ...(zoneId ? { zoneId } : {}) });
  let fetch: () => Promise<Inventory> = fromApi;
  if (events !== undefined) {
    fetch = poll
      ? async () => mergeInventories(await fromApi(), events.inventory())
      : async () => events.inventory();
  }
  return {
    config,
    trunk,
    uplink,
    kernel: new IprouteKernel(config.netns),
    nft: new NftKernel(config.netns),
    fetch,
  };
}

function reportPlanNotes(plan: Plan): void {
  for (const r of plan.refused) process.stderr.write(`guestrouter: ${r.message}\n`);
  for (const r of plan.refusedRules ?? []) process.stderr.write(`guestrouter: ${r.message}\n`);
  for (const k of plan.kept) {
    const why = k.reason === 'refused' ? 'is refused, not removed' : 'is gone, but over the deletion budget';
    process.stderr.write(`guestrouter: keeping ${k.link} as it is: network ${k.networkId} ${why}\n`);
  }
  if (plan.deletionsWithheld) {
    const { links, limit } = plan.deletionsWithheld;
    process.stderr.write(`guestrouter: ${new DeletionBudgetError(links, limit).message}\n`);
  }
  for (const op of plan.serviceOperations ?? []) {
    if (op.object.kind === 'service-config')
      process.stderr.write(`guestrouter: ${op.action} ${op.object.path}: ${op.reason}\n`);
  }
  for (const m of plan.missingInterfaces) {
    process.stderr.write(
      `guestrouter: warning: the ${m.role} interface ${m.name} does not exist here; apply would refuse to run\n`,
    );
  }
}

function planJson(plan: Plan, netns: string | undefined): object {
  return {
    commands: renderPlan(plan),
    shell: renderShellPlan(plan, netns),
    ipBatch: plan.ipCommands,
    sysctls: [...plan.sysctlsBefore, ...plan.sysctls],
    nft: plan.nftScript ?? [],
    operations: planOperations(plan),
    changes: plan.changes,
    refused: plan.refused,
    refusedRules: plan.refusedRules ?? [],
    kept: plan.kept,
    ...(plan.deletionsWithheld ? { deletionsWithheld: plan.deletionsWithheld } : {}),
    missingInterfaces: plan.missingInterfaces,
    served: plan.served,
  };
}

async function planCommand(options: GlobalOptions): Promise<void> {
  const s = session(options);
  const inventory = await s.fetch();
  const { plan } = await computePlan(inventory, s.kernel, s);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(planJson(plan, s.config.netns), null, 2)}\n`);
    return;
  }
  reportPlanNotes(plan);
  const lines = renderShellPlan(plan, s.config.netns);
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  else process.stderr.write(`guestrouter: nothing to do (${plan.served} networks served, all up to date)\n`);
}

async function applyCommand(options: GlobalOptions): Promise<void> {
  const s = session(options);
  const inventory = await s.fetch();
  const { plan } = await computePlan(inventory, s.kernel, {
    ...s,
    ...(options.allowDeletes === undefined ? {} : { allowDeletes: options.allowDeletes }),
  });
  if (!options.json) reportPlanNotes(plan);
  await applyPlan(
    plan,
    s.kernel,
    s.config.netns,
    (failures) => {
      for (const f of failures) {
        process.stderr.write(
          `guestrouter: warning: gratuitous ARP for ${f.address} on ${f.link} failed: ${f.err}\n`,
        );
      }
    },
    s.nft,
  );
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ applied: true, ...planJson(plan, s.config.netns) }, null, 2)}\n`,
    );
    return;
  }
  const lines = renderShellPlan(plan, s.config.netns);
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  if (isEmptyPlan(plan)) {
    process.stderr.write(`guestrouter: nothing to do (${plan.served} networks served, all up to date)\n`);
  } else {
    process.stderr.write(`guestrouter: applied ${lines.length} commands (${plan.served} networks served)\n`);
  }
  // The rest was applied; the withheld deletions make the run a failure the operator must look at.
  if (plan.deletionsWithheld) process.exitCode = EXIT_RUNTIME;
}

async function statusCommand(options: GlobalOptions): Promise<void> {
  const s = session(options);
  const inventory = await s.fetch();
  const { desired, current, plan } = await computePlan(inventory, s.kernel, s);
  const rows = await networkStatus(
    inventory,
    desired,
    current,
    plan,
    systemPinger(s.config.netns, s.config.status.pingTimeoutSeconds),
    s.config.status.pingConcurrency,
  );
  const ha = s.config.ha.enabled
    ? await haStatus(s.config.stateDir, desired.links, current, s.config.ha.instanceGroups)
    : undefined;
  if (options.json)
    process.stdout.write(`${JSON.stringify({ networks: rows, ...(ha ? { ha } : {}) }, null, 2)}\n`);
  else process.stdout.write(`${formatStatus(rows)}\n${ha ? `${ha.text}\n` : ''}`);
}

function controllerSettings(
  s: Session,
  dhcp?: DnsmasqService,
  metadata?: MetadataService,
  lb?: HaproxyService,
  ha?: KeepalivedService,
  conntrack?: ConntrackdService,
): ControllerSettings {
  return {
    ...(ha ? { ha } : {}),
    ...(conntrack ? { conntrack } : {}),
    ...(dhcp ? { dhcp } : {}),
    ...(metadata ? { metadata } : {}),
    ...(lb ? { lb } : {}),
    config: s.config,
    trunk: s.trunk,
    uplink: s.uplink,
    kernel: s.kernel,
    nft: s.nft,
    fetchInventory: s.fetch,
    intervalMs: s.config.run.intervalSeconds * 1000,
    jitterMs: s.config.run.jitterSeconds * 1000,
    stateDir: s.config.stateDir,
    ...(s.config.netns ? { netns: s.config.netns } : {}),
  };
}

async function runCommand(options: GlobalOptions): Promise<void> {
  const first = loadConfig(options.config, overridesFrom(options), process.env);
  const logger = makeLogger(first);
  const metrics = new ControllerMetrics();
  // dnsmasq runs as the controller's child, so only a long-running `run` serves DHCP. One
  // instance for the whole run: a reload keeps it (its options are read at start).
  const dhcp =
    first.dhcp.enabled && !options.once
      ? new DnsmasqService({
          dir: join(first.stateDir, 'dhcp'),
          binary: first.dhcp.dnsmasq,
          leaseTime: first.dhcp.leaseTime,
          ...(first.dhcp.domain ? { domain: first.dhcp.domain } : {}),
          ...(first.dhcp.dns ? { dns: { upstream: first.dhcp.upstream } } : {}),
          ...(first.metadata.enabled ? { dataServer: true } : {}),
          ...(first.netns ? { netns: first.netns } : {}),
          logger,
          metrics: metrics.services,
        })
      : undefined;
  // haproxy, like dnsmasq, is a child of a long-running `run`; --once would leave it orphaned.
  const lb =
    first.firewall.enabled && !options.once
      ? new HaproxyService({
          dir: join(first.stateDir, 'haproxy'),
          binary: first.loadBalancer.haproxy,
          checkIntervalMs: first.loadBalancer.checkIntervalMs,
          ...(first.netns ? { netns: first.netns } : {}),
          logger,
          metrics: metrics.services,
        })
      : undefined;
  if (first.dhcp.enabled && options.once) {
    logger.warn({ event: 'dhcp' }, 'dhcp.enabled is ignored with --once: DHCP is served by a running `run`');
  }
  // The Network Extension's events (extension.listen): recorded and persisted by this server, applied by
  // the controller's cycles. Opened before the controller so the first cycle already serves them.
  let controllerRef: Controller | undefined;
  const passwords = first.metadata.enabled && !options.once ? passwordStore(first, logger) : undefined;
  const events =
    first.extension.listen !== undefined && !options.once
      ? await openExtensionServer(
          first,
          logger,
          async () => {
            if (!controllerRef) return { ok: false, error: 'the router is starting' };
            return controllerRef.cycleNow();
          },
          passwords,
        )
      : undefined;
  // --once has no listener, but works from the events the last `run` persisted, as `run` would.
  const eventSource =
    events ?? (first.extension.listen !== undefined ? await persistedEvents(first) : undefined);
  const eventsOnly = events !== undefined && !first.extension.poll;
  const metadata =
    first.metadata.enabled && !options.once
      ? metadataService(first, logger, metrics, passwords ?? passwordStore(first, logger), events, eventsOnly)
      : undefined;
  if (first.metadata.enabled && options.once) {
    logger.warn(
      { event: 'metadata' },
      'metadata.enabled is ignored with --once: meta data is served by a running `run`',
    );
  }
  // keepalived and conntrackd, like dnsmasq, are children of a long-running `run`.
  const conntrack =
    first.ha.enabled && first.ha.conntrack.enabled && !options.once
      ? conntrackdService(first, requireInterfaces(first, options.config).trunk, logger, metrics.services)
      : undefined;
  const ha =
    first.ha.enabled && !options.once
      ? keepalivedService(
          first,
          requireInterfaces(first, options.config).trunk,
          logger,
          metrics.services,
          metrics.registry,
          conntrack,
        )
      : undefined;
  const passwordSync = ha ? await startPasswordSync(first, logger, metrics.registry) : undefined;
  if (first.ha.enabled && options.once) {
    logger.warn({ event: 'ha' }, 'ha.enabled with --once: the gateway addresses are left to a running `run`');
  }
  const controller = new Controller(
    controllerSettings(
      session(options, logger, metrics.registry, eventSource),
      dhcp,
      metadata,
      lb,
      ha,
      conntrack,
    ),
    logger,
    Math.random,
    metrics,
  );
  controllerRef = controller;
  if (options.once) {
    const outcome = await controller.cycle();
    logger.flush();
    if (!outcome.ok) process.exitCode = EXIT_RUNTIME;
    return;
  }
  const metricsPort = options.metricsPort ?? first.metrics.port;
  // The status page lives on the metrics address: it checks the VMs with one ping each after a cycle.
  const board =
    metricsPort === undefined
      ? undefined
      : new StatusBoard(
          systemPinger(first.netns, first.status.pingTimeoutSeconds),
          first.status.pingConcurrency,
        );
  if (board) controller.onCycle = (c) => board.observe(c);
  const server =
    metricsPort === undefined || board === undefined
      ? undefined
      : await startMetricsServer(metrics, first.metrics.host, metricsPort, routerStatusRoutes(board));
  if (server)
    logger.info({ event: 'metrics', host: first.metrics.host, port: server.port }, 'metrics listening');
  controller.start();
  logger.info(
    { event: 'start', interval: first.run.intervalSeconds, jitter: first.run.jitterSeconds },
    'guestrouter running',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ event: 'stop', signal }, 'stopping');
      void (events?.close() ?? Promise.resolve())
        .then(() => passwordSync?.stop())
        .then(() => controller.stop())
        .then(() => server?.close())
        .then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        const next = session(options, logger, metrics.registry, events);
        // Compared with the config `run` started with: that is what still runs for these keys.
        for (const key of changedRestartOnlyKeys(first, next.config, RESTART_ONLY_KEYS)) {
          logger.warn(
            { event: 'reload', key },
            `${key} changed; a reload keeps the running value, restart to apply it`,
          );
        }
        controller.reload(controllerSettings(next, dhcp, metadata, lb, ha, conntrack));
      } catch (error) {
        logger.error(
          { event: 'reload', err: (error as Error).message },
          'reload failed; keeping the previous configuration',
        );
      }
    });
  });
  logger.flush();
}

/**
 * ha.passwordSync in `run`: the peer's signed password messages served on `listen` (bound in the
 * router's namespace), and what this router queued for the peer retried every 2 s.
 */
async function startPasswordSync(
  config: GuestrouterConfig,
  logger: ReturnType<typeof makeLogger>,
  registry: Registry,
): Promise<{ stop(): Promise<void> } | undefined> {
  const store = passwordStore(config, logger);
  if (!(store instanceof ReplicatedPasswordStore)) return undefined;
  const listen = config.ha.passwordSync.listen;
  const binder = config.netns ? new NetnsBinder(config.netns) : new LocalBinder();
  let server: import('node:http').Server | undefined;
  if (listen !== undefined) {
    const colon = listen.lastIndexOf(':');
    try {
      const socket = await binder.bind(listen.slice(0, colon), Number(listen.slice(colon + 1)));
      server = await servePasswordSync(socket, store, config.ha.passwordSync.secret as string, logger, () =>
        ownState(config),
      );
      logger.info({ event: 'password-sync', listen }, 'password sync listening');
    } catch (error) {
      // The rest of the router still serves; the peer's messages wait in its outbox until a restart.
      logger.error(
        { event: 'password-sync', listen, err: (error as Error).message },
        'password sync not listening: the other router cannot hand passwords to this one',
      );
    }
  }
  const watch = new PeerWatch(config, peerSender(config.netns), registry);
  let checking = false;
  const timer = setInterval(() => {
    void store.outbox.flush().catch(() => undefined);
    if (checking) return; // a slow peer never piles checks up
    checking = true;
    void watch
      .check()
      .catch(() => undefined)
      .finally(() => {
        checking = false;
      });
  }, 2000);
  return {
    async stop() {
      clearInterval(timer);
      closePeerSenders();
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await binder.stop();
    },
  };
}

/**
 * The meta data and password servers of `run`: one instance for the whole run (a reload keeps it;
 * its options are read at start). User data comes from the API (getVirtualMachineUserData, its own
 * client), from the extension's events alone (no API client at all), or from both, events first.
 */
function metadataService(
  config: GuestrouterConfig,
  logger: ReturnType<typeof makeLogger>,
  metrics: ControllerMetrics,
  passwords: PasswordStore,
  events: ExtensionServer | undefined,
  eventsOnly: boolean,
): MetadataService {
  const m = config.metadata;
  const fromEvents = (vmId: string) => events?.userDataOf(vmId);
  // No API client at all when events are the only source.
  const client = eventsOnly ? undefined : apiClient(config, logger, metrics.registry);
  const fromApi = (api: NonNullable<typeof client>) =>
    new UserDataCache(
      (vmId) => fetchUserData(api, vmId),
      { maxPerCycle: m.userDataFetchesPerCycle, maxAgeMs: m.userDataMaxAgeSeconds * 1000 },
      m.userDataConcurrency,
    );
  const userData =
    client === undefined
      ? new EventUserData(fromEvents)
      : events
        ? new LayeredUserData(fromEvents, fromApi(client))
        : fromApi(client);
  const keyPairs = client === undefined ? undefined : new KeyPairDirectory(() => fetchSshKeyPairs(client));
  return new MetadataService({
    httpPort: m.httpPort,
    passwordPort: m.passwordPort,
    binder: config.netns ? new NetnsBinder(config.netns) : new LocalBinder(),
    passwords,
    userData,
    ...(keyPairs ? { keyPairs } : {}),
    records: m.cloudIdentifier === undefined ? {} : { cloudIdentifier: m.cloudIdentifier },
    logger,
    metrics: new MetadataMetrics(metrics.registry),
    // One thread by default: more threads raise the rate but cost RSS (README, bench/metadata.ts).
    workers: m.workers ?? 1,
  });
}

/** Fails with a usage error unless the VM is one CloudStack lists. */
async function requireVm(client: CloudStackClient, vmId: string): Promise<RawVirtualMachine> {
  // A project's VMs are listed only with projectid=-1, as in the inventory.
  let vm: RawVirtualMachine | undefined;
  for (const scope of [{}, { projectid: -1 }] as Params[]) {
    const found = await client.listAll<RawVirtualMachine>(
      'listVirtualMachines',
      { id: vmId, listall: true, ...scope },
      'virtualmachine',
    );
    vm = found.find((v) => v.id === vmId);
    if (vm !== undefined) break;
  }
  if (vm === undefined) throw new GuestrouterConfigError(`no VM with id ${vmId} is visible to this API key`);
  return vm;
}

async function passwordResetCommand(vmId: string, options: GlobalOptions): Promise<void> {
  const config = loadConfig(options.config, overridesFrom(options), process.env);
  const logger = makeLogger(config);
  const vm = await requireVm(apiClient(config, logger), vmId);
  const password = generatePassword();
  const store = passwordStore(config, logger);
  await store.put(vm.id, password);
  logger.info({ event: 'password-reset', vmId: vm.id }, 'password handed to the password server');
  await flushToPeer(store, logger);
  logger.flush();
  if (options.json) process.stdout.write(`${JSON.stringify({ vmId: vm.id, name: vm.name, password })}\n`);
  else process.stdout.write(`${password}\n`);
}

function vmLine(vm: RawVirtualMachine): string {
  const addresses = (vm.nic ?? []).map((n) => n.ipaddress).filter(Boolean);
  return `${vm.id} ${vm.name} ${vm.state ?? ''} ${addresses.join(',')}`.replace(/ +/g, ' ').trim();
}

/** The setup guide's calls (see src/extension/setup.ts): made through the API, or printed for cmk. */
async function extensionSetupCommand(options: ExtensionSetupOptions): Promise<void> {
  const config = loadConfig(options.config, overridesFrom(options), process.env);
  const secret = config.extension.secret;
  if (secret === undefined)
    throw new GuestrouterConfigError(
      'extension-setup registers extension.secret: set it in the config first',
    );
  const services = options.services
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const unknown = services.filter((x) => !(PROVIDED_SERVICES as readonly string[]).includes(x));
  if (unknown.length > 0)
    throw new GuestrouterConfigError(
      `--services: ${unknown.join(', ')} not provided by guestrouter (it provides ${PROVIDED_SERVICES.join(', ')})`,
    );
  const setup = {
    name: options.name,
    physicalNetworkId: options.physicalNetwork,
    urls: options.url
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean),
    secret,
    isolation: options.isolation,
    offeringName: options.offering,
    services,
  };
  if (options.print) {
    process.stdout.write(`${cmkLines(setup).join('\n')}\n`);
    return;
  }
  const logger = makeLogger(config);
  const result = await runSetup(apiClient(config, logger), setup);
  logger.flush();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function deployCommand(options: DeployCommandOptions): Promise<void> {
  const config = loadConfig(options.config, overridesFrom(options), process.env);
  const logger = makeLogger(config);
  const zoneId = options.zone ?? config.zoneId;
  if (zoneId === undefined)
    throw new GuestrouterConfigError('deploy needs a zone: --zone ID or zoneId in the config');
  const params: Params = {
    zoneid: zoneId,
    templateid: options.templateId,
    serviceofferingid: options.serviceOfferingId,
  };
  if (options.networkId.length > 0) params.networkids = options.networkId.join(',');
  if (options.name) params.name = options.name;
  if (options.keypair) params.keypair = options.keypair;
  if (options.userDataFile) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(options.userDataFile);
    } catch (error) {
      throw new GuestrouterConfigError(`cannot read --user-data-file: ${(error as Error).message}`);
    }
    params.userdata = bytes.toString('base64');
  }
  for (const pair of options.param) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new GuestrouterConfigError(`--param must be NAME=VALUE, got ${JSON.stringify(pair)}`);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const tty = process.stderr.isTTY === true;
  const vm = await deployVirtualMachine(apiClient(config, logger), params, {
    onProgress: (ms, job) => {
      if (tty)
        process.stderr.write(`\rdeploying: job ${job.jobid ?? ''} running for ${Math.round(ms / 1000)} s `);
    },
  });
  if (tty) process.stderr.write('\n');
  let password: string | undefined;
  if (vm.passwordenabled === true && typeof vm.password === 'string' && vm.password !== '') {
    password = vm.password;
    const store = passwordStore(config, logger);
    await store.put(vm.id, password);
    logger.info({ event: 'deploy', vmId: vm.id }, 'password handed to the password server');
    await flushToPeer(store, logger);
  }
  logger.flush();
  const { password: _omit, ...shown } = vm;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ virtualmachine: shown, ...(password ? { password } : {}) }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(`${vmLine(vm)}\n`);
    if (password) process.stdout.write(`password: ${password}\n`);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof GuestrouterConfigError || error instanceof CloudStackConfigError) return EXIT_USAGE;
  return EXIT_RUNTIME;
}

function describe(error: unknown): string {
  // The client's messages start with "CloudStack <command>"; say "CloudStack API" once, not twice.
  if (error instanceof CloudStackApiError)
    return `CloudStack API: ${error.message.replace(/^CloudStack /, '')}`;
  return error instanceof Error ? error.message : String(error);
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('must be a whole number');
  return n;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('guestrouter')
    .description(
      'One Linux router for many CloudStack guest networks: joins each network by VLAN or VXLAN, holds its gateway,\n' +
        'proxy-ARPs public guest subnets on the uplink. Reads CLOUDSTACK_API_URL, CLOUDSTACK_API_KEY, CLOUDSTACK_SECRET_KEY.',
    )
    .option('-c, --config <file>', 'JSON config file (every key optional; see README)')
    .option('--trunk <iface>', 'interface towards the hypervisors (parent of VLAN/VXLAN links)')
    .option('--uplink <iface>', 'interface towards the internet (proxy ARP for public guest subnets)')
    .option('--netns <name>', 'run ip/sysctl/ping inside this network namespace')
    .option('--zone <id>', 'only networks of this zone')
    .option('--json', 'machine-readable output', false)
    .addOption(
      new Option(
        '--log-format <format>',
        'logs on stderr as JSON lines or for people (default: pretty on a terminal)',
      ).choices(['json', 'pretty']),
    )
    .version(packageVersion(import.meta.url), '-V, --version', 'print the version and exit')
    // Each command's --help lists the global options too: its example uses --trunk and --uplink.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })
    .addHelpText(
      'after',
      '\nExamples:\n  guestrouter plan --trunk eth1 --uplink eth0\n  guestrouter run --config /etc/guestrouter.json',
    );

  const action =
    (fn: (options: GlobalOptions) => Promise<void>) =>
    async (_opts: unknown, command: Command): Promise<void> => {
      try {
        await fn(command.optsWithGlobals() as GlobalOptions);
      } catch (error) {
        process.stderr.write(`guestrouter: ${describe(error)}\n`);
        process.exitCode = exitCodeFor(error);
      }
    };

  program
    .command('plan')
    .description('print the commands apply would run (ip -batch lines, then sysctl writes); changes nothing')
    .addHelpText('after', '\nExamples:\n  guestrouter plan --trunk eth1 --uplink eth0')
    .action(action(planCommand));
  program
    .command('apply')
    .description('run the plan: ip -batch, then sysctl writes; a second apply is a no-op')
    .addOption(
      new Option(
        '--allow-deletes <n>',
        'confirm deleting up to n networks in this apply (above safety.maxDeletesPerCycle)',
      ).argParser(nonNegativeInteger),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  guestrouter apply --trunk eth1 --uplink eth0\n' +
        '  guestrouter apply --trunk eth1 --uplink eth0 --allow-deletes 12   # 12 networks really were removed',
    )
    .action(action(applyCommand));
  program
    .command('status')
    .description('per network: interface, address, VMs known and whether each answers ping')
    .addHelpText('after', '\nExamples:\n  guestrouter status --trunk eth1 --uplink eth0 --json')
    .action(action(statusCommand));
  program
    .command('run')
    .description('reconcile on an interval with jitter; SIGHUP re-reads the config, SIGTERM/SIGINT stop')
    .addOption(new Option('--once', 'run a single cycle and exit (for cron)').default(false))
    .addOption(
      new Option(
        '--metrics-port <port>',
        'serve Prometheus metrics and the status page on this port (GET /metrics, GET /, GET /api/status; 0 = any free port)',
      ).argParser((value) => {
        const port = Number(value);
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
          throw new InvalidArgumentError('must be a port number 0-65535');
        }
        return port;
      }),
    )
    .addHelpText(
      'after',
      '\nWith "dhcp": {"enabled": true} in the config, run also serves DHCP (static leases from\n' +
        'CloudStack) to the served networks through one dnsmasq, and with "dns": true their names.\n' +
        'With "metadata": {"enabled": true}, each served gateway answers the VMs\' user data and meta\n' +
        'data on port 80 and passwords on port 8080, as the Virtual Router did (cloud-init finds it).\n' +
        '\nExamples:\n  guestrouter run --config /etc/guestrouter.json',
    )
    .action(action(runCommand));
  const password = program
    .command('password')
    .description('passwords for VMs on networks without a Virtual Router (served by run)');
  password
    .command('reset')
    .argument('<vm-id>', 'the VM (CloudStack id)')
    .description(
      'generate a strong password, hand it to the running run (a 0600 file in stateDir/passwords)\n' +
        'and print it once; the VM picks it up at its next boot or password check',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  guestrouter password reset 9f1c2e4a-0b7d-4c55-9a1e-3d2f6b8c7e01 --config /etc/guestrouter.json',
    )
    .action(async (vmId: string, _opts: unknown, command: Command) => {
      try {
        await passwordResetCommand(vmId, command.optsWithGlobals() as GlobalOptions);
      } catch (error) {
        process.stderr.write(`guestrouter: ${describe(error)}\n`);
        process.exitCode = exitCodeFor(error);
      }
    });
  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command('deploy')
    .description(
      'deploy a VM through the API (deployVirtualMachine, waiting on the job) and print it; a password the\n' +
        'job returns (password-enabled template) is handed to the password server and printed once',
    )
    .requiredOption('--template-id <id>', 'template')
    .requiredOption('--service-offering-id <id>', 'service offering')
    .option('--network-id <id>', 'guest network (repeat for several NICs)', collect, [])
    .option('--name <name>', 'VM name (also its hostname)')
    .option('--keypair <name>', 'SSH key pair registered in CloudStack')
    .option('--user-data-file <file>', 'user data (sent base64-encoded)')
    .option('--param <name=value>', 'any other deployVirtualMachine parameter (repeatable)', collect, [])
    .addHelpText(
      'after',
      '\nExamples:\n  guestrouter deploy --zone 1b2c... --template-id 5e6f... --service-offering-id 7a8b... \\\n' +
        '    --network-id 9c0d... --name web-1 --user-data-file cloud-config.yaml',
    )
    .action(action(deployCommand as (options: GlobalOptions) => Promise<void>));
  program
    .command('extension-setup')
    .description(
      'make guestrouter a CloudStack network service provider: createExtension, registerExtension on the\n' +
        "physical network (guestrouter.url, the config's extension.secret, guestrouter.isolation), enable the\n" +
        'provider, create and enable an isolated network offering naming it; what exists is kept (re-runnable)',
    )
    .requiredOption('--physical-network <id>', 'the physical network of the guest networks')
    .requiredOption('--url <urls>', "the routers' extension URLs, comma-separated (http://HOST:PORT)")
    .addOption(
      new Option('--isolation <kind>', "how a payload's vlan is joined")
        .choices(['vlan', 'vxlan'])
        .default('vlan'),
    )
    .option('--name <name>', 'extension and provider name', 'guestrouter')
    .option('--offering <name>', 'network offering name', 'guestrouter-isolated')
    .option('--services <list>', 'services the provider offers', PROVIDED_SERVICES.join(','))
    .option('--print', 'print the calls as cmk lines instead of making them')
    .addHelpText(
      'after',
      '\nExamples:\n  guestrouter extension-setup --config /etc/guestrouter.json --physical-network 3f2a... \\\n' +
        '    --url http://10.0.0.5:8443,http://10.0.0.6:8443 --isolation vxlan',
    )
    .action(action(extensionSetupCommand as (options: GlobalOptions) => Promise<void>));
  program
    .command('extension')
    .description(
      "CloudStack's Network Extension script: sends the event to the routers in guestrouter.url (signed with\n" +
        'guestrouter.secret) and exits 0 once each applied it; prints exactly one JSON object',
    )
    .argument('<command>', 'the event, e.g. implement-network, add-dhcp-entry, ensure-network-device')
    .argument('<payload-file>', 'the JSON file CloudStack wrote (details and payload)')
    .argument('[timeout]', 'seconds CloudStack waits (default 60)', (value) => {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0)
        throw new InvalidArgumentError('must be a positive number of seconds');
      return n;
    })
    .addHelpText(
      'after',
      '\nExample (what the management server runs):\n  guestrouter extension add-dhcp-entry /tmp/payload-1234.json 60',
    )
    .action(async (command: string, file: string, timeout: number | undefined) => {
      const result = await runExtension(command, file, timeout ?? 60);
      process.stdout.write(`${JSON.stringify(result.output)}\n`);
      process.exitCode = result.exitCode;
    });
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw error;
  }
}

await main(process.argv);
