import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { signRequest } from '../../src/extension/signing.js';
import { routerArgs, TempConfig } from '../helpers/cli.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { ip } from '../helpers/netns.js';
import { connect, TcpServers } from '../helpers/tcp.js';
import { RouterLab } from '../helpers/topology.js';
import type { SimState } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/*
 * The tests play CloudStack's management server: they write payload files shaped as the Network
 * Extension element writes them (envelope, field names, every scalar a string) and run
 * `guestrouter extension COMMAND FILE TIMEOUT` as the management server does. The router is `run`
 * with extension.listen and no CloudStack API at all: events alone.
 *
 * network 204: 10.0.4.0/24, VNI 5004; VM a (.2, boots bare and asks DHCP), VM b (.3, static NAT 100.64.0.11)
 */
const NETWORK = {
  network_id: '204',
  vlan: '5004',
  zone_id: '1',
  guest_type: 'isolated',
  network_state: 'implemented',
  gateway: '10.0.4.1',
  cidr: '10.0.4.0/24',
  vpc_id: '',
  network_ip6_gateway: '',
  network_ip6_cidr: '',
};
const VM_A = { mac: '02:00:4c:5e:00:02', ip: '10.0.4.2', hostname: 'web-a', nic_id: '57', vm_id: 'vm-a' };
const VM_B = { mac: '02:00:4c:5e:00:03', ip: '10.0.4.3', hostname: 'web-b', nic_id: '58', vm_id: 'vm-b' };
const SECRET = 'extension-test-secret-0123456789';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('guestrouter as a CloudStack Network Extension provider (events alone)', {
  timeout: 180_000,
}, () => {
  const topo = new RouterLab('x');
  const servers = new TcpServers();
  let config: TempConfig;
  let child: ChildProcess | undefined;
  let log: LogWatcher;
  let url: string;
  let fileCount = 0;

  function nicPayload(vm: typeof VM_A): Record<string, string> {
    return {
      ...NETWORK,
      nic_id: vm.nic_id,
      nic_uuid: `uuid-${vm.nic_id}`,
      vm_id: vm.vm_id,
      mac: vm.mac,
      ip: vm.ip,
      gateway: NETWORK.gateway,
      netmask: '255.255.255.0',
      default_nic: 'true',
      device_id: '0',
      hostname: vm.hostname,
      dns: '10.0.4.1',
      domain: 'cs1cloud.internal',
      extension_ip: '10.0.4.1',
    };
  }

  function payloadFile(payload: Record<string, unknown>, physical: Record<string, string> = {}): string {
    const file = join(config.dir, `payload-${++fileCount}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        'physical-network-extension-details': {
          'guestrouter.url': url,
          'guestrouter.secret': SECRET,
          'guestrouter.isolation': 'vxlan',
          physicalnetworkname: 'guest',
          ...physical,
        },
        'network-extension-details': { 'guestrouter.url': url },
        payload,
      }),
    );
    return file;
  }

  /** What the management server runs; stdout and stderr merged, as CloudStack reads them. */
  function extension(
    command: string,
    file: string,
    timeout = '20',
  ): { code: number | null; out: string; ms: number } {
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', cliPath, 'extension', command, file, timeout], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}`.trim(), ms: Date.now() - started };
  }

  function ok(command: string, payload: Record<string, unknown>): void {
    const r = extension(command, payloadFile(payload));
    assert.equal(r.code, 0, `${command}: ${r.out}`);
    assert.equal((JSON.parse(r.out) as { status: string }).status, 'success', r.out);
  }

  function refused(command: string, file: string, message: RegExp): void {
    const r = extension(command, file);
    assert.equal(r.code, 1, r.out);
    const reply = JSON.parse(r.out) as { status: string; message: string };
    assert.equal(reply.status, 'error');
    assert.match(reply.message, message);
  }

  function startRun(): void {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', cliPath, 'run', ...routerArgs(topo.router, config.file)],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    log = new LogWatcher(child);
  }

  async function stopRun(): Promise<void> {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  function dhcpLease(ns: string): Record<string, string> {
    const out = join(config.dir, `${ns}.lease`);
    const script = join(config.dir, 'udhcpc.sh');
    writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && echo "ip=$ip router=$router" > "${out}"\nexit 0\n`);
    chmodSync(script, 0o755);
    ip('-n', ns, 'addr', 'flush', 'dev', 'eth0');
    spawnSync(
      'ip',
      ['netns', 'exec', ns, 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script],
      {
        timeout: 30_000,
      },
    );
    const lease: Record<string, string> = {};
    if (existsSync(out)) {
      for (const pair of readFileSync(out, 'utf8').trim().split(' ')) {
        const [k, v] = pair.split('=');
        if (k) lease[k] = v ?? '';
      }
    }
    // udhcpc's script only records the lease: give the VM its address back for the traffic tests.
    if (lease.ip) {
      ip('-n', ns, 'addr', 'add', `${lease.ip}/24`, 'dev', 'eth0');
      ip('-n', ns, 'route', 'replace', 'default', 'via', '10.0.4.1');
    }
    return lease;
  }

  /** The DHCP hosts files the router's dnsmasq instances read. */
  function dhcpHosts(): string {
    const r = spawnSync('sh', ['-c', `cat ${join(config.dir, 'state', 'dhcp')}/*/dhcp-hosts 2>/dev/null`], {
      encoding: 'utf8',
    });
    return r.stdout;
  }

  before(async () => {
    config = new TempConfig('gr-ext-');
    chmodSync(config.dir, 0o755);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    config.write({
      stateDir: join(config.dir, 'state'),
      // Events drive the cycles; the interval only re-checks the kernel.
      run: { intervalSeconds: 600, jitterSeconds: 1 },
      dhcp: { enabled: true, leaseTime: '1h' },
      extension: { listen: `127.0.0.1:${port}`, secret: SECRET },
    });
    topo.build([]);
    // The hypervisor side only (no simulator runs): hostAll reads these fields.
    const lab = {
      networks: [{ id: '204', broadcasturi: 'vxlan://5004', cidr: '10.0.4.0/24', gateway: '10.0.4.1' }],
      virtualMachines: [VM_A, VM_B].map((vm) => ({
        nic: [{ ipaddress: vm.ip, networkid: '204', macaddress: vm.mac }],
      })),
    } as unknown as SimState;
    topo.hostAll(lab);
    startRun();
    await log.next((l) => l.event === 'extension', 'extension listening');
  });

  after(async () => {
    await servers.stopAll();
    await stopRun();
    topo.cleanup();
    config.remove();
  });

  test('ensure-network-device prints exactly one JSON object', () => {
    const r = extension('ensure-network-device', payloadFile(NETWORK));
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(JSON.parse(r.out), { 'guestrouter.url': url });
    // The same through the contrib wrapper the management server installs, pointed at this checkout.
    const shim = join(config.dir, 'guestrouter-shim');
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" --import tsx "${cliPath}" "$@"\n`);
    chmodSync(shim, 0o755);
    const wrapper = fileURLToPath(
      new URL('../../contrib/cloudstack-extension/guestrouter-extension.sh', import.meta.url),
    );
    const w = spawnSync(wrapper, ['ensure-network-device', payloadFile(NETWORK), '60'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GUESTROUTER: shim },
    });
    assert.equal(w.status, 0, `${w.stdout}${w.stderr}`);
    assert.deepEqual(JSON.parse(`${w.stdout}${w.stderr}`), { 'guestrouter.url': url });
  });

  test('a command for a network never implemented is refused by the router', () => {
    refused('add-dhcp-entry', payloadFile(nicPayload(VM_A)), /network 204 was never implemented/);
  });

  test('implement-network makes the gateway; repeating it changes nothing', () => {
    ok('implement-network', NETWORK);
    const links = JSON.parse(ip('-n', topo.router, '-json', 'addr', 'show', 'dev', 'vxlan5004')) as {
      addr_info: { local: string }[];
    }[];
    assert.ok(links[0]?.addr_info.some((a) => a.local === '10.0.4.1'));
    ok('implement-network', NETWORK);
  });

  test('after prepare-nic and add-dhcp-entry a booting VM gets its lease', () => {
    ok('prepare-nic', nicPayload(VM_A));
    ok('add-dhcp-entry', nicPayload(VM_A));
    const lease = dhcpLease(topo.vm(VM_A.ip));
    assert.equal(lease.ip, VM_A.ip);
    assert.equal(lease.router, '10.0.4.1');
  });

  test('static NAT with an opened port is reached from the internet; source NAT for the others', async () => {
    ok('prepare-nic', nicPayload(VM_B));
    assert.ok(topo.pings(topo.vm(VM_B.ip), '10.0.4.1'), 'a prepared VM reaches its gateway');
    ok('assign-ip', { ...NETWORK, public_ip: '100.64.0.10', source_nat: 'true', public_vlan: 'untagged' });
    ok('add-static-nat', { ...NETWORK, public_ip: '100.64.0.11', private_ip: VM_B.ip, source_nat: 'false' });
    ok('apply-fw-rules', {
      ...NETWORK,
      fw_rules: {
        default_egress_allow: true,
        cidr: NETWORK.cidr,
        rules: [
          {
            id: '9',
            type: 'ingress',
            protocol: 'tcp',
            portStart: '9001',
            portEnd: '9001',
            publicIp: '100.64.0.11',
            sourceCidrs: ['0.0.0.0/0'],
            destCidrs: [],
          },
        ],
      },
    });
    await servers.start(topo.vm(VM_B.ip), 9001, 9003);
    await servers.start(topo.inet, 9000);
    assert.equal(await connect(topo.inet, '100.64.0.11', 9001), '100.64.0.1 9001');
    // A port the firewall does not open stays closed.
    assert.equal(await connect(topo.inet, '100.64.0.11', 9003, 1500), 'timeout');
    assert.equal(await connect(topo.vm(VM_A.ip), '100.64.0.1', 9000), '100.64.0.10 9000');
    // A port forward and a load balancer on the source NAT address, opened by the next whole rule set.
    ok('add-port-forward', {
      ...NETWORK,
      public_ip: '100.64.0.10',
      public_port: '9100',
      private_ip: VM_B.ip,
      private_port: '9003',
      protocol: 'tcp',
    });
    ok('apply-lb-rules', {
      ...NETWORK,
      lb_rules: [
        {
          id: '31',
          name: 'web',
          publicIp: '100.64.0.10',
          publicPort: '8080',
          privatePort: '9001',
          protocol: 'tcp',
          algorithm: 'roundrobin',
          revoke: false,
          backends: [{ ip: VM_B.ip, port: '9001', revoked: false }],
        },
      ],
    });
    const open = (id: string, address: string, port: string) => ({
      id,
      type: 'ingress',
      protocol: 'tcp',
      portStart: port,
      portEnd: port,
      publicIp: address,
      sourceCidrs: ['0.0.0.0/0'],
      destCidrs: [],
    });
    ok('apply-fw-rules', {
      ...NETWORK,
      fw_rules: {
        default_egress_allow: true,
        cidr: NETWORK.cidr,
        rules: [
          open('9', '100.64.0.11', '9001'),
          open('10', '100.64.0.10', '9100'),
          open('11', '100.64.0.10', '8080'),
        ],
      },
    });
    assert.equal(await connect(topo.inet, '100.64.0.10', 9100), '100.64.0.1 9003');
    assert.match(await connect(topo.inet, '100.64.0.10', 8080), /^\S+ 9001$/);
    ok('delete-port-forward', { ...NETWORK, public_ip: '100.64.0.10', public_port: '9100', protocol: 'tcp' });
    assert.notEqual(await connect(topo.inet, '100.64.0.10', 9100, 1500), '100.64.0.1 9003');
    ok('delete-static-nat', { ...NETWORK, public_ip: '100.64.0.11', private_ip: VM_B.ip });
    // The address stays the network's until release-ip: the router itself answers, the VM no longer.
    assert.match(await connect(topo.inet, '100.64.0.11', 9001, 1500), /^(timeout|error )/);
  });

  test('bad events: malformed JSON, a missing field, an unknown or refused command', () => {
    const broken = join(config.dir, 'broken.json');
    writeFileSync(broken, '{"payload": {');
    refused('implement-network', broken, /not JSON/);
    const { gateway: _g, ...noGateway } = NETWORK;
    refused('implement-network', payloadFile(noGateway), /payload\.gateway is missing/);
    refused('frobnicate-network', payloadFile(NETWORK), /unknown command "frobnicate-network"/);
    refused('apply-network-acl', payloadFile(NETWORK), /VPC network ACLs are not provided/);
  });

  test('a wrong secret is refused; a replayed request is refused', async () => {
    refused(
      'implement-network',
      payloadFile(NETWORK, { 'guestrouter.secret': 'not-the-secret-at-all' }),
      /wrong signature/,
    );
    const body = readFileSync(payloadFile(NETWORK), 'utf8');
    const path = '/v1/events/implement-network';
    const headers = { 'content-type': 'application/json', ...signRequest(SECRET, path, body) };
    const first = await fetch(`${url}${path}`, { method: 'POST', headers, body });
    assert.equal(first.status, 200);
    const again = await fetch(`${url}${path}`, { method: 'POST', headers, body });
    assert.equal(again.status, 401);
    assert.match(((await again.json()) as { message: string }).message, /replayed/);
    const unsigned = await fetch(`${url}${path}`, { method: 'POST', body });
    assert.equal(unsigned.status, 401);
  });

  test('events survive a router restart; release-nic and destroy-network remove what they added', async () => {
    await stopRun();
    assert.ok(existsSync(join(config.dir, 'state', 'extension', 'events.json')));
    startRun();
    await log.next(
      (l) => l.event === 'dhcp' && l.dnsmasq === 'started',
      'dnsmasq started from persisted events',
    );
    assert.equal(dhcpLease(topo.vm(VM_A.ip)).ip, VM_A.ip);
    assert.match(dhcpHosts(), new RegExp(VM_A.mac));
    ok('release-nic', nicPayload(VM_A));
    assert.doesNotMatch(dhcpHosts(), new RegExp(VM_A.mac));
    assert.match(dhcpHosts(), new RegExp(VM_B.mac));
    ok('destroy-network', NETWORK);
    const left = JSON.parse(ip('-n', topo.router, '-json', 'link', 'show')) as { ifname: string }[];
    assert.ok(!left.some((l) => l.ifname === 'vxlan5004'), 'the network link is gone');
    ok('destroy-network', NETWORK);
  });

  test('the router down: the entry point fails within its timeout with a message', async () => {
    await stopRun();
    const r = extension('implement-network', payloadFile(NETWORK), '5');
    assert.equal(r.code, 1);
    assert.match(r.out, /router unreachable \(ECONNREFUSED\)/);
    assert.ok(r.ms < 5000, `took ${r.ms} ms`);
  });
});
