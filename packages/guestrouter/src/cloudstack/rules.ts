/**
 * Reads the NAT, port forwarding, firewall and load balancer rules. The
 * mapping from CloudStack's JSON is pure (mapPortForwardingRule, ...); the
 * fetch adds the list calls. A failed call rejects the whole fetch, as for
 * the rest of the inventory: missing rules must never look like deleted ones.
 */
import type { FirewallRule, InventoryRules, LoadBalancerRule, PortForwardRule } from '../inventory/rules.js';
import type { CloudStackClient, Params } from './client.js';
import type {
  RawFirewallRule,
  RawLoadBalancerRule,
  RawPortForwardingRule,
  RawVirtualMachine,
} from './messages.js';

/** CloudStack's `cidrlist` is one string, entries separated by commas (some versions add spaces). */
export function splitCidrList(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

function text(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

export function mapPortForwardingRule(raw: RawPortForwardingRule): PortForwardRule {
  const publicStart = text(raw.publicport);
  const privateStart = text(raw.privateport);
  return {
    id: raw.id,
    publicIpId: text(raw.ipaddressid),
    protocol: text(raw.protocol).toLowerCase(),
    publicStartPort: publicStart,
    publicEndPort: text(raw.publicendport) || publicStart,
    privateStartPort: privateStart,
    privateEndPort: text(raw.privateendport) || privateStart,
    vmId: text(raw.virtualmachineid),
    ...(raw.vmguestip ? { vmGuestIp: raw.vmguestip } : {}),
    ...(raw.networkid ? { networkId: raw.networkid } : {}),
    cidrs: splitCidrList(raw.cidrlist),
    ...(raw.state ? { state: raw.state } : {}),
  };
}

export function mapFirewallRule(raw: RawFirewallRule): FirewallRule {
  return {
    id: raw.id,
    ...(raw.ipaddressid ? { publicIpId: raw.ipaddressid } : {}),
    ...(raw.networkid ? { networkId: raw.networkid } : {}),
    protocol: text(raw.protocol).toLowerCase(),
    ...(raw.startport !== undefined ? { startPort: text(raw.startport) } : {}),
    ...(raw.endport !== undefined ? { endPort: text(raw.endport) } : {}),
    ...(raw.icmptype !== undefined ? { icmpType: text(raw.icmptype) } : {}),
    ...(raw.icmpcode !== undefined ? { icmpCode: text(raw.icmpcode) } : {}),
    cidrs: splitCidrList(raw.cidrlist),
    destCidrs: splitCidrList(raw.destcidrlist),
    ...(raw.state ? { state: raw.state } : {}),
  };
}

export function mapLoadBalancerRule(
  raw: RawLoadBalancerRule,
  members: readonly RawVirtualMachine[],
): LoadBalancerRule {
  return {
    id: raw.id,
    name: raw.name ?? raw.id,
    publicIpId: text(raw.publicipid),
    publicPort: text(raw.publicport),
    privatePort: text(raw.privateport),
    algorithm: text(raw.algorithm).toLowerCase(),
    ...(raw.protocol ? { protocol: raw.protocol.toLowerCase() } : {}),
    ...(raw.networkid ? { networkId: raw.networkid } : {}),
    cidrs: splitCidrList(raw.cidrlist),
    members: members.map((vm) => {
      const nic = (vm.nic ?? []).find((n) => raw.networkid === undefined || n.networkid === raw.networkid);
      return nic?.ipaddress ? { vmId: vm.id, ipAddress: nic.ipaddress } : { vmId: vm.id };
    }),
    ...(raw.state ? { state: raw.state } : {}),
  };
}

/** A rule being revoked is on its way out: CloudStack's VR stops serving it at once too. */
function live(rule: { state?: string }): boolean {
  return rule.state?.toLowerCase() !== 'revoke';
}

/**
 * listPortForwardingRules, listFirewallRules, listEgressFirewallRules,
 * listLoadBalancerRules (account and project passes through `listBoth`), then
 * listLoadBalancerRuleInstances once per load balancer rule.
 */
export async function fetchRules(
  client: CloudStackClient,
  listBoth: <T extends { id: string }>(command: string, params: Params, key: string) => Promise<T[]>,
): Promise<InventoryRules> {
  const portForwards = await listBoth<RawPortForwardingRule>(
    'listPortForwardingRules',
    {},
    'portforwardingrule',
  );
  const firewall = await listBoth<RawFirewallRule>('listFirewallRules', {}, 'firewallrule');
  const egress = await listBoth<RawFirewallRule>('listEgressFirewallRules', {}, 'firewallrule');
  const loadBalancers = await listBoth<RawLoadBalancerRule>('listLoadBalancerRules', {}, 'loadbalancerrule');
  const lbRules: LoadBalancerRule[] = [];
  for (const lb of loadBalancers) {
    const members = await client.listAll<RawVirtualMachine>(
      'listLoadBalancerRuleInstances',
      { id: lb.id, applied: true },
      'loadbalancerruleinstance',
    );
    lbRules.push(mapLoadBalancerRule(lb, members));
  }
  return {
    portForwards: portForwards.filter(live).map(mapPortForwardingRule),
    firewall: firewall.filter(live).map(mapFirewallRule),
    egress: egress.filter(live).map(mapFirewallRule),
    loadBalancers: lbRules.filter(live),
  };
}
