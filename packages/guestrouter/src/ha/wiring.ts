/** Glue between the config, `run`, `status` and the VRRP pieces; kept here so cli.ts only calls in. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { GuestrouterConfig } from '../config/schema.js';
import type { DesiredLink } from '../desired/types.js';
import type { CurrentState } from '../kernel/types.js';
import type { OwnedProcessLogger, OwnedProcessMetrics } from '../services/owned-process.js';
import { ConntrackdService } from './conntrackd.js';
import { KeepalivedService, readRoles, VrrpMetrics } from './keepalived.js';
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
}

/** `status`: the VRRP role of this router per network, from keepalived's notify state files and the kernel. */
export async function haStatus(
  stateDir: string,
  links: readonly DesiredLink[],
  current: CurrentState,
  groups = 255,
): Promise<{ networks: HaNetworkStatus[]; text: string }> {
  const roles = await readRoles(stateDir);
  const networks = links.map((link): HaNetworkStatus => {
    const instance = instanceName(vridFor(link, groups));
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
