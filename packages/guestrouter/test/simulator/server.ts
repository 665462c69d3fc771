/**
 * A CloudStack API simulator for tests and demos (CloudStack itself cannot run
 * here). It checks request signatures the way the management server does,
 * with its own implementation (it shares no code with the client's signing),
 * answers in CloudStack's JSON shapes with CloudStack's paging, hides `vlan`
 * and `broadcasturi` from non-root-admin keys, and injects faults on demand.
 * The inventory is `handle.state`: tests change it between calls.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type {
  RawFirewallRule,
  RawLoadBalancerRule,
  RawNetwork,
  RawNic,
  RawPortForwardingRule,
  RawPublicIp,
  RawSshKeyPair,
  RawVirtualMachine,
  RawZone,
} from '../../src/cloudstack/messages.js';
import { EXTENSION_ACTIONS, EXTENSION_LISTS, type SimExtensionState } from './extensions.js';

export type {
  RawFirewallRule,
  RawLoadBalancerRule,
  RawNetwork,
  RawNic,
  RawPortForwardingRule,
  RawPublicIp,
  RawSshKeyPair,
  RawVirtualMachine,
  RawZone,
};

export interface SimState {
  zones: RawZone[];
  networks: RawNetwork[];
  virtualMachines: RawVirtualMachine[];
  publicIpAddresses: RawPublicIp[];
  /** listPortForwardingRules; absent: none. */
  portForwardingRules?: RawPortForwardingRule[];
  /** listFirewallRules (ingress, per public address). */
  firewallRules?: RawFirewallRule[];
  /** listEgressFirewallRules (per network). */
  egressFirewallRules?: RawFirewallRule[];
  loadBalancerRules?: RawLoadBalancerRule[];
  /** listLoadBalancerRuleInstances: VM ids assigned to each load balancer rule id. */
  loadBalancerInstances?: Record<string, string[]>;
  /** listSSHKeyPairs: key pairs by owner (a VM names its own in `keypairs`). */
  sshKeyPairs?: RawSshKeyPair[];
  /** User data per VM id, base64 as CloudStack stores it (getVirtualMachineUserData). */
  userData?: Record<string, string>;
  /** Templates deployVirtualMachine accepts; `passwordenabled` ones give the new VM a password. */
  templates?: { id: string; name: string; passwordenabled: boolean }[];
  /** Extensions, providers and offerings (the Network Extension setup calls); absent: none yet. */
  extensionSetup?: SimExtensionState;
  /** Physical networks registerExtension accepts (listPhysicalNetworks is not simulated). */
  physicalNetworks?: string[];
}

/** An async job of deployVirtualMachine: pending for `pendingPolls` queries, then done. */
interface SimJob {
  jobid: string;
  pendingPolls: number;
  result:
    | { virtualmachine: RawVirtualMachine }
    | { errorcode: number; errortext: string }
    | Record<string, unknown>;
  /** The API command class the job reports (deployVirtualMachine's when absent). */
  cmd?: string;
}

/**
 * Faults for the next requests: `http500` an HTML 500 page, `malformed` a
 * truncated JSON body with status 200, `errorcode431` / `errorcode530`
 * CloudStack error answers, `http429` a rate-limit answer, `close` the socket
 * dropped without an answer, `stall` no answer at all (the client must time out),
 * `truncate` headers and half the body then the socket dropped, `stallBody`
 * headers and half the body then nothing. List answers that look fine but are not whole:
 * `shortPage` the page without its last item (the `count` still says how many there are),
 * `missingPage` the page with its `count` and no items (as a page past the end).
 */
export type FaultKind =
  | 'http500'
  | 'malformed'
  | 'errorcode431'
  | 'errorcode530'
  | 'http429'
  | 'close'
  | 'stall'
  | 'truncate'
  | 'stallBody'
  | 'shortPage'
  | 'missingPage';

/** Faults that change a correct list answer instead of replacing it. */
const LIST_FAULTS: ReadonlySet<FaultKind> = new Set(['shortPage', 'missingPage']);

