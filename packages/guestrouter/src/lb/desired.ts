/**
 * Pure: CloudStack load balancer rules -> the haproxy frontends guestrouter
 * serves. Each rule is checked on its own; a bad one is refused by name and
 * the others are served.
 */
import type { DesiredLink } from '../desired/types.js';
import type { Inventory } from '../inventory/types.js';
import { parseIpv4 } from '../net/ipv4.js';
import type { RuleRefusal } from '../nft/types.js';
import { cidrMatch, parsePort } from '../nft/validate.js';

export type LbAlgorithm = 'roundrobin' | 'leastconn' | 'source';
const ALGORITHMS: readonly string[] = ['roundrobin', 'leastconn', 'source'];

export interface LbBackend {
  readonly vmId: string;
  readonly address: string;
}

export interface LbFrontend {
  readonly ruleId: string;
  readonly name: string;
  readonly networkId: string;
  readonly publicIpId: string;
  readonly publicAddress: string;
  readonly publicPort: number;
  readonly privatePort: number;
  readonly algorithm: LbAlgorithm;
  /** nft match on the source (`ip saddr ...`), "" for any: the rule's cidrlist. */
  readonly sourceMatch: string;
  readonly backends: readonly LbBackend[];
}

export interface DesiredLb {
  readonly frontends: readonly LbFrontend[];
  readonly refused: readonly RuleRefusal[];
}

export function desiredLoadBalancers(inventory: Inventory, links: readonly DesiredLink[]): DesiredLb {
  const served = new Map(links.map((l) => [l.networkId, l]));
  const refused: RuleRefusal[] = [];
  const frontends: LbFrontend[] = [];
  const taken = new Map<string, string>();
  const forwarded = new Set(
    (inventory.rules?.portForwards ?? [])
      .filter((pf) => pf.protocol === 'tcp')
      .flatMap((pf) => {
        const start = Number(pf.publicStartPort);
        const end = Number(pf.publicEndPort || pf.publicStartPort);
        if (!Number.isInteger(start) || !Number.isInteger(end) || end - start > 65535) return [];
        return Array.from(
          { length: Math.max(0, end - start + 1) },
          (_, i) => `${pf.publicIpId}:${start + i}`,
        );
      }),
  );
  for (const rule of inventory.rules?.loadBalancers ?? []) {
    const what = `load balancer rule ${rule.name} (${rule.id})`;
    const ip = inventory.publicIps.find((p) => p.id === rule.publicIpId);
    const network = ip?.networkId ? served.get(ip.networkId) : undefined;
    const refuse = (message: string) =>
      refused.push({
        kind: 'load-balancer',
        ruleId: rule.id,
        ...(network ? { networkId: network.networkId } : {}),
        message: `${what} refused: ${message}`,
      });
    if (!ip || !network || parseIpv4(ip.address) === undefined) {
      refuse(
        `the router does not answer for its public address ${ip?.address ?? rule.publicIpId} (unknown, or not associated with a served network)`,
      );
      continue;
    }
    if (rule.protocol !== undefined && rule.protocol !== '' && rule.protocol !== 'tcp') {
      refuse(`protocol ${rule.protocol} is not served (haproxy balances TCP)`);
      continue;
    }
    if (!ALGORITHMS.includes(rule.algorithm)) {
      refuse(`algorithm "${rule.algorithm}" is not roundrobin, leastconn or source`);
      continue;
    }
    const pub = parsePort(rule.publicPort, 'public port');
    const priv = parsePort(rule.privatePort, 'private port');
    if (!pub.ok || !priv.ok) {
      refuse(!pub.ok ? pub.message : !priv.ok ? priv.message : '');
      continue;
    }
    const source = cidrMatch(rule.cidrs, 'ip saddr', 'source CIDR');
    if (!source.ok) {
      refuse(source.message);
      continue;
    }
    const slot = `${ip.id}:${pub.value}`;
    if (taken.has(slot) || forwarded.has(slot)) {
      refuse(`${ip.address}:${pub.value} is already used by ${taken.get(slot) ?? 'a port forward'}`);
      continue;
    }
    taken.set(slot, what);
    const backends: LbBackend[] = [];
    for (const member of rule.members) {
      const nic = inventory.nics.find(
        (n) =>
          n.vmId === member.vmId &&
          n.networkId === network.networkId &&
          (member.ipAddress === undefined || n.ipAddress === member.ipAddress),
      );
      if (!nic) {
        refused.push({
          kind: 'load-balancer',
          ruleId: rule.id,
          networkId: network.networkId,
          message: `${what}: member VM ${member.vmId} left out: it has no NIC in network ${network.networkName}`,
        });
        continue;
      }
      backends.push({ vmId: member.vmId, address: nic.ipAddress });
    }
    frontends.push({
      ruleId: rule.id,
      name: rule.name,
      networkId: network.networkId,
      publicIpId: ip.id,
      publicAddress: ip.address,
      publicPort: pub.value,
      privatePort: priv.value,
      algorithm: rule.algorithm as LbAlgorithm,
      sourceMatch: source.value,
      backends: backends.sort((a, b) => a.vmId.localeCompare(b.vmId)),
    });
  }
  frontends.sort((a, b) => a.ruleId.localeCompare(b.ruleId));
  return { frontends, refused };
}
