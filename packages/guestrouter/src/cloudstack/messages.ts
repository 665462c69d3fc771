/**
 * CloudStack's JSON response shapes, as the management server serialises
 * them (field names from the API response classes: ZoneResponse,
 * NetworkResponse, UserVmResponse, NicResponse, IPAddressResponse,
 * ExceptionResponse). Only the fields guestrouter reads are typed strictly;
 * CloudStack sends many more, and omits a field rather than sending null.
 */

export interface RawZone {
  id: string;
  name: string;
  /** `Advanced` or `Basic`. */
  networktype?: string;
  allocationstatus?: string;
  securitygroupsenabled?: boolean;
  [extra: string]: unknown;
}

export interface RawProvider {
  name: string;
  [extra: string]: unknown;
}

export interface RawService {
  name: string;
  provider?: RawProvider[];
  capability?: { name: string; value: string; canchooseservicecapability?: boolean }[];
  [extra: string]: unknown;
}

export interface RawTag {
  key: string;
  value: string;
  resourcetype?: string;
  resourceid?: string;
  [extra: string]: unknown;
}

export interface RawNetwork {
  id: string;
  name: string;
  displaytext?: string;
  zoneid: string;
  zonename?: string;
  cidr?: string;
  gateway?: string;
  netmask?: string;
  /** Root admin only. The VLAN id as a string (`"1234"`), or a VNI for VXLAN. */
  vlan?: string;
  /** Root admin only. `vlan://1234`, `vxlan://5001`, `vlan://untagged`. */
  broadcasturi?: string;
  /** `Vlan`, `Vxlan`, `Lswitch`, `Native` ... */
  broadcastdomaintype?: string;
  traffictype?: string;
  /** `Isolated`, `Shared`, `L2`. */
  type?: string;
  /** `Allocated`, `Implemented`, `Setup`, `Shutdown`, `Destroy`. */
  state?: string;
  service?: RawService[];
  tags?: RawTag[];
  networkofferingid?: string;
  networkofferingname?: string;
  vpcid?: string;
  /** The offering's default egress policy: true allow, false deny. */
  egressdefaultpolicy?: boolean;
  issystem?: boolean;
  /** Set when a project owns the network; such networks are listed only with `projectid`. */
  projectid?: string;
  [extra: string]: unknown;
}

export interface RawNic {
  id: string;
  networkid: string;
  networkname?: string;
  macaddress?: string;
  ipaddress?: string;
  gateway?: string;
  netmask?: string;
  isdefault?: boolean;
  /** Root admin only. */
  broadcasturi?: string;
  /** Root admin only. */
  isolationuri?: string;
  traffictype?: string;
  type?: string;
  deviceid?: string;
  /** Present in listNics answers. */
  virtualmachineid?: string;
  [extra: string]: unknown;
}

export interface RawVirtualMachine {
  id: string;
  /** The instance name, which CloudStack also gives the guest as its hostname. */
  name: string;
  displayname?: string;
  /** Caution: the hypervisor host the VM runs on (admin only), not the guest's hostname. */
  hostname?: string;
  hostid?: string;
  zoneid?: string;
  zonename?: string;
  serviceofferingname?: string;
  /** Set in deployVirtualMachine's job result when the template is password-enabled. */
  password?: string;
  passwordenabled?: boolean;
  templateid?: string;
  /** `Running`, `Stopped`, `Starting`, `Destroyed` ... */
  state?: string;
  nic?: RawNic[];
  projectid?: string;
  /** The owner (a project's VMs: the project's account). */
  account?: string;
  domainid?: string;
  /** Comma-separated SSH key pair names (CloudStack 4.17+; several key pairs per VM). */
  keypairs?: string;
  /** The one SSH key pair name of older versions. */
  keypair?: string;
  /** Values for the registered user data's variables, as Java prints a map: `{key1=value1, key2=value2}`. */
  userdatadetails?: string;
  [extra: string]: unknown;
}

/** listSSHKeyPairs items (`sshkeypair`), SSHKeyPairResponse: one name per account. */
export interface RawSshKeyPair {
  id?: string;
  name: string;
  fingerprint?: string;
  /** The OpenSSH public key text. */
  publickey?: string;
  account?: string;
  domainid?: string;
  domain?: string;
  projectid?: string;
  [extra: string]: unknown;
}

export interface RawPublicIp {
  id: string;
  ipaddress: string;
  zoneid?: string;
  /** The public network the address is drawn from. */
  networkid?: string;
  /** The guest network the address is associated with. */
  associatednetworkid?: string;
  associatednetworkname?: string;
  virtualmachineid?: string;
  virtualmachinename?: string;
  vmipaddress?: string;
  /** `Allocating`, `Allocated`, `Releasing`, `Free`. */
  state?: string;
  issourcenat?: boolean;
  isstaticnat?: boolean;
  allocated?: string;
  projectid?: string;
  [extra: string]: unknown;
}

/** What CloudStack puts under `<command>response` when a call fails. */
export interface RawErrorBody {
  uuidList?: unknown[];
  errorcode: number;
  cserrorcode?: number;
  errortext?: string;
}

/** One page of a list command: `{"count": N, "<item key>": [...]}`; `{}` when empty. */
export type RawListBody<K extends string, T> = { count?: number } & { [key in K]?: T[] };

/** getVirtualMachineUserData: `{"virtualmachineuserdata": {...}}` under its response key. */
export interface RawVirtualMachineUserData {
  virtualmachineid?: string;
  /** Base64, as the VM was given it; absent when the VM has none. */
  userdata?: string;
  [extra: string]: unknown;
}

/** queryAsyncJobResult: `jobstatus` 0 pending, 1 succeeded, 2 failed. */
export interface RawAsyncJob {
  jobid?: string;
  jobstatus: number;
  jobprocstatus?: number;
  jobresultcode?: number;
  jobresulttype?: string;
  jobresult?: { virtualmachine?: RawVirtualMachine; errorcode?: number; errortext?: string };
  [extra: string]: unknown;
}

/** `listPortForwardingRules` items (`portforwardingrule`), FirewallRuleResponse. Ports are strings there. */
export interface RawPortForwardingRule {
  id: string;
  privateport?: string;
  privateendport?: string;
  publicport?: string;
  publicendport?: string;
  protocol?: string;
  virtualmachineid?: string;
  virtualmachinename?: string;
  ipaddressid?: string;
  ipaddress?: string;
  state?: string;
  /** Comma-separated source CIDRs. */
  cidrlist?: string;
  vmguestip?: string;
  networkid?: string;
  projectid?: string;
  [extra: string]: unknown;
}

/** `listFirewallRules` and `listEgressFirewallRules` items (`firewallrule`), FirewallResponse. */
export interface RawFirewallRule {
  id: string;
  protocol?: string;
  startport?: number | string;
  endport?: number | string;
  ipaddressid?: string;
  ipaddress?: string;
  networkid?: string;
  state?: string;
  cidrlist?: string;
  icmptype?: number;
  icmpcode?: number;
  destcidrlist?: string;
  /** `Ingress` or `Egress`. */
  traffictype?: string;
  projectid?: string;
  [extra: string]: unknown;
}

/** `listLoadBalancerRules` items (`loadbalancerrule`), LoadBalancerResponse. */
export interface RawLoadBalancerRule {
  id: string;
  name?: string;
  publicipid?: string;
  publicip?: string;
  publicport?: string;
  privateport?: string;
  algorithm?: string;
  networkid?: string;
  cidrlist?: string;
  protocol?: string;
  state?: string;
  projectid?: string;
  [extra: string]: unknown;
}