export interface SimulatorHandle {
  url: string;
  apiKey: string;
  secretKey: string;
  /** The live inventory; mutate it (or replace its arrays) between calls. */
  state: SimState;
  /** Every request served, in order; status 0 for dropped connections (the newest 50,000-100,000 are kept). */
  requests: { command: string; status: number }[];
  /** The next n requests (only those for `command` when given) get the fault, after `skip` matching ones pass. */
  failNext(n: number, kind: FaultKind, command?: string, skip?: number): void;
  stop(): Promise<void>;
}

export interface SimulatorOptions {
  state: SimState;
  apiKey?: string;
  secretKey?: string;
  host?: string;
  port?: number;
  /** false: answer as CloudStack does for a domain admin or user (no vlan, broadcasturi, isolationuri). */
  rootAdmin?: boolean;
  /** CloudStack's `default.page.size`: the largest pagesize accepted and the default (500). */
  maxPageSize?: number;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

const MAX_LOGGED_REQUESTS = 100_000;
const AUTH_FAILED_TEXT = 'unable to verify user credentials and/or request signature';
/** CloudStack's cserrorcode for InvalidParameterValueException and for CloudRuntimeException. */
const CS_INVALID_PARAMETER = 4350;
const CS_RUNTIME = 4250;

interface CommandSpec {
  itemKey: string;
  list(state: SimState, query: Query): unknown[] | ErrorAnswer;
  /** What a non-root-admin sees of one item; applied to the served page only, so big lists stay cheap. */
  hide?(item: never): unknown;
}

interface ErrorAnswer {
  status: number;
  errorcode: number;
  errortext: string;
  cserrorcode?: number;
}

type Query = Map<string, string>;

function isErrorAnswer(x: unknown): x is ErrorAnswer {
  return typeof x === 'object' && x !== null && 'errorcode' in x && 'status' in x;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && v.toLowerCase() === 'true';
}

function withoutAdminFields<T extends object>(item: T, fields: readonly string[]): T {
  const copy = { ...(item as unknown as Record<string, unknown>) };
  for (const f of fields) delete copy[f];
  return copy as T;
}

function hideNic(nic: RawNic): RawNic {
  return withoutAdminFields(nic, ['broadcasturi', 'isolationuri']);
}

/**
 * CloudStack's project scoping: without `projectid` only resources outside
 * projects are listed (even with listall=true); `projectid=-1` lists the
 * resources of all projects; any other value that one project.
 */
function inProjectScope(item: { projectid?: unknown }, q: Query): boolean {
  const wanted = q.get('projectid');
  const owner = typeof item.projectid === 'string' ? item.projectid : undefined;
  if (wanted === undefined) return owner === undefined;
  if (wanted === '-1') return owner !== undefined;
  return owner === wanted;
}

/** Commands that are not lists: they answer one object under their response key. */
type ActionSpec = (
  state: SimState,
  q: Query,
  jobs: Map<string, SimJob>,
) => Record<string, unknown> | ErrorAnswer;

function invalidParameter(command: string, name: string, value: string | undefined): ErrorAnswer {
  return {
    status: 431,
    errorcode: 431,
    cserrorcode: CS_INVALID_PARAMETER,
    errortext:
      value === undefined
        ? `Unable to execute API command ${command} due to missing parameter ${name}`
        : `Unable to execute API command ${command} due to invalid value. Invalid parameter ${name} value=${value} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`,
  };
}

function extensionSetup(state: SimState): SimExtensionState {
  state.extensionSetup ??= {
    extensions: [],
    providers: [],
    offerings: [],
    physicalNetworks: state.physicalNetworks ?? [],
  };
  return state.extensionSetup;
}

let extensionJobSerial = 0;

const EXTENSION_ACTION_SPECS: Record<string, ActionSpec> = Object.fromEntries(
  Object.entries(EXTENSION_ACTIONS).map(([name, act]) => [
    name,
    (state: SimState, q: Query, jobs: Map<string, SimJob>) => {
      const answer = act(extensionSetup(state), q, (result) => {
        const jobid = `f2000000-0000-4000-8000-${(++extensionJobSerial).toString(16).padStart(12, '0')}`;
        jobs.set(jobid, {
          jobid,
          pendingPolls: 1,
          result: result as Record<string, unknown>,
          cmd: 'org.apache.cloudstack.api.command.admin.network.UpdateNetworkServiceProviderCmd',
        });
        return jobid;
      });
      return answer as Record<string, unknown> | ErrorAnswer;
    },
  ]),
);

const ACTIONS: Record<string, ActionSpec> = {
  ...EXTENSION_ACTION_SPECS,
  getvirtualmachineuserdata: (state, q) => {
    const vmId = q.get('virtualmachineid');
    const vm = state.virtualMachines.find((v) => v.id === vmId);
    if (vmId === undefined || vm === undefined)
      return invalidParameter('getvirtualmachineuserdata', 'virtualmachineid', vmId);
    const userdata = state.userData?.[vm.id];
    // CloudStack leaves `userdata` out when the VM has none.
    return {
      virtualmachineuserdata: { virtualmachineid: vm.id, ...(userdata === undefined ? {} : { userdata }) },
    };
  },
  deployvirtualmachine: (state, q, jobs) => {
    for (const name of ['zoneid', 'templateid', 'serviceofferingid']) {
      if (!q.has(name)) return invalidParameter('deployvirtualmachine', name, undefined);
    }
    const template = (state.templates ?? []).find((t) => t.id === q.get('templateid'));
    if (template === undefined)
      return invalidParameter('deployvirtualmachine', 'templateid', q.get('templateid'));
    const networkId = (q.get('networkids') ?? '').split(',')[0] ?? '';
    const network = state.networks.find((n) => n.id === networkId);
    if (network === undefined)
      return invalidParameter('deployvirtualmachine', 'networkids', q.get('networkids'));
    const used = new Set(state.virtualMachines.flatMap((v) => (v.nic ?? []).map((n) => n.ipaddress)));
    const prefix = (network.gateway ?? '').split('.').slice(0, 3).join('.');
    let host = 2;
    while (used.has(`${prefix}.${host}`)) host++;
    const serial = state.virtualMachines.length + jobs.size + 1;
    const id = `c1000000-0000-4000-8000-${serial.toString(16).padStart(12, '0')}`;
    const name = q.get('name') ?? `VM-${id}`;
    const vm: RawVirtualMachine = {
      id,
      name,
      displayname: q.get('displayname') ?? name,
      zoneid: q.get('zoneid') as string,
      zonename: state.zones.find((z) => z.id === q.get('zoneid'))?.name ?? '',
      serviceofferingname: 'Small Instance',
      templateid: template.id,
      passwordenabled: template.passwordenabled,
      state: 'Running',
      nic: [
        {
          id: `d1000000-0000-4000-8000-${serial.toString(16).padStart(12, '0')}`,
          networkid: network.id,
          networkname: network.name,
          macaddress: `02:01:00:00:${((serial >> 8) & 255).toString(16).padStart(2, '0')}:${(serial & 255).toString(16).padStart(2, '0')}`,
          ipaddress: `${prefix}.${host}`,
          gateway: network.gateway,
          netmask: network.netmask,
          isdefault: true,
          broadcasturi: network.broadcasturi,
          isolationuri: network.broadcasturi,
          traffictype: 'Guest',
          type: network.type,
          deviceid: '0',
        },
      ],
    };
    // CloudStack records the key pairs named at deploy time on the VM (`keypairs`; older `keypair`).
    const keypairs = q.get('keypairs') ?? q.get('keypair');
    if (keypairs !== undefined) Object.assign(vm, { keypairs, account: q.get('account') ?? 'admin' });
    const userdata = q.get('userdata');
    const jobid = `f1000000-0000-4000-8000-${serial.toString(16).padStart(12, '0')}`;
    // Listed at once (CloudStack lists a VM while it starts); the password is only in the job result.
    const password = template.passwordenabled ? randomBytes(9).toString('base64url') : undefined;
    jobs.set(jobid, {
      jobid,
      pendingPolls: 1,
      result: { virtualmachine: { ...vm, ...(password ? { password } : {}) } },
    });
    state.virtualMachines.push(vm);
    if (userdata !== undefined) state.userData = { ...state.userData, [id]: userdata };
    return { id, jobid };
  },
  queryasyncjobresult: (_state, q, jobs) => {
    const jobid = q.get('jobid');
    const job = jobid === undefined ? undefined : jobs.get(jobid);
    if (job === undefined) return invalidParameter('queryasyncjobresult', 'jobid', jobid);
    const base = {
      jobid: job.jobid,
      cmd: job.cmd ?? 'org.apache.cloudstack.api.command.user.vm.DeployVMCmd',
      userid: 'u',
      accountid: 'a',
    };
    if (job.pendingPolls > 0) {
      job.pendingPolls--;
      return { ...base, jobstatus: 0, jobprocstatus: 0, jobresultcode: 0 };
    }
    const failed = 'errorcode' in job.result;
    return {
      ...base,
      jobstatus: failed ? 2 : 1,
      jobprocstatus: 0,
      jobresultcode: failed ? 530 : 0,
      jobresulttype: 'object',
      jobresult: job.result,
    };
  },
};

const COMMANDS: Record<string, CommandSpec> = {
  ...Object.fromEntries(
    Object.entries(EXTENSION_LISTS).map(([name, spec]) => [
      name,
      { itemKey: spec.itemKey, list: (state: SimState, q: Query) => spec.list(extensionSetup(state), q) },
    ]),
  ),
  listzones: {
    itemKey: 'zone',
    list: (state, q) => state.zones.filter((z) => !q.has('id') || z.id === q.get('id')),
  },
  listnetworks: {
    itemKey: 'network',
    hide: (n: RawNetwork) => withoutAdminFields(n, ['vlan', 'broadcasturi']),
    list: (state, q) => {
      const keyword = q.get('keyword')?.toLowerCase();
      return state.networks.filter(
        (n) =>
          inProjectScope(n, q) &&
          (!q.has('id') || n.id === q.get('id')) &&
          (!q.has('zoneid') || n.zoneid === q.get('zoneid')) &&
          (!q.has('type') || n.type?.toLowerCase() === q.get('type')?.toLowerCase()) &&
          (keyword === undefined || n.name.toLowerCase().includes(keyword)),
      );
    },
  },
  listvirtualmachines: {
    itemKey: 'virtualmachine',
    hide: (vm: RawVirtualMachine) => ({
      ...withoutAdminFields(vm, ['hostname', 'hostid']),
      nic: (vm.nic ?? []).map(hideNic),
    }),
    list: (state, q) => {
      const networkId = q.get('networkid');
      return state.virtualMachines.filter(
        (vm) =>
          inProjectScope(vm, q) &&
          (!q.has('id') || vm.id === q.get('id')) &&
          (!q.has('zoneid') || vm.zoneid === q.get('zoneid')) &&
          (!q.has('state') || vm.state?.toLowerCase() === q.get('state')?.toLowerCase()) &&
          (networkId === undefined || (vm.nic ?? []).some((nic) => nic.networkid === networkId)),
      );
    },
  },
  listsshkeypairs: {
    itemKey: 'sshkeypair',
    list: (state, q) =>
      (state.sshKeyPairs ?? []).filter(
        (k) =>
          inProjectScope(k, q) &&
          (!q.has('name') || k.name === q.get('name')) &&
          (!q.has('account') || k.account === q.get('account')) &&
          (!q.has('domainid') || k.domainid === q.get('domainid')),
      ),
  },
  listnics: {
    itemKey: 'nic',
    hide: hideNic,
    list: (state, q) => {
      const vmId = q.get('virtualmachineid');
      if (vmId === undefined) {
        return {
          status: 431,
          errorcode: 431,
          cserrorcode: CS_INVALID_PARAMETER,
          errortext: 'Unable to execute API command listnics due to missing parameter virtualmachineid',
        };
      }
      const vm = state.virtualMachines.find((v) => v.id === vmId);
      if (vm === undefined) {
        return {
          status: 431,
          errorcode: 431,
          cserrorcode: CS_INVALID_PARAMETER,
          errortext: `Unable to execute API command listnics due to invalid value. Invalid parameter virtualmachineid value=${vmId} due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class.`,
        };
      }
      const nics = (vm.nic ?? [])
        .filter((nic) => !q.has('networkid') || nic.networkid === q.get('networkid'))
        .map((nic) => ({ ...nic, virtualmachineid: vm.id }));
      return nics;
    },
  },
  listpublicipaddresses: {
    itemKey: 'publicipaddress',
    list: (state, q) =>
      state.publicIpAddresses.filter(
        (ip) =>
          inProjectScope(ip, q) &&
          (!q.has('id') || ip.id === q.get('id')) &&
          (!q.has('zoneid') || ip.zoneid === q.get('zoneid')) &&
          (!q.has('associatednetworkid') || ip.associatednetworkid === q.get('associatednetworkid')) &&
          (!truthy(q.get('allocatedonly')) || ip.state === 'Allocated') &&
          (!q.has('issourcenat') || String(ip.issourcenat === true) === q.get('issourcenat')) &&
          (!q.has('isstaticnat') || String(ip.isstaticnat === true) === q.get('isstaticnat')),
      ),
  },
  listportforwardingrules: {
    itemKey: 'portforwardingrule',
    list: (state, q) =>
      (state.portForwardingRules ?? []).filter(
        (r) =>
          inProjectScope(r, q) &&
          (!q.has('id') || r.id === q.get('id')) &&
          (!q.has('ipaddressid') || r.ipaddressid === q.get('ipaddressid')) &&
          (!q.has('networkid') || r.networkid === q.get('networkid')),
      ),
  },
  listfirewallrules: {
    itemKey: 'firewallrule',
    list: (state, q) =>
      (state.firewallRules ?? []).filter(
        (r) =>
          inProjectScope(r, q) &&
          (!q.has('id') || r.id === q.get('id')) &&
          (!q.has('ipaddressid') || r.ipaddressid === q.get('ipaddressid')) &&
          (!q.has('networkid') || r.networkid === q.get('networkid')),
      ),
  },
  listegressfirewallrules: {
    itemKey: 'firewallrule',
    list: (state, q) =>
      (state.egressFirewallRules ?? []).filter(
        (r) =>
          inProjectScope(r, q) &&
          (!q.has('id') || r.id === q.get('id')) &&
          (!q.has('networkid') || r.networkid === q.get('networkid')),
      ),
  },
  listloadbalancerrules: {
    itemKey: 'loadbalancerrule',
    list: (state, q) =>
      (state.loadBalancerRules ?? []).filter(
        (r) =>
          inProjectScope(r, q) &&
          (!q.has('id') || r.id === q.get('id')) &&
          (!q.has('publicipid') || r.publicipid === q.get('publicipid')) &&
          (!q.has('networkid') || r.networkid === q.get('networkid')),
      ),
  },
  listloadbalancerruleinstances: {
    itemKey: 'loadbalancerruleinstance',
    list: (state, q) => {
      const id = q.get('id');
      if (id === undefined || !(state.loadBalancerRules ?? []).some((r) => r.id === id)) {
        return {
          status: 431,
          errorcode: 431,
          cserrorcode: CS_INVALID_PARAMETER,
          errortext: `Unable to execute API command listloadbalancerruleinstances due to invalid value. Invalid parameter id value=${id ?? ''}`,
        };
      }
      const members = new Set(state.loadBalancerInstances?.[id] ?? []);
      return state.virtualMachines.filter((vm) => members.has(vm.id));
    },
  },
};

/**
 * Java's URLEncoder.encode(value, "UTF-8"), byte by byte: unreserved are
 * letters, digits and `.-*_`; space becomes `+`; every other byte `%XX`.
 */
function javaUrlEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const isAlnum =
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
    if (isAlnum || byte === 0x2e || byte === 0x2d || byte === 0x2a || byte === 0x5f)
      out += String.fromCharCode(byte);
    else if (byte === 0x20) out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Accepts the forms CloudStack's DateUtil.parseTZDateString takes: +HHMM, +HH:MM, Z, and the legacy Z+HHMM. */
function parseExpires(value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|Z?[+-]\d{2}:?\d{2})$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, zone] = m;
  let offsetMinutes = 0;
  const z = (zone ?? 'Z').replace(/^Z(?=[+-])/, '');
  if (z !== 'Z') {
    const sign = z.startsWith('-') ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  }
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  return Number.isNaN(utc) ? undefined : utc - offsetMinutes * 60_000;
}

