import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CloudStackClient, cloudStackConfigFromEnv, fetchInventory } from '../../src/cloudstack/index.js';
import { parseConfig } from '../../src/config/load.js';
import { type DesiredOptions, desiredState } from '../../src/desired/desired.js';
import { refusalFor } from '../../src/extension/commands.js';
import { mergeInventories } from '../../src/extension/merge.js';
import { type ExtensionEvent, PayloadError, parseEnvelope, toEvent } from '../../src/extension/payload.js';
import { RequestVerifier, signRequest } from '../../src/extension/signing.js';
import {
  applyEvent,
  EMPTY_STATE,
  type EventState,
  passwordOf,
  toInventory,
  userDataByVm,
  vmIdOf,
} from '../../src/extension/state.js';
import { buildRecords } from '../../src/metadata/records.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const NETWORK = { network_id: '204', vlan: '5004', zone_id: '1', gateway: '10.0.4.1', cidr: '10.0.4.0/24' };
const NIC = {
  ...NETWORK,
  mac: '02:00:4C:5E:00:02',
  ip: '10.0.4.2',
  hostname: 'web-a',
  vm_id: 'vm-a',
  default_nic: 'true',
};

function event(command: string, payload: Record<string, unknown>, isolation = 'vxlan'): ExtensionEvent {
  return toEvent(
    command,
    parseEnvelope(
      JSON.stringify({
        'physical-network-extension-details': { 'guestrouter.isolation': isolation },
        payload,
      }),
      'test.json',
    ),
  );
}

function apply(state: EventState, ...events: [string, Record<string, unknown>][]): EventState {
  return events.reduce((s, [command, payload]) => applyEvent(s, event(command, payload)), state);
}

describe('extension payload', () => {
  test('malformed JSON, a missing envelope part and a missing field are named', () => {
    assert.throws(() => parseEnvelope('{', 'p.json'), /p\.json: not JSON/);
    assert.throws(() => parseEnvelope('{}', 'p.json'), /p\.json: payload: /);
    assert.throws(() => event('implement-network', { network_id: '1' }), /payload\.vlan is missing/);
    assert.throws(() => event('add-port-forward', { network_id: '1' }), PayloadError);
  });
  test('a list where a string belongs is refused by name; a JSON-encoded fw_rules is read', () => {
    assert.throws(
      () => event('prepare-nic', { ...NIC, ip: ['10.0.4.2'] }),
      /payload\.ip: expected a string, got a list/,
    );
    const e = event('apply-fw-rules', { network_id: '1', fw_rules: '{"rules":[]}' });
    assert.deepEqual(e.structured.fw_rules, { rules: [] });
  });
  test('unknown and unprovided commands are refused with the reason', () => {
    assert.match(refusalFor('frob') ?? '', /unknown command "frob"/);
    assert.match(refusalFor('implement-vpc') ?? '', /VPCs are not provided/);
    assert.equal(refusalFor('add-static-nat'), undefined);
    assert.equal(refusalFor('ensure-network-device'), undefined);
  });
});

describe('extension signing', () => {
  const now = 1_800_000_000_000;
  test('a signed request verifies once; a replay, a wrong secret, a changed body, a stale or unsigned one do not', () => {
    const verifier = new RequestVerifier('s'.repeat(20));
    const headers = signRequest('s'.repeat(20), '/v1/events/x', 'body', now);
    assert.deepEqual(verifier.verify(headers, '/v1/events/x', 'body', now), { ok: true });
    assert.match(verifierReason(verifier.verify(headers, '/v1/events/x', 'body', now)), /replayed/);
    const other = signRequest('t'.repeat(20), '/v1/events/x', 'body', now);
    assert.match(verifierReason(verifier.verify(other, '/v1/events/x', 'body', now)), /wrong signature/);
    const fresh = signRequest('s'.repeat(20), '/v1/events/x', 'body', now);
    assert.match(verifierReason(verifier.verify(fresh, '/v1/events/x', 'bodY', now)), /wrong signature/);
    assert.match(verifierReason(verifier.verify(fresh, '/v1/events/y', 'body', now)), /wrong signature/);
    assert.match(verifierReason(verifier.verify(fresh, '/v1/events/x', 'body', now + 301_000)), /stale/);
    assert.match(verifierReason(verifier.verify({}, '/v1/events/x', 'body', now)), /unsigned/);
  });
});

function verifierReason(v: { ok: boolean; reason?: string }): string {
  return v.ok ? 'ok' : (v.reason ?? '');
}

