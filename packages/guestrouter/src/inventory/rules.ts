/**
 * The traffic rules CloudStack keeps for its Source NAT, Static NAT, Port
 * Forwarding, Firewall, egress Firewall and Load Balancer services, as read
 * from its list calls. Ports and CIDRs stay as CloudStack sent them (text):
 * the planner validates each rule and refuses a bad one by name, so one
 * broken rule never blocks the others.
 */

/** `listPortForwardingRules`: public address and port range to a VM's guest address and port range. */
export interface PortForwardRule {
  readonly id: string;
  readonly publicIpId: string;
  readonly protocol: string;
  readonly publicStartPort: string;
  readonly publicEndPort: string;
  readonly privateStartPort: string;
  readonly privateEndPort: string;
  readonly vmId: string;
  /** `vmguestip`: the VM address the rule forwards to (a VM may have several). */
  readonly vmGuestIp?: string;
  readonly networkId?: string;
  /** Source CIDRs allowed; empty means any. */
  readonly cidrs: readonly string[];
  readonly state?: string;
}

/** `listFirewallRules` (ingress, per public address) and `listEgressFirewallRules` (per network). */
export interface FirewallRule {
  readonly id: string;
  /** Ingress rules: the public address the rule opens. */
  readonly publicIpId?: string;
  /** Egress rules: the guest network they apply to. */
  readonly networkId?: string;
  /** `tcp`, `udp`, `icmp` or `all`. */
  readonly protocol: string;
  readonly startPort?: string;
  readonly endPort?: string;
  readonly icmpType?: string;
  readonly icmpCode?: string;
  /** Source CIDRs (`cidrlist`); empty means any. */
  readonly cidrs: readonly string[];
  /** Egress rules: destination CIDRs (`destcidrlist`); empty means any. */
  readonly destCidrs: readonly string[];
  readonly state?: string;
}

/** `listLoadBalancerRules` with its members from `listLoadBalancerRuleInstances`. */
export interface LoadBalancerRule {
  readonly id: string;
  readonly name: string;
  readonly publicIpId: string;
  readonly publicPort: string;
  readonly privatePort: string;
  /** `roundrobin`, `leastconn` or `source`. */
  readonly algorithm: string;
  readonly protocol?: string;
  readonly networkId?: string;
  readonly cidrs: readonly string[];
  readonly members: readonly { readonly vmId: string; readonly ipAddress?: string }[];
  readonly state?: string;
}

export interface InventoryRules {
  readonly portForwards: readonly PortForwardRule[];
  readonly firewall: readonly FirewallRule[];
  readonly egress: readonly FirewallRule[];
  readonly loadBalancers: readonly LoadBalancerRule[];
}

export const NO_RULES: InventoryRules = { portForwards: [], firewall: [], egress: [], loadBalancers: [] };