interface VerifyResult {
  ok: boolean;
  why?: string;
}

function verifySignature(rawQuery: string, apiKey: string, secretKey: string, nowMs: number): VerifyResult {
  const parsed = new URLSearchParams(rawQuery);
  // The servlet keeps the first value of a repeated parameter.
  const firstValues = new Map<string, string>();
  for (const [name, value] of parsed) if (!firstValues.has(name)) firstValues.set(name, value);
  let signature: string | undefined;
  let givenKey: string | undefined;
  let version: string | undefined;
  let expires: string | undefined;
  const names = [...firstValues.keys()].sort(); // case-sensitive, as Collections.sort on Java strings
  const pieces: string[] = [];
  for (const name of names) {
    const value = firstValues.get(name) ?? '';
    const lower = name.toLowerCase();
    if (lower === 'signature') {
      signature = value;
      continue;
    }
    if (lower === 'apikey') givenKey = value;
    else if (lower === 'signatureversion') version = value;
    else if (lower === 'expires') expires = value;
    pieces.push(`${name}=${javaUrlEncode(value).replace(/\+/g, '%20')}`);
  }
  if (signature === undefined || givenKey === undefined)
    return { ok: false, why: 'missing signature or apiKey' };
  if (version === '3') {
    if (expires === undefined) return { ok: false, why: 'signatureversion 3 without expires' };
    const expiresMs = parseExpires(expires);
    if (expiresMs === undefined) return { ok: false, why: `unparseable expires ${expires}` };
    if (expiresMs < nowMs) return { ok: false, why: 'request expired' };
  }
  if (givenKey !== apiKey) return { ok: false, why: 'unknown apiKey' };
  const expected = createHmac('sha1', Buffer.from(secretKey, 'utf8'))
    .update(Buffer.from(pieces.join('&').toLowerCase(), 'utf8'))
    .digest();
  const given = Buffer.from(signature, 'base64');
  const ok =
    given.length === expected.length &&
    timingSafeEqual(given, expected) &&
    given.toString('base64') === signature;
  return ok ? { ok: true } : { ok: false, why: 'signature mismatch' };
}

