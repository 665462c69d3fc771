/** Glue between the config, `run`, `status` and the VRRP pieces; kept here so cli.ts only calls in. */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import type { GuestrouterConfig } from '../config/schema.js';
import type { DesiredLink } from '../desired/types.js';
import type { CurrentState } from '../kernel/types.js';
import type { OwnedProcessLogger, OwnedProcessMetrics } from '../services/owned-process.js';
import { KeepalivedService, readRoles, VrrpMetrics } from './keepalived.js';
import {
  fetchSender,
  type OutboxLogger,
  PasswordOutbox,
  type PeerSender,
  ReplicatedPasswordStore,
} from './password-sync.js';
import { instanceName, type VrrpRole, vridFor } from './vrrp.js';

export function keepalivedService(
  config: GuestrouterConfig,
  trunk: string,
  logger: OwnedProcessLogger,
  services: OwnedProcessMetrics,
  registry: Registry,
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
    },
    logger,
    metrics: services,
    vrrpMetrics: new VrrpMetrics(registry),
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
}

/** `status`: the VRRP role of this router per network, from keepalived's notify state files and the kernel. */
export async function haStatus(
  stateDir: string,
  links: readonly DesiredLink[],
  current: CurrentState,
): Promise<{ networks: HaNetworkStatus[]; text: string }> {
  const roles = await readRoles(stateDir);
  const networks = links.map((link): HaNetworkStatus => {
    const instance = instanceName(vridFor(link));
    const r = roles.get(instance);
    const have = current.links.get(link.name)?.addresses ?? [];
    return {
      networkId: link.networkId,
      networkName: link.networkName,
      link: link.name,
      instance,
      role: r?.role ?? 'UNKNOWN',
      ...(r?.since ? { since: new Date(r.since * 1000).toISOString() } : {}),
      holdsGateway: link.addresses.some((a) => have.includes(a)),
    };
  });
  const lines = networks.map(
    (n) =>
      `vrrp ${n.networkName} (${n.link}, ${n.instance}): ${n.role}${n.since ? ` since ${n.since}` : ''}, gateway ${n.holdsGateway ? 'held here' : 'not held here'}`,
  );
  const masters = networks.filter((n) => n.role === 'MASTER').length;
  lines.push(`vrrp: master of ${masters} of ${networks.length} networks`);
  return { networks, text: lines.join('\n') };
}

/** Sends from inside the router's namespace when there is one (see peer-send-main.ts). */
export function peerSender(netns: string | undefined): PeerSender {
  if (netns === undefined) return fetchSender;
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const script = fileURLToPath(new URL(`./peer-send-main${ext}`, import.meta.url));
  return (url, headers, body) =>
    new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...process.execArgv, script], {
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('error', () => resolve(false));
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
      child.stdin?.end(JSON.stringify({ url, headers, body }));
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