describe('extension event state', () => {
  test('every event applied twice gives the same state as once (CloudStack repeats calls)', () => {
    const steps: [string, Record<string, unknown>][] = [
      ['implement-network', NETWORK],
      ['prepare-nic', NIC],
      ['add-dhcp-entry', NIC],
      ['assign-ip', { ...NETWORK, public_ip: '100.64.0.10', source_nat: 'true' }],
      ['add-static-nat', { ...NETWORK, public_ip: '100.64.0.11', private_ip: '10.0.4.2' }],
      [
        'add-port-forward',
        {
          ...NETWORK,
          public_ip: '100.64.0.10',
          public_port: '2222',
          private_ip: '10.0.4.2',
          private_port: '22',
          protocol: 'TCP',
        },
      ],
    ];
    const once = apply(EMPTY_STATE, ...steps);
    const twice = apply(EMPTY_STATE, ...steps.flatMap((s) => [s, s]));
    assert.deepEqual(twice, once);
    const inv = toInventory(once, 0);
    assert.deepEqual(inv.networks[0]?.isolation, { kind: 'vxlan', vni: 5004 });
    assert.equal(inv.networks[0]?.netmask, '255.255.255.0');
    assert.equal(inv.nics[0]?.macAddress, '02:00:4c:5e:00:02');
    assert.deepEqual(
      inv.publicIps.map((p) => [p.address, p.isSourceNat === true, p.isStaticNat === true, p.vmIpAddress]),
      [
        ['100.64.0.10', true, false, undefined],
        ['100.64.0.11', false, true, '10.0.4.2'],
      ],
    );
    assert.equal(inv.rules?.portForwards[0]?.publicStartPort, '2222');
    assert.equal(inv.rules?.portForwards[0]?.vmId, 'vm-a');
  });
  test('a command for a network never implemented, or a NAT to an unknown address, is refused and changes nothing', () => {
    assert.throws(() => apply(EMPTY_STATE, ['prepare-nic', NIC]), /network 204 was never implemented/);
    const s = apply(EMPTY_STATE, ['implement-network', NETWORK]);
    assert.throws(
      () => apply(s, ['add-static-nat', { ...NETWORK, public_ip: '100.64.0.11', private_ip: '10.0.4.9' }]),
      /no NIC with address 10\.0\.4\.9/,
    );
    assert.throws(
      () => apply(EMPTY_STATE, ['implement-network', { ...NETWORK, vlan: 'untagged' }]),
      /not a number/,
    );
  });
  test('shutdown leaves the network out but keeps its records; destroy removes everything of it', () => {
    const s = apply(EMPTY_STATE, ['implement-network', NETWORK], ['prepare-nic', NIC]);
    const down = apply(s, ['shutdown-network', NETWORK]);
    assert.equal(toInventory(down).networks.length, 0);
    assert.equal(toInventory(apply(down, ['implement-network', NETWORK])).nics.length, 1);
    const gone = apply(s, ['destroy-network', NETWORK]);
    assert.deepEqual(gone, EMPTY_STATE);
  });
  test("save-vm-data becomes the NIC's meta data and user data; the password is handed out, never kept", () => {
    const vmData = [
      { dir: 'userdata', file: 'user_data', content: '#cloud-config\nhostname: a\n' },
      { dir: 'metadata', file: 'service-offering', content: 'Small' },
      { dir: 'metadata', file: 'availability-zone', content: 'zone1' },
      { dir: 'metadata', file: 'local-hostname', content: 'web-a' },
      { dir: 'metadata', file: 'instance-id', content: 'uuid-vm-a' },
      { dir: 'metadata', file: 'vm-id', content: 'uuid-vm-a' },
      { dir: 'metadata', file: 'public-keys', content: 'ssh-ed25519 AAAA a@x' },
      { dir: 'metadata', file: 'hypervisor-host-name', content: 'kvm-1' },
      { dir: 'password', file: 'vm_password', content: 'Secret-1' },
    ];
    const saved = ['save-vm-data', { ...NIC, vm_data: vmData }] as [string, Record<string, unknown>];
    const base = apply(
      EMPTY_STATE,
      ['implement-network', NETWORK],
      ['prepare-nic', NIC],
      ['add-static-nat', { ...NETWORK, public_ip: '100.64.0.11', private_ip: '10.0.4.2' }],
    );
    const s = apply(base, saved);
    assert.ok(!JSON.stringify(s).includes('Secret-1'), 'the password is not in the state');
    assert.equal(passwordOf(event(...saved)), 'Secret-1');
    assert.equal(vmIdOf(s, '204', '10.0.4.2'), 'uuid-vm-a');
    assert.deepEqual(apply(s, saved), s, 'repeated, nothing changes');
    const inv = toInventory(s, 0);
    const nic = inv.nics[0];
    assert.equal(nic?.vmId, 'uuid-vm-a');
    assert.equal(nic?.zoneName, 'zone1');
    assert.equal(nic?.serviceOfferingName, 'Small');
    assert.equal(nic?.hypervisorHost, 'kvm-1');
    assert.deepEqual(nic?.publicKeys, ['ssh-ed25519 AAAA a@x']);
    assert.equal(
      inv.publicIps.find((p) => p.isStaticNat)?.vmId,
      'uuid-vm-a',
      'the static NAT follows the id',
    );
    assert.equal(userDataByVm(s).get('uuid-vm-a')?.toString(), '#cloud-config\nhostname: a\n');
    // The single commands update one part each; empty user data or key means none.
    const t = apply(
      s,
      ['save-userdata', { ...NIC, userdata: '' }],
      ['save-sshkey', { ...NIC, sshkey: 'ssh-rsa BBBB b@y\nssh-ed25519 CCCC c@z' }],
      ['save-hypervisor-hostname', { ...NIC, hypervisor_hostname: 'kvm-2' }],
    );
    assert.equal(userDataByVm(t).get('uuid-vm-a'), null);
    assert.deepEqual(toInventory(t).nics[0]?.publicKeys, ['ssh-rsa BBBB b@y', 'ssh-ed25519 CCCC c@z']);
    assert.equal(toInventory(t).nics[0]?.hypervisorHost, 'kvm-2');
    assert.equal(passwordOf(event('save-password', { ...NIC, password: 'P2' })), 'P2');
    assert.throws(
      () => apply(t, ['save-password', { ...NIC, ip: '10.0.4.99', password: 'x' }]),
      /no NIC with address 10\.0\.4\.99/,
    );
    assert.throws(() => event('save-vm-data', { ...NIC }), /payload\.vm_data is missing/);
    assert.throws(() => apply(t, ['save-vm-data', { ...NIC, vm_data: [{ dir: 'x' }] }]), /no dir or file/);
    // The VM's data goes with its NIC.
    const released = apply(t, ['release-nic', NIC]);
    assert.deepEqual(released.vmData, {});
  });
  test("config-dhcp-subnet and config-dns-subnet accept the network's own subnet and refuse another", () => {
    const s = apply(EMPTY_STATE, ['implement-network', NETWORK]);
    for (const command of [
      'config-dhcp-subnet',
      'config-dns-subnet',
      'remove-dhcp-subnet',
      'remove-dns-subnet',
    ])
      assert.deepEqual(apply(s, [command, { ...NETWORK, extension_ip: '10.0.4.1' }]), s);
    assert.throws(
      () => apply(s, ['config-dhcp-subnet', { ...NETWORK, cidr: '10.0.5.0/24' }]),
      /served as 10\.0\.4\.0\/24; a second subnet \(10\.0\.5\.0\/24\)/,
    );
    assert.throws(
      () => apply(EMPTY_STATE, ['config-dns-subnet', NETWORK]),
      /network 204 was never implemented/,
    );
  });
  test('apply-fw-rules replaces the whole set; apply-lb-rules drops revoked rules and backends', () => {
    const fw = (rules: object[]) =>
      ['apply-fw-rules', { ...NETWORK, fw_rules: { default_egress_allow: false, rules } }] as [
        string,
        Record<string, unknown>,
      ];
    const rule = {
      id: '1',
      type: 'ingress',
      protocol: 'tcp',
      portStart: '80',
      portEnd: '80',
      publicIp: '100.64.0.10',
      sourceCidrs: ['0.0.0.0/0'],
    };
    let s = apply(
      EMPTY_STATE,
      ['implement-network', NETWORK],
      fw([rule, { id: '2', type: 'egress', protocol: 'all' }]),
    );
    assert.equal(toInventory(s).rules?.firewall.length, 1);
    assert.equal(toInventory(s).rules?.egress.length, 1);
    assert.equal(toInventory(s).networks[0]?.egressDefaultAllow, false);
    s = apply(s, fw([]));
    assert.equal(toInventory(s).rules?.firewall.length, 0);
    s = apply(s, [
      'apply-lb-rules',
      {
        ...NETWORK,
        lb_rules: [
          {
            id: '7',
            name: 'web',
            publicIp: '100.64.0.10',
            publicPort: '80',
            privatePort: '8080',
            algorithm: 'roundrobin',
            revoke: false,
            backends: [
              { ip: '10.0.4.2', port: '8080', revoked: false },
              { ip: '10.0.4.3', port: '8080', revoked: true },
            ],
          },
          {
            id: '8',
            name: 'old',
            publicIp: '100.64.0.10',
            publicPort: '81',
            privatePort: '81',
            revoke: true,
            backends: [],
          },
        ],
      },
    ]);
    const lbs = toInventory(s).rules?.loadBalancers ?? [];
    assert.deepEqual(
      lbs.map((l) => [l.id, l.members.map((m) => m.ipAddress)]),
      [['7', ['10.0.4.2']]],
    );
  });
});