function randomKey(): string {
  // CloudStack keys are 86 characters of URL-safe base64.
  return randomBytes(64).toString('base64url');
}

export async function startSimulator(options: SimulatorOptions): Promise<SimulatorHandle> {
  const apiKey = options.apiKey ?? randomKey();
  const secretKey = options.secretKey ?? randomKey();
  const rootAdmin = options.rootAdmin ?? true;
  const maxPageSize = options.maxPageSize ?? 500;
  const faults: { kind: FaultKind; command: string | undefined; skip: number }[] = [];
  const stalled = new Set<http.ServerResponse>();
  const sockets = new Set<Socket>();
  const jobs = new Map<string, SimJob>();

  const handle: SimulatorHandle = {
    url: '',
    apiKey,
    secretKey,
    state: options.state,
    requests: [],
    failNext(n, kind, command, skip = 0) {
      for (let i = 0; i < n; i++) faults.push({ kind, command: command?.toLowerCase(), skip });
    },
    stop: async () => {},
  };

  function record(command: string, status: number): void {
    // A long-running demo simulator must not grow without bound: keep the newest half.
    if (handle.requests.length >= MAX_LOGGED_REQUESTS) handle.requests.splice(0, MAX_LOGGED_REQUESTS / 2);
    handle.requests.push({ command, status });
  }

  function send(
    res: http.ServerResponse,
    command: string,
    status: number,
    body: string,
    type = 'application/json; charset=UTF-8',
  ) {
    record(command, status);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  function sendError(res: http.ServerResponse, command: string, responseKey: string, e: ErrorAnswer) {
    const body: Record<string, unknown> = { uuidList: [], errorcode: e.errorcode };
    if (e.cserrorcode !== undefined) body.cserrorcode = e.cserrorcode;
    body.errortext = e.errortext;
    send(res, command, e.status, JSON.stringify({ [responseKey]: body }));
  }

  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse) {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1);
    const params: Query = new Map();
    for (const [name, value] of new URLSearchParams(rawQuery)) {
      const lower = name.toLowerCase();
      if (!params.has(lower)) params.set(lower, value);
    }
    const command = params.get('command') ?? '';
    if (req.method !== 'GET' || path !== '/client/api') {
      send(res, command, 404, 'not found\n', 'text/plain');
      return;
    }
    const faultIndex = faults.findIndex(
      (f) => f.command === undefined || f.command === command.toLowerCase(),
    );
    let listFault: FaultKind | undefined;
    const pending = faults[faultIndex];
    if (pending !== undefined && pending.skip > 0) {
      // This request passes; the ones after it get the fault. Every pending fault of the command waits.
      for (const f of faults) if (f.command === pending.command && f.skip > 0) f.skip--;
    } else if (faultIndex >= 0 && LIST_FAULTS.has(faults[faultIndex]?.kind as FaultKind)) {
      listFault = faults.splice(faultIndex, 1)[0]?.kind;
    } else if (faultIndex >= 0) {
      const [fault] = faults.splice(faultIndex, 1);
      if (fault !== undefined) {
        injectFault(res, command, fault.kind);
        return;
      }
    }
    const spec = COMMANDS[command.toLowerCase()];
    const action = ACTIONS[command.toLowerCase()];
    const responseKey =
      spec === undefined && action === undefined ? 'errorresponse' : `${command.toLowerCase()}response`;
    const verdict = verifySignature(rawQuery, apiKey, secretKey, Date.now());
    // Like the management server, an unknown command fails the same way a bad signature does.
    if (!verdict.ok || (spec === undefined && action === undefined)) {
      res.setHeader('x-simulator-auth', verdict.ok ? 'unknown command' : (verdict.why ?? 'failed'));
      sendError(res, command, responseKey, { status: 401, errorcode: 401, errortext: AUTH_FAILED_TEXT });
      return;
    }
    if ((params.get('response') ?? 'xml').toLowerCase() !== 'json') {
      send(
        res,
        command,
        200,
        '<?xml version="1.0" encoding="UTF-8"?><error>simulator speaks JSON only</error>',
        'text/xml',
      );
      return;
    }
    if (action !== undefined) {
      const answer = action(handle.state, params, jobs);
      if (isErrorAnswer(answer)) sendError(res, command, responseKey, answer);
      else send(res, command, 200, JSON.stringify({ [responseKey]: answer }));
      return;
    }
    if (spec === undefined) return;
    const pageSizeText = params.get('pagesize');
    const pageText = params.get('page');
    let pageSize = maxPageSize;
    let page = 1;
    if (pageSizeText !== undefined) {
      pageSize = Number(pageSizeText);
      if (!Number.isInteger(pageSize) || (pageSize < 1 && pageSize !== -1)) {
        sendError(res, command, responseKey, {
          status: 431,
          errorcode: 431,
          cserrorcode: CS_INVALID_PARAMETER,
          errortext: `Unable to execute API command ${command.toLowerCase()} due to invalid value. Invalid parameter pagesize value=${pageSizeText}`,
        });
        return;
      }
      if (pageSize > maxPageSize) {
        sendError(res, command, responseKey, {
          status: 431,
          errorcode: 431,
          cserrorcode: CS_INVALID_PARAMETER,
          errortext: `Page size can't exceed max allowed page size value: ${maxPageSize}`,
        });
        return;
      }
    }
    if (pageText !== undefined && pageSize === -1) {
      sendError(res, command, responseKey, {
        status: 431,
        errorcode: 431,
        cserrorcode: CS_INVALID_PARAMETER,
        errortext: "Can't specify page parameter when pagesize is -1 (Unlimited)",
      });
      return;
    }
    if (pageText !== undefined) {
      page = Number(pageText);
      if (!Number.isInteger(page) || page < 1) {
        sendError(res, command, responseKey, {
          status: 431,
          errorcode: 431,
          cserrorcode: CS_INVALID_PARAMETER,
          errortext: `Unable to execute API command ${command.toLowerCase()} due to invalid value. Invalid parameter page value=${pageText}`,
        });
        return;
      }
    }
    const listed = spec.list(handle.state, params);
    if (isErrorAnswer(listed)) {
      sendError(res, command, responseKey, listed);
      return;
    }
    if (listed.length === 0) {
      send(res, command, 200, JSON.stringify({ [responseKey]: {} }));
      return;
    }
    let page1 = pageSize === -1 ? listed : listed.slice((page - 1) * pageSize, page * pageSize);
    if (listFault === 'shortPage') page1 = page1.slice(0, -1);
    if (listFault === 'missingPage') page1 = [];
    const hide = spec.hide as ((item: unknown) => unknown) | undefined;
    const slice = rootAdmin || hide === undefined ? page1 : page1.map(hide);
    // CloudStack answers a page past the end with the count and no items.
    const inner: Record<string, unknown> = { count: listed.length };
    if (slice.length > 0) inner[spec.itemKey] = slice;
    send(res, command, 200, JSON.stringify({ [responseKey]: inner }));
  }

  function injectFault(res: http.ServerResponse, command: string, fault: FaultKind) {
    const key = `${command.toLowerCase()}response`;
    switch (fault) {
      case 'http500':
        send(
          res,
          command,
          500,
          '<html><body><h1>HTTP Status 500 - Internal Server Error</h1></body></html>',
          'text/html',
        );
        return;
      case 'http429':
        send(
          res,
          command,
          429,
          JSON.stringify({
            [key]: {
              uuidList: [],
              errorcode: 429,
              errortext: 'The given user has reached his/her account api limit, please retry after 1000 ms.',
            },
          }),
        );
        return;
      case 'malformed':
        send(res, command, 200, `{"${key}":{"count":3,"network":[{"id":"0c4f`);
        return;
      case 'errorcode431':
        send(
          res,
          command,
          431,
          JSON.stringify({
            [key]: {
              uuidList: [],
              errorcode: 431,
              cserrorcode: CS_INVALID_PARAMETER,
              errortext: 'Unable to execute API command due to invalid value (injected fault)',
            },
          }),
        );
        return;
      case 'errorcode530':
        send(
          res,
          command,
          530,
          JSON.stringify({
            [key]: {
              uuidList: [],
              errorcode: 530,
              cserrorcode: CS_RUNTIME,
              errortext: 'Caught exception while executing command (injected fault)',
            },
          }),
        );
        return;
      case 'close':
        record(command, 0);
        res.socket?.destroy();
        return;
      case 'stall':
        record(command, 0);
        stalled.add(res);
        res.on('close', () => stalled.delete(res));
        return;
      case 'truncate':
      case 'stallBody': {
        const body = JSON.stringify({
          [key]: { count: 1, zone: [{ id: 'z', name: 'half of a longer answer' }] },
        });
        record(command, 0);
        res.writeHead(200, {
          'content-type': 'application/json; charset=UTF-8',
          'content-length': Buffer.byteLength(body),
        });
        res.write(body.slice(0, body.length >> 1), () => {
          if (fault === 'truncate') res.socket?.destroy();
        });
        if (fault === 'stallBody') {
          stalled.add(res);
          res.on('close', () => stalled.delete(res));
        }
        return;
      }
    }
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      handleRequest(req, res);
    } catch (err) {
      // A simulator bug must show up as a 500 in the test, not kill the test process.
      if (!res.headersSent)
        send(res, 'unknown', 500, `simulator error: ${(err as Error).message}\n`, 'text/plain');
    }
  };
  const server = options.tls
    ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : http.createServer(listener);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  handle.url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}/client/api`;
  handle.stop = () =>
    new Promise<void>((resolve) => {
      for (const res of stalled) res.destroy();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  return handle;
}
