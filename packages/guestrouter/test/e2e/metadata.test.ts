import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { routerArgs, runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { cloudInitGuest, unpackedCloudInit } from '../helpers/cloud-init.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { FIXTURE_ZONE_ID, generateSimState, networkId, vmId, vmMac } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const GATEWAY = '192.0.2.1';
const VM1 = '192.0.2.2';
const VM2 = '192.0.2.3';
const VM3 = '192.0.2.4';
const USER_DATA_1 = '#cloud-config\nhostname: first\nruncmd: [echo one]\n';
const USER_DATA_2 = '#cloud-config\nhostname: second\n';
const KEY_LAPTOP = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1bGFwdG9wa2V5Zm9ydGVzdGluZ29ubHkx alice@laptop';
const KEY_CI = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNpa2V5Zm9ydGVzdGluZ29ubHl4eHh4eHh4 alice@ci';
const KEY_OTHER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJvYnNrZXlmb3J0ZXN0aW5nb25seXh4eHh4 bob@laptop';

/*
 * guestrouter run with metadata.enabled in the namespace lab (see namespaces.test.ts), and Debian's
 * cloud-init CloudStack datasource as the guest in the VM namespaces: network 1 (192.0.2.0/24,
 * VNI 5001) with VMs .2 and .3 (each with its own user data) and .4 (none).
 */
describe('guestrouter run serves user data, meta data and passwords as the Virtual Router did', {
  timeout: 240_000,
}, () => {
  const topo = new RouterLab('m');
  let sim: SimulatorHandle;
  let config: TempConfig;
  let child: ChildProcess | undefined;
  let log: LogWatcher;
  let packages: string;
  let metricsPort = 0;
  const env = () => simulatorEnv(sim);
  const guest = (ns: string, nameserver: string, ...args: string[]) =>
    cloudInitGuest(ns, packages, nameserver, args, config.dir);
  const passwordDir = () => join(config.dir, 'state', 'passwords');

  /** A fresh ARP exchange from the VM, so the router's neighbour entry names the MAC it has now. */
  function announce(ns: string): void {
    ip('-n', ns, 'neigh', 'flush', 'all');
    topo.lab.status(ns, 'ping', '-c', '1', '-W', '2', '-n', '-q', GATEWAY);
  }

  /** A raw HTTP exchange from a VM namespace (what a broken or hostile client sends). */
  function raw(ns: string, port: number, request: string): string {
    const py =
      'import socket,sys\ns=socket.create_connection((sys.argv[1],int(sys.argv[2])),5)\n' +
      "s.sendall(sys.argv[3].encode('latin-1'))\nout=b''\n" +
      'while True:\n  d=s.recv(4096)\n  if not d: break\n  out+=d\n' +
      "  if b'\\r\\n\\r\\n' in out and b'Connection: close' not in out and len(out)>12: break\n" +
      "print(out.decode('latin-1'))";
    return topo.lab.exec(ns, '/usr/bin/python3', '-c', py, GATEWAY, String(port), request);
  }

  async function metric(line: RegExp): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const found = text.split('\n').find((l) => line.test(l));
    return found === undefined ? 0 : Number(found.split(' ').pop());
  }

  before(async () => {
    packages = unpackedCloudInit();
    config = new TempConfig('gr-meta-');
    chmodSync(config.dir, 0o755);
    config.write({
      cloudstack: { retries: 0, timeoutMs: 3000 },
      stateDir: join(config.dir, 'state'),
      run: { intervalSeconds: 0.5, jitterSeconds: 0.1 },
      dhcp: { enabled: true, leaseTime: '1h', dns: true },
      // Two worker threads serve port 80 (the default on two cores), so the checks below go through them.
      metadata: { enabled: true, cloudIdentifier: 'test-cloud', workers: 2 },
    });
    topo.build([]);
    const state = generateSimState({ networks: 1, vmsPerNetwork: 3, isolation: 'vxlan' });
    state.userData = {
      [vmId(1, 1)]: Buffer.from(USER_DATA_1).toString('base64'),
      [vmId(1, 2)]: Buffer.from(USER_DATA_2).toString('base64'),
    };
    // VM 1 has two key pairs (one name also exists in another account) and user data variables; VM 2 none.
    Object.assign(state.virtualMachines[0] as object, {
      account: 'alice',
      domainid: 'dom-1',
      keypairs: 'laptop,ci',
      userdatadetails: '{variable1=value one, role=web}',
    });
    Object.assign(state.virtualMachines[1] as object, { account: 'bob', domainid: 'dom-1' });
    state.sshKeyPairs = [
      { name: 'laptop', account: 'alice', domainid: 'dom-1', publickey: KEY_LAPTOP },
      { name: 'ci', account: 'alice', domainid: 'dom-1', publickey: `${KEY_CI}\n` },
      { name: 'laptop', account: 'bob', domainid: 'dom-1', publickey: KEY_OTHER },
    ];
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    topo.hostAll(state);
    // Each VM namespace gets its NIC's MAC from the inventory, as the hypervisor would give it.
    for (const [address, m] of [
      [VM1, 1],
      [VM2, 2],
      [VM3, 3],
    ] as const) {
      const ns = topo.vm(address);
      ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'down');
      ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'address', vmMac(1, m));
      ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'up');
      ip('-n', ns, 'route', 'replace', 'default', 'via', GATEWAY);
    }
    child = spawn(
      process.execPath,
      ['--import', 'tsx', cliPath, 'run', '--metrics-port', '0', ...routerArgs(topo.router, config.file)],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env() },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    log = new LogWatcher(child);
    const listening = log.next((l) => l.event === 'metrics', 'metrics listening');
    const served = log.next(
      (l) => l.event === 'metadata' && Number(l.opened) >= 2,
      'meta data servers listening',
      60_000,
    );
    const dns = log.next((l) => l.event === 'dhcp' && l.dnsmasq === 'started', 'dnsmasq started', 60_000);
    await listening;
    metricsPort = Number(log.lines.find((l) => l.event === 'metrics')?.port);
    await Promise.all([served, dns]);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    topo.cleanup();
    await sim?.stop();
    config?.remove();
  });

  test('a VM finds the router by data-server and reads its own user data and meta data', () => {
    const ns = topo.vm(VM1);
    assert.deepEqual(guest(ns, GATEWAY, 'discover'), { vr: GATEWAY });
    const r = guest(ns, GATEWAY, 'datasource', join(config.dir, 'ci1'));
    assert.equal(r.ok, true);
    assert.equal(r.vr, GATEWAY);
    assert.equal(r.userdata, USER_DATA_1);
    assert.deepEqual(r.metadata, {
      'service-offering': 'Small Instance',
      'availability-zone': 'zone1',
      'local-ipv4': VM1,
      'local-hostname': 'vm-1-1',
      variable1: 'value one',
      role: 'web',
      'public-ipv4': VM1,
      'public-hostname': 'vm-1-1',
      'instance-id': vmId(1, 1),
      'vm-id': vmId(1, 1),
      'cloud-identifier': 'CloudStack-{test-cloud}',
      'hypervisor-host-name': 'kvm-2',
      // Two lines: cloud-init's leaf decoder makes them a list.
      'public-keys': [KEY_LAPTOP, KEY_CI],
    });
    assert.deepEqual(r.keys, [KEY_LAPTOP, KEY_CI], 'the keys cloud-init would install');
    assert.equal(r.password, null, 'no password pending');
  });

  test('a second VM finds the router by its default gateway and gets only its own data', () => {
    const ns = topo.vm(VM2);
    // No DNS server answers here: cloud-init falls back to the default route.
    assert.deepEqual(guest(ns, '127.0.0.1', 'discover'), { vr: GATEWAY });
    const r = guest(ns, '127.0.0.1', 'fetch', GATEWAY);
    assert.equal(r.userdata, USER_DATA_2);
    const md = r.metadata as Record<string, string>;
    assert.equal(md['instance-id'], vmId(1, 2));
    assert.equal(md['local-ipv4'], VM2);
    // VM 2 has no key pair: no public-keys listed (and VM 1's or bob's other key never shows).
    assert.equal('public-keys' in md, false);
    assert.equal(JSON.stringify(r).includes('AAAAC3Nza'), false);
    const listed = topo.lab.exec(topo.vm(VM2), 'curl', '-s', `http://${GATEWAY}/latest/meta-data/`);
    assert.equal(listed.includes('public-keys'), false);
  });

  test('a VM without user data gets meta data and no user data', () => {
    const r = guest(topo.vm(VM3), GATEWAY, 'fetch', GATEWAY);
    assert.equal(r.userdata, '');
    assert.equal((r.metadata as Record<string, string>)['instance-id'], vmId(1, 3));
  });

  test('password reset prints a password once; the VM gets it once through cloud-init, and it is never logged', async () => {
    const reset = await runCli(['password', 'reset', vmId(1, 1), '--config', config.file], env());
    assert.equal(reset.code, 0, reset.stderr);
    const password = reset.stdout.trim();
    assert.match(password, /^[A-Za-z0-9]{20}$/);
    assert.equal(reset.stdout.split('\n').filter(Boolean).length, 1);
    const ns = topo.vm(VM1);
    assert.deepEqual(guest(ns, GATEWAY, 'password', GATEWAY), { password });
    assert.deepEqual(guest(ns, GATEWAY, 'password', GATEWAY), { password: null }, 'acknowledged, so gone');
    assert.deepEqual(readdirSync(passwordDir()), []);
    assert.ok(!JSON.stringify(log.lines).includes(password), 'the password is not in the logs');
    assert.ok(!reset.stderr.includes(password));
  });

  test('a VM that takes another VM address with its own MAC gets nothing, and the password stays for the right VM', async () => {
    const reset = await runCli(['password', 'reset', vmId(1, 2), '--config', config.file, '--json'], env());
    assert.equal(reset.code, 0, reset.stderr);
    const { password } = JSON.parse(reset.stdout) as { password: string };
    const victim = topo.vm(VM2);
    const thief = topo.vm(VM3);
    const refusedBefore = await metric(
      /^guestrouter_metadata_requests_total\{service="password",result="refused"\}/,
    );
    // The nft anti-spoofing check (MAC and address per link, tested in nat-firewall.test.ts) drops
    // the thief's packets before they reach the server; take it away so that what is tested here
    // is the server's own identity check, the layer that still holds with the firewall off. The
    // next reconcile puts the table back.
    topo.lab.exec(topo.router, 'nft', 'delete', 'table', 'inet', 'guestrouter');
    // The thief moves to VM2's address and tells the router so (ARP); the victim is off the wire.
    ip('-n', victim, 'link', 'set', 'dev', 'eth0', 'down');
    ip('-n', thief, 'addr', 'flush', 'dev', 'eth0');
    ip('-n', thief, 'addr', 'add', `${VM2}/24`, 'dev', 'eth0');
    ip('-n', thief, 'route', 'replace', 'default', 'via', GATEWAY);
    try {
      announce(thief);
      const stolen = guest(thief, GATEWAY, 'fetch', GATEWAY);
      assert.equal(stolen.userdata, '', 'no user data of VM2');
      assert.deepEqual(stolen.metadata, {});
      assert.deepEqual(guest(thief, GATEWAY, 'password', GATEWAY), { password: null });
      assert.ok(existsSync(join(passwordDir(), vmId(1, 2))), 'still pending for VM2');
      assert.ok(
        (await metric(/^guestrouter_metadata_requests_total\{service="password",result="refused"\}/)) >
          refusedBefore,
      );
      assert.ok(
        log.lines.some(
          (l) => l.event === 'identity-refused' && l.vmId === vmId(1, 2) && l.reason === 'wrong-mac',
        ),
      );
    } finally {
      ip('-n', thief, 'addr', 'flush', 'dev', 'eth0');
      ip('-n', thief, 'addr', 'add', `${VM3}/24`, 'dev', 'eth0');
      ip('-n', thief, 'route', 'replace', 'default', 'via', GATEWAY);
      ip('-n', victim, 'link', 'set', 'dev', 'eth0', 'up');
      ip('-n', victim, 'route', 'replace', 'default', 'via', GATEWAY);
      announce(thief);
      announce(victim);
    }
    assert.deepEqual(guest(victim, GATEWAY, 'password', GATEWAY), { password });
  });

  test('bad_request for an unknown password request; HTTP/1.0 clients are answered', () => {
    const ns = topo.vm(VM1);
    const bad = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'wget',
        '-q',
        '-O',
        '-',
        '--header',
        'DomU_Request: give_me_everything',
        `${GATEWAY}:8080`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(bad.stdout, 'bad_request');
    const old = topo.lab.exec(
      ns,
      'curl',
      '-s',
      '-0',
      '-H',
      'DomU_Request: send_my_password',
      `http://${GATEWAY}:8080/`,
    );
    assert.equal(old, 'saved_password');
    const head = raw(ns, 8080, 'GET / HTTP/1.0\r\nDomU_Request: send_my_password\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /\r\n\r\nsaved_password\s*$/);
  });

  test('traversal and malformed HTTP get 4xx and the server keeps serving', () => {
    const ns = topo.vm(VM1);
    assert.match(
      raw(
        ns,
        80,
        'GET /latest/meta-data/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      ),
      /^HTTP\/1\.1 400/,
    );
    assert.match(
      raw(ns, 80, 'GET /latest/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 400/,
    );
    assert.match(raw(ns, 80, 'NONSENSE\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(raw(ns, 80, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 4\d\d/);
    assert.match(raw(ns, 8080, 'GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n'), /^HTTP\/1\.1 400/);
    const still = topo.lab.exec(ns, 'curl', '-s', `http://${GATEWAY}/latest/meta-data/instance-id`);
    assert.equal(still, vmId(1, 1));
  });

  test('deploy creates a VM through the API and hands its password to the password server', async () => {
    sim.state.templates = [{ id: 'tmpl-pw', name: 'debian-12-pw', passwordenabled: true }];
    const deployed = await runCli(
      [
        'deploy',
        '--zone',
        FIXTURE_ZONE_ID,
        '--template-id',
        'tmpl-pw',
        '--service-offering-id',
        'so-small',
        '--network-id',
        networkId(1),
        '--name',
        'deployed-1',
        '--config',
        config.file,
      ],
      env(),
    );
    assert.equal(deployed.code, 0, deployed.stderr);
    const [line, passwordLine] = deployed.stdout.trim().split('\n');
    const created = sim.state.virtualMachines.find((v) => v.name === 'deployed-1');
    assert.ok(created?.nic?.[0]?.ipaddress && created.nic[0].macaddress);
    assert.equal(line, `${created.id} deployed-1 Running ${created.nic[0].ipaddress}`);
    const password = passwordLine?.replace(/^password: /, '');
    assert.ok(password && password.length >= 8);
    assert.ok(sim.requests.some((r) => r.command === 'queryAsyncJobResult'));
    // The hypervisor side: a namespace for the new VM with its NIC's MAC.
    topo.hostAll(sim.state);
    const ns = topo.vm(created.nic[0].ipaddress);
    ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'down');
    ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'address', created.nic[0].macaddress);
    ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'up');
    ip('-n', ns, 'route', 'replace', 'default', 'via', GATEWAY);
    // Served once a reconcile has read the new VM and fetched its user data (503 until then).
    const deadline = Date.now() + 20_000;
    const status = () =>
      topo.lab.exec(
        ns,
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://${GATEWAY}/latest/meta-data/instance-id`,
      );
    while (status() !== '200') {
      assert.ok(Date.now() < deadline, 'the new VM is served within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const r = guest(ns, GATEWAY, 'datasource', join(config.dir, 'ci-new'));
    assert.equal(r.ok, true);
    assert.equal((r.metadata as Record<string, string>)['instance-id'], created.id);
    assert.equal(r.password, password);
  });

  test('a removed VM has no data after the next reconcile', async () => {
    const ns = topo.vm(VM1);
    // curl prints 000 when no answer came: once the VM is out of the inventory, the nft
    // anti-spoofing check drops its packets before they reach the server.
    const code = (path: string) => {
      const r = spawnSync(
        'ip',
        [
          'netns',
          'exec',
          ns,
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '--max-time',
          '3',
          '-w',
          '%{http_code}',
          `http://${GATEWAY}${path}`,
        ],
        { encoding: 'utf8' },
      );
      return r.stdout;
    };
    assert.equal(code('/latest/meta-data/instance-id'), '200');
    sim.state.virtualMachines = sim.state.virtualMachines.filter((v) => v.id !== vmId(1, 1));
    await log.next((l) => l.event === 'metadata' && Number(l.userDataRemoved) >= 1, 'VM dropped', 20_000);
    for (const path of ['/latest/meta-data/instance-id', '/latest/user-data']) {
      assert.ok(['404', '000'].includes(code(path)), `${path}: no data for a removed VM (404 or no answer)`);
    }
  });
});
