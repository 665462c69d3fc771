/** Glue between the config, `run`, `status` and the VRRP pieces; kept here so cli.ts only calls in. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Gauge, type Registry } from 'prom-client';
import type { GuestrouterConfig } from '../config/schema.js';
import type { DesiredLink } from '../desired/types.js';
import type { CurrentState } from '../kernel/types.js';
import type { OwnedProcessLogger, OwnedProcessMetrics } from '../services/owned-process.js';
import { ConntrackdService } from './conntrackd.js';
import { KeepalivedService, readRoles, VrrpMetrics } from './keepalived.js';
import {
  checkPeer,
  fetchSender,
  type OutboxLogger,
  PasswordOutbox,
  type PeerHealth,
  type PeerSender,
  type PeerState,
  ReplicatedPasswordStore,
} from './password-sync.js';
import { instanceName, type VrrpRole, vridFor } from './vrrp.js';

export function keepalivedService(
  config: GuestrouterConfig,
  trunk: string,
  logger: OwnedProcessLogger,
  services: OwnedProcessMetrics,
  registry: Registry,
  conntrack?: ConntrackdService,
): KeepalivedService {
  const ha = config.ha;
  return new KeepalivedService({
    dir: join(config.stateDir, 'ha'),
    binary: ha.keepalived,
    ...(config.netns ? { netns: config.netns } : {}),
    settings: {
      routerId: ha.routerId ?? hostname().replace(/[^A-Za-z0-9_.-]/g, '_'),
      priority: ha.priority,
      interface: ha.interface ?? trunk,
      peers: ha.peers,
      ...(ha.sourceAddress ? { sourceAddress: ha.sourceAddress } : {}),
      ...(ha.authPass ? { authPass: ha.authPass } : {}),
      advertIntervalSeconds: ha.advertIntervalSeconds,
      nopreempt: ha.nopreempt,
      instanceGroups: ha.instanceGroups,
    },
    logger,
    metrics: services,
    vrrpMetrics: new VrrpMetrics(registry),
    ...(conntrack ? { transitionHook: conntrack.hookScript } : {}),
  });
}

/** conntrackd for ha.conntrack.enabled (the schema makes sure both sync addresses resolve). */
export function conntrackdService(
  config: GuestrouterConfig,
  trunk: string,
  logger: OwnedProcessLogger,
  services: OwnedProcessMetrics,
): ConntrackdService {
  const { ha } = config;
  const ct = ha.conntrack;
  return new ConntrackdService({
    dir: join(config.stateDir, 'ha', 'conntrackd'),
    binary: ct.conntrackd,
    ...(config.netns ? { netns: config.netns } : {}),
    sync: {
      interface: ct.interface ?? ha.interface ?? trunk,
      localAddress: (ct.localAddress ?? ha.sourceAddress) as string,
      peerAddress: (ct.peerAddress ?? ha.peers[0]) as string,
      port: ct.port,
    },
    logger,
    metrics: services,
  });
}

export interface HaNetworkStatus {
  readonly networkId: string;
  readonly networkName: string;
  readonly link: string;
  readonly instance: string;
  /** What keepalived last reported for the instance on this router (UNKNOWN: never, e.g. `run` not running). */
  readonly role: VrrpRole;
  readonly since?: string;
  /** Whether this router holds the gateway address now (the kernel's view; true only on the master). */
  readonly holdsGateway: boolean;
  /** The other router's role for the instance, as it last told (ha.passwordSync); absent: never asked. */
  readonly peerRole?: string;
  /** Which router is master: this one, the peer, both (split brain) or none, from both routers' words. */
  readonly master: 'this' | 'peer' | 'both' | 'none' | 'unknown';
}

/** `status`: the VRRP role of this router per network, from keepalived's notify state files and the kernel. */
export async function haStatus(
  stateDir: string,
  links: readonly DesiredLink[],
  current: CurrentState,
  groups = 255,
): Promise<{ networks: HaNetworkStatus[]; text: string; peer?: PeerHealth }> {
  const roles = await readRoles(stateDir);
  const peer = await readPeerHealth(stateDir);
  const networks = links.map((link): HaNetworkStatus => {
    const instance = instanceName(vridFor(link, groups));
    const r = roles.get(instance);
    const peerRole = peer?.state?.roles[instance];
    const have = current.links.get(link.name)?.addresses ?? [];
    return {
      networkId: link.networkId,
      networkName: link.networkName,
      link: link.name,
      instance,
      role: r?.role ?? 'UNKNOWN',
      ...(r?.since ? { since: new Date(r.since * 1000).toISOString() } : {}),
      holdsGateway: link.addresses.some((a) => have.includes(a)),
      ...(peerRole ? { peerRole } : {}),
      master: whoIsMaster(r?.role, peerRole, peer?.reachable === true),
    };
  });
  const lines = networks.map(
    (n) =>
      `vrrp ${n.networkName} (${n.link}, ${n.instance}): master ${n.master}; here ${n.role}${n.since ? ` since ${n.since}` : ''}, gateway ${n.holdsGateway ? 'held here' : 'not held here'}; peer ${n.peerRole ?? 'unknown'}`,
  );
  const masters = networks.filter((n) => n.role === 'MASTER').length;
  lines.push(`vrrp: master of ${masters} of ${networks.length} networks`);
  if (peer)
    lines.push(
      `vrrp peer ${peer.state?.routerId ?? ''} (${peer.peer}): ${peer.reachable ? 'reachable' : 'NOT reachable'}, last seen ${peer.lastSeen ?? 'never'}`,
    );
  else lines.push('vrrp peer: unknown (ha.passwordSync.peers not set, or run has not asked yet)');
  return { networks, text: lines.join('\n'), ...(peer ? { peer } : {}) };
}