describe('events and polling give the same router', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startSimulator({
      state: generateSimState({ networks: 3, vmsPerNetwork: 3, isolation: 'vxlan' }),
      host: '127.0.0.1',
      port: 0,
    });
  });
  after(async () => sim.stop());

  test('the events CloudStack would send for the simulator state plan the same links, addresses and neighbours', async () => {
    const client = new CloudStackClient(
      cloudStackConfigFromEnv(
        { CLOUDSTACK_API_URL: sim.url, CLOUDSTACK_API_KEY: sim.apiKey, CLOUDSTACK_SECRET_KEY: sim.secretKey },
        { retries: 0 },
      ),
    );
    const polled = await fetchInventory(client);
    let s = EMPTY_STATE;
    for (const n of polled.networks) {
      const isolation = n.isolation?.kind === 'vxlan' ? n.isolation.vni : n.isolation?.id;
      s = applyEvent(
        s,
        event('implement-network', {
          network_id: n.id,
          vlan: String(isolation),
          zone_id: n.zoneId,
          gateway: n.gateway,
          cidr: n.cidr,
        }),
      );
    }
    for (const nic of polled.nics) {
      s = applyEvent(
        s,
        event('prepare-nic', {
          network_id: nic.networkId,
          mac: nic.macAddress,
          ip: nic.ipAddress,
          hostname: nic.hostname,
          vm_id: nic.vmId,
          default_nic: String(nic.isDefault),
        }),
      );
    }
    // The meta data the management server generates for each VM, as save-vm-data carries it.
    for (const nic of polled.nics) {
      const meta: [string, string | undefined][] = [
        ['service-offering', nic.serviceOfferingName],
        ['availability-zone', nic.zoneName],
        ['local-ipv4', nic.ipAddress],
        ['local-hostname', nic.vmName],
        ['instance-id', nic.vmId],
        ['vm-id', nic.vmId],
        ['hypervisor-host-name', nic.hypervisorHost],
      ];
      s = applyEvent(
        s,
        event('save-vm-data', {
          network_id: nic.networkId,
          ip: nic.ipAddress,
          vm_data: [
            { dir: 'userdata', file: 'user_data', content: `#cloud-config\nhostname: ${nic.vmName}\n` },
            ...meta.map(([file, content]) => ({ dir: 'metadata', file, content: content ?? '' })),
          ],
        }),
      );
    }
    const config = parseConfig({});
    const options: DesiredOptions = {
      trunk: 'eth1',
      uplink: 'eth0',
      vxlan: config.vxlan,
      selection: config.networks,
      publicRouting: true,
    };
    // The payloads carry no network name (the API's `name`): only log lines and rule comments differ.
    const unnamed = (state: object) =>
      JSON.parse(JSON.stringify(state, (k, v) => (k === 'networkName' ? undefined : v)));
    const fromApi = unnamed(desiredState(polled, options));
    const fromEvents = unnamed(desiredState(toInventory(s), options));
    assert.ok(fromApi.links.length === 3);
    assert.deepEqual(fromEvents.links, fromApi.links);
    assert.deepEqual(fromEvents, fromApi);
    // The meta data server's records: the same keys and values either way.
    const events = toInventory(s);
    const userData = userDataByVm(s);
    const records = (inv: typeof polled) =>
      [...buildRecords(desiredState(inv, options), inv, (id) => userData.get(id)).records.values()].map(
        (r) => [r.ip, r.vmId, r.metaData, r.userData?.toString()],
      );
    assert.ok(records(polled).length > 0);
    assert.deepEqual(records(events), records(polled));
    // Both at once: the union is the API's inventory when they agree.
    assert.deepEqual(unnamed(desiredState(mergeInventories(polled, toInventory(s)), options)), fromApi);
  });
});

describe('extension config', () => {
  test('off by default; listen needs a secret; a bad HOST:PORT is named', () => {
    assert.equal(parseConfig({}).extension.listen, undefined);
    assert.equal(parseConfig({}).extension.poll, false);
    assert.throws(
      () => parseConfig({ extension: { listen: '127.0.0.1:8443' } }),
      /extension\.secret: required when extension\.listen is set/,
    );
    assert.throws(
      () => parseConfig({ extension: { listen: 'nohost', secret: 'x'.repeat(16) } }),
      /extension\.listen: must be HOST:PORT/,
    );
    assert.throws(
      () => parseConfig({ extension: { listen: '127.0.0.1:1', secret: 'short' } }),
      /extension\.secret: must be at least 16/,
    );
    assert.equal(
      parseConfig({ extension: { listen: '[::1]:8443', secret: 'x'.repeat(16) } }).extension.listen,
      '[::1]:8443',
    );
  });
});