/**
 * Sends from inside the router's namespace when there is one: one long-lived helper child
 * (peer-send-main.ts) per process, started at the first message and again if it died; ended by
 * closePeerSenders.
 */
export function peerSender(netns: string | undefined): PeerSender {
  if (netns === undefined) return fetchSender;
  const shared = senders.get(netns);
  if (shared) return shared;
  const sender = namespaceSender(netns);
  senders.set(netns, sender);
  return sender;
}

/** One helper child per namespace for the whole process (the outbox, the peer checks and the CLI share it). */
const senders = new Map<string, PeerSender>();
const helpers = new Set<ChildProcess>();

/** Ends the helper children (their stdin closes, they exit): a CLI calls it when done, `run` when it stops. */
export function closePeerSenders(): void {
  for (const c of helpers) c.stdin?.end();
  helpers.clear();
  senders.clear();
}

function namespaceSender(netns: string): PeerSender {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const script = fileURLToPath(new URL(`./peer-send-main${ext}`, import.meta.url));
  let child: ChildProcess | undefined;
  let nextId = 1;
  const waiting = new Map<number, (text: string | undefined) => void>();
  const ensure = (): ChildProcess => {
    if (child && child.exitCode === null && child.signalCode === null) return child;
    const c = spawn('ip', ['netns', 'exec', netns, process.execPath, ...process.execArgv, script], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    createInterface({ input: c.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const { id, text } = JSON.parse(line) as { id: number; text: string | null };
        waiting.get(id)?.(text ?? undefined);
        waiting.delete(id);
      } catch {
        // not an answer line
      }
    });
    c.once('close', () => {
      for (const resolve of waiting.values()) resolve(undefined);
      waiting.clear();
    });
    c.once('error', () => undefined);
    child = c;
    helpers.add(c);
    c.once('close', () => helpers.delete(c));
    return c;
  };
  return (url, headers, body) =>
    new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(undefined);
      }, 10_000);
      waiting.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      ensure().stdin?.write(`${JSON.stringify({ id, url, headers, body })}\n`);
    });
}

/** With ha.passwordSync: the store that replicates to the peer; otherwise undefined (the plain store). */
export function replicatedPasswordStore(
  config: GuestrouterConfig,
  dir: string,
  logger?: OutboxLogger,
): ReplicatedPasswordStore | undefined {
  const sync = config.ha.passwordSync;
  if (!config.ha.enabled || sync.secret === undefined) return undefined;
  const outbox = new PasswordOutbox(
    join(config.stateDir, 'ha', 'outbox'),
    sync.peers,
    sync.secret,
    peerSender(config.netns),
    logger,
  );
  return new ReplicatedPasswordStore(
    dir,
    config.metadata.passwordTtlSeconds * 1000,
    outbox,
    join(config.stateDir, 'ha', 'acknowledged'),
  );
}

function routerIdOf(config: GuestrouterConfig): string {
  return config.ha.routerId ?? hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** What this router tells its peer: its router id and the role keepalived last reported per instance. */
export async function ownState(config: GuestrouterConfig): Promise<PeerState> {
  const roles = await readRoles(config.stateDir);
  return {
    routerId: routerIdOf(config),
    roles: Object.fromEntries([...roles.values()].map((r) => [r.instance, r.role])),
  };
}

const peerFile = (stateDir: string) => join(stateDir, 'ha', 'peer.json');

/** The last peer check `run` wrote, for `status`. */
export async function readPeerHealth(stateDir: string): Promise<PeerHealth | undefined> {
  try {
    return JSON.parse(await readFile(peerFile(stateDir), 'utf8')) as PeerHealth;
  } catch {
    return undefined;
  }
}

/** `run` asks the first peer for its state every call, keeps the answer in STATEDIR/ha/peer.json and the metrics. */
export class PeerWatch {
  private last: PeerHealth | undefined;
  private readonly up: Gauge<'peer'>;
  private readonly seen: Gauge<'peer'>;
  constructor(
    private readonly config: GuestrouterConfig,
    private readonly send: PeerSender,
    registry: Registry,
  ) {
    this.up = new Gauge({
      name: 'guestrouter_vrrp_peer_up',
      help: 'Whether the other router of the pair answered its last signed state request (1) or not (0)',
      labelNames: ['peer'] as const,
      registers: [registry],
    });
    this.seen = new Gauge({
      name: 'guestrouter_vrrp_peer_last_seen_timestamp_seconds',
      help: 'When the other router last answered (Unix time)',
      labelNames: ['peer'] as const,
      registers: [registry],
    });
  }

  async check(): Promise<PeerHealth | undefined> {
    const peer = this.config.ha.passwordSync.peers[0];
    const secret = this.config.ha.passwordSync.secret;
    if (peer === undefined || secret === undefined) return undefined;
    this.last = await checkPeer(peer, secret, this.send, this.last);
    this.up.set({ peer }, this.last.reachable ? 1 : 0);
    if (this.last.lastSeen) this.seen.set({ peer }, Date.parse(this.last.lastSeen) / 1000);
    const file = peerFile(this.config.stateDir);
    await writeFile(`${file}.tmp`, `${JSON.stringify(this.last)}\n`, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    return this.last;
  }
}

/** Pure: which router is master of an instance, from this router's role and the peer's last word. */
export function whoIsMaster(
  own: VrrpRole | undefined,
  peerRole: string | undefined,
  peerReachable: boolean,
): HaNetworkStatus['master'] {
  const here = own === 'MASTER';
  // An unreachable peer's last word is stale: only this router's own role counts then.
  const there = peerReachable && peerRole === 'MASTER';
  if (here && there) return 'both';
  if (here) return 'this';
  if (there) return 'peer';
  if (peerReachable || own === 'FAULT') return 'none';
  return 'unknown';
}
