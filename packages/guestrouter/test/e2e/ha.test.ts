import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { instanceName } from '../../src/ha/vrrp.js';
import { runCli, simulatorEnv } from '../helpers/cli.js';
import { dnsQuery } from '../helpers/dns-query.js';
import { HaLab, type Side } from '../helpers/ha-lab.js';
import { ip } from '../helpers/netns.js';

/** Failover rounds of the loop test; `make -C packages/guestrouter bench-ha-loop` runs 20. */
const ROUNDS = Number(process.env.HA_FAILOVER_ROUNDS ?? 5);

/*
 * Two routers as one, in namespaces: routers a and b on one trunk segment (a bridge in the
 * hypervisor namespace, CloudStack-style VXLAN bridges behind it) and one uplink segment, one VM
 * per guest network. Each router runs `guestrouter run` with ha.enabled (unicast VRRP to the other).
 * A router "fails" by losing its trunk link, as a machine whose NIC or switch port dies.
 */
describe('guestrouter ha: two routers, one master per network, failover within 3 s', {
  timeout: 240_000 + ROUNDS * 15_000,
}, () => {
  // The two-router lab (test/helpers/ha-lab.ts, shared with the conntrack test and bench/ha.ts): 2 networks, one VM each.
  // Each VM has a static NAT address (the uplink test; open to everything), the pair serves DHCP/DNS
  // and meta data, and replicates pending passwords over the trunk.
  const secret = 'pair-secret-for-the-ha-test';
  const haLab = new HaLab({
    tag: 'h',
    networks: 2,
    vmNamespaces: 2,
    staticNat: true,
    config: () => ({ dhcp: { enabled: true, dns: true, leaseTime: '2m' }, metadata: { enabled: true } }),
    ha: (side, { trunkAddress }) => {
      const peer = side === 'a' ? trunkAddress.b : trunkAddress.a;
      return {
        passwordSync: { listen: `${trunkAddress[side]}:8089`, peers: [`http://${peer}:8089`], secret },
      };
    },
  });
  const { routers, configs, children, logs } = haLab;
  const vms = haLab.vms;
  const failovers: number[] = [];
  const failoversInet: number[] = [];
  const publicIps = () => vms.map((vm) => vm.publicAddress as string);

  before(async () => {
    await haLab.setup();
    await Promise.all([startRun('a'), startRun('b')]);
  });

  after(async () => {
    await haLab.cleanup();
    if (failovers.length > 0)
      console.log(`# failover ping loss (100 ms pings, VM to gateway), ms: ${failovers.join(', ')}`);
    if (failoversInet.length > 0)
      console.log(
        `# failover ping loss (100 ms pings, internet to static NAT), ms: ${failoversInet.join(', ')}`,
      );
  });

  const startRun = (side: Side) => haLab.startRun(side);
  const stopRun = (side: Side) => haLab.stopRun(side);
  const stateDir = (side: Side) => haLab.stateDir(side);
  const holds = (side: Side, vm: { gateway: string; link: string }) => haLab.holds(side, vm);
  const role = (side: Side, instance: string) => haLab.role(side, instance);
  const waitForMasters = (want?: (m: Side[]) => boolean, timeoutMs?: number) =>
    haLab.waitForMasters(want, timeoutMs);
  const all = (side: Side) => (m: Side[]) => m.every((x) => x === side);
  const keepalivedPids = (side: Side) => haLab.keepalivedPids(side);

  /** Pings the gateway from the VM every 100 ms while `during` runs; lost replies x 100 ms. */
  async function lossDuring(
    vm: { ns: string; gateway: string },
    during: () => Promise<void>,
  ): Promise<number> {
    const ping = spawn('ip', ['netns', 'exec', vm.ns, 'ping', '-n', '-i', '0.1', '-W', '1', vm.gateway], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    ping.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const closed = new Promise((r) => ping.once('close', r));
    await new Promise((r) => setTimeout(r, 1000));
    await during();
    await new Promise((r) => setTimeout(r, 2000));
    ping.kill('SIGINT');
    await closed;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m, `ping summary: ${out.slice(-300)}`);
    return (Number(m[1]) - Number(m[2])) * 100;
  }

  function dnsmasqPids(side: Side): number[] {
    const prefix = `--conf-file=${join(stateDir(side), 'dhcp')}/`;
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (argv.some((a) => a.startsWith(prefix))) pids.push(Number(entry));
      } catch {
        // gone
      }
    }
    return pids;
  }

  function linkNames(side: Side): string[] {
    const r = spawnSync('ip', ['-n', routers[side], '-j', 'link', 'show'], { encoding: 'utf8' });
    return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
  }

  /** The labelled NAT addresses on a router's uplink (keepalived adds them on the master). */
  function uplinkPublic(side: Side): string[] {
    const r = spawnSync('ip', ['-n', routers[side], '-j', 'addr', 'show', 'dev', 'uplink'], {
      encoding: 'utf8',
    });
    return (JSON.parse(r.stdout) as { addr_info: { local: string; label?: string }[] }[])
      .flatMap((l) => l.addr_info)
      .filter((a) => a.label === 'uplink:gr')
      .map((a) => a.local)
      .sort();
  }

  test('both up: exactly one master per network, VMs reach their gateway, keepalived agrees', async () => {
    // With nopreempt the first router to time out its backup wait wins, not the higher priority.
    const masters = await waitForMasters();
    for (const vm of vms) {
      const r = spawnSync('ip', [
        'netns',
        'exec',
        vm.ns,
        'ping',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        '-q',
        vm.gateway,
      ]);
      assert.equal(r.status, 0, `${vm.ns} reaches ${vm.gateway}`);
    }
    const instances = readdirSync(join(stateDir('a'), 'ha', 'state'))
      .filter((n) => /^gr_\d+$/.test(n))
      .sort();
    assert.equal(instances.length, 2);
    // The kernel's view (who holds the address) and keepalived's (notify) agree, network by network.
    vms.forEach((vm, i) => {
      // The instance of a network: its VNI folded into a VRRP id, as src/ha/vrrp.ts does.
      const instance = instanceName((Number(vm.link.replace('vxlan', '')) % 255) + 1);
      assert.ok(instances.includes(instance), `${instance} in ${instances}`);
      const master = masters[i] as Side;
      const backup: Side = master === 'a' ? 'b' : 'a';
      assert.equal(role(master, instance), 'MASTER');
      assert.equal(role(backup, instance), 'BACKUP');
    });
  });

  /** Takes `master`'s trunk down, waits until the other router holds every network, brings it back as backup. */
  async function failover(master: Side, during?: () => Promise<void>): Promise<Side> {
    const backup: Side = master === 'a' ? 'b' : 'a';
    ip('-n', routers[master], 'link', 'set', 'trunk', 'down');
    await waitForMasters(all(backup), 5000);
    await during?.();
    ip('-n', routers[master], 'link', 'set', 'trunk', 'up');
    const instances = () =>
      readdirSync(join(stateDir(master), 'ha', 'state')).filter((n) => /^gr_\d+$/.test(n));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && instances().some((i) => role(master, i) !== 'BACKUP'))
      await new Promise((r) => setTimeout(r, 200));
    return backup;
  }

  test('DHCP and DNS: a VM gets its lease from the pair, renews it and resolves a name from the new master after a failover', async () => {
    const masters = await waitForMasters();
    const vm = vms[0] as (typeof vms)[0];
    const events = join(configs.a.dir, 'udhcpc.events');
    const script = join(configs.a.dir, 'udhcpc.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho "$1 ip=$ip router=$router dns=$dns serverid=$serverid" >> '${events}'\nexit 0\n`,
    );
    chmodSync(script, 0o755);
    // udhcpc stays up (as a VM's client does); its script only records the events, the VM keeps its address.
    const client = spawn(
      'ip',
      ['netns', 'exec', vm.ns, 'udhcpc', '-i', 'eth0', '-f', '-t', '20', '-T', '1', '-s', script],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const collect = (c: Buffer) => {
      out += c.toString();
    };
    client.stdout?.on('data', collect);
    client.stderr?.on('data', collect);
    const lines = () => (existsSync(events) ? readFileSync(events, 'utf8').trim().split('\n') : []);
    const waitFor = async (what: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline && !lines().some((l) => what.test(l)))
        await new Promise((r) => setTimeout(r, 100));
      return lines().find((l) => what.test(l));
    };
    const vmIp = spawnSync('ip', ['-n', vm.ns, '-j', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
    const address = (
      JSON.parse(vmIp.stdout) as { addr_info: { family: string; local: string }[] }[]
    )[0]?.addr_info.find((a) => a.family === 'inet')?.local as string;
    try {
      const bound = await waitFor(/^bound /, 20_000);
      assert.ok(bound, `udhcpc got a lease: ${out}`);
      assert.match(bound, new RegExp(`ip=${address.replaceAll('.', '\\.')} router=${vm.gateway} `));
      assert.match(bound, new RegExp(`serverid=${vm.gateway.replaceAll('.', '\\.')}$`));
      const name = bound && /dns=(\S+)/.exec(bound)?.[1];
      assert.equal(name, vm.gateway, 'the gateway is the DNS server');
      const vmName = readFileSync(join(stateDir(masters[0] as Side), 'dhcp', vm.link, 'dhcp-hosts'), 'utf8')
        .trim()
        .split(',')[2] as string;
      assert.equal(dnsQuery(vm.ns, vm.gateway, vmName), address);
      await failover(masters[0] as Side, async () => {
        // A renewal is a unicast request to the server identifier, the gateway: the new master answers it.
        const before = lines().length;
        client.kill('SIGUSR1');
        const deadline = Date.now() + 15_000;
        while (
          Date.now() < deadline &&
          !lines()
            .slice(before)
            .some((l) => l.startsWith('renew '))
        )
          await new Promise((r) => setTimeout(r, 100));
        const renewed = lines()
          .slice(before)
          .find((l) => l.startsWith('renew '));
        assert.ok(renewed, `renewed after the failover: ${lines().slice(before).join(' | ')} ${out}`);
        assert.match(renewed, new RegExp(`ip=${address.replaceAll('.', '\\.')} `));
        assert.equal(dnsQuery(vm.ns, vm.gateway, vmName), address, 'DNS from the new master');
      });
    } finally {
      client.kill('SIGTERM');
    }
  });

  test('uplink follows the master: only the master answers ARP for a static NAT address; the internet reaches it through the new master', async () => {
    const masters = await waitForMasters();
    const master = masters[0] as Side;
    const backup: Side = master === 'a' ? 'b' : 'a';
    const pub = publicIps()[0] as string;
    const uplinkMac = (side: Side) =>
      (
        JSON.parse(
          spawnSync('ip', ['-n', routers[side], '-j', 'link', 'show', 'dev', 'uplink'], {
            encoding: 'utf8',
          }).stdout,
        ) as { address: string }[]
      )[0]?.address;
    /** The MACs that answer ARP for `pub` on the uplink segment (arping from the internet host). */
    const arpAnswers = () => {
      const r = spawnSync(
        'ip',
        ['netns', 'exec', haLab.inet, 'arping', '-c', '3', '-w', '3', '-I', 'upbr', pub],
        {
          encoding: 'utf8',
        },
      );
      return [
        ...new Set(
          [...r.stdout.matchAll(/from \S+ \[([0-9a-f:]+)\]/gi)].map((m) => (m[1] as string).toLowerCase()),
        ),
      ];
    };
    assert.deepEqual(arpAnswers(), [uplinkMac(master)], `only ${master} answers for ${pub}`);
    assert.equal(
      spawnSync('ip', ['netns', 'exec', haLab.inet, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '-q', pub])
        .status,
      0,
      `the internet reaches ${pub}`,
    );
    const lost = await lossDuring({ ns: haLab.inet, gateway: pub }, async () => {
      ip('-n', routers[master], 'link', 'set', 'trunk', 'down');
    });
    failoversInet.push(lost);
    assert.ok(lost <= 3000, `internet to static NAT: ${lost} ms of pings lost`);
    await waitForMasters(all(backup), 5000);
    assert.deepEqual(arpAnswers(), [uplinkMac(backup)], `only the new master ${backup} answers for ${pub}`);
    ip('-n', routers[master], 'link', 'set', 'trunk', 'up');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && vms.some((vm) => holds(master, vm)))
      await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(arpAnswers(), [uplinkMac(backup)], `the returning ${master} stays quiet for ${pub}`);
  });

  test('a pending password given to the master is delivered once, by the new master after a failover', async () => {
    const masters = await waitForMasters();
    const master = masters[0] as Side;
    const vm = vms[0] as (typeof vms)[0];
    const vmId = vm.id;
    const reset = await runCli(
      ['password', 'reset', vmId, '--json', '--netns', routers[master], '--config', configs[master].file],
      simulatorEnv(haLab.sim),
    );
    assert.equal(reset.code, 0, reset.stderr);
    const { password } = JSON.parse(reset.stdout) as { password: string };
    const pending = (side: Side) => {
      try {
        return readFileSync(join(stateDir(side), 'passwords', vmId), 'utf8');
      } catch {
        return undefined;
      }
    };
    assert.equal(pending(master), password);
    // `password reset` hands it to the other router (signed, over the trunk); `run` retries if it could not.
    const replicated = Date.now() + 15_000;
    while (Date.now() < replicated && pending(master === 'a' ? 'b' : 'a') !== password)
      await new Promise((r) => setTimeout(r, 200));
    assert.equal(pending(master === 'a' ? 'b' : 'a'), password, `replicated to the backup: ${reset.stderr}`);
    const ask = (what: string) =>
      spawnSync(
        'ip',
        [
          'netns',
          'exec',
          vm.ns,
          'curl',
          '-s',
          '-m',
          '3',
          '-H',
          `DomU_Request: ${what}`,
          `http://${vm.gateway}:8080/`,
        ],
        { encoding: 'utf8' },
      ).stdout;
    const other = await failover(master, async () => {
      assert.equal(ask('send_my_password'), password, 'the new master serves the replicated password');
      assert.equal(ask('saved_password'), 'saved_password');
      assert.equal(ask('send_my_password'), 'saved_password', 'delivered once');
    });
    // The old master was cut off when the VM acknowledged: the new master's outbox hands it the
    // deletion when the trunk is back, so neither can serve the password again.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && pending(master) !== undefined)
      await new Promise((r) => setTimeout(r, 200));
    assert.equal(pending(master), undefined, 'the deletion reached the old master');
    assert.equal(pending(other), undefined);
    await failover(other);
    assert.equal(
      ask('send_my_password'),
      'saved_password',
      'nor does the old master serve it as master again',
    );
  });

  test('status shows the role per network on each router', async () => {
    const masters = await waitForMasters();
    for (const side of ['a', 'b'] as const) {
      const r = await runCli(
        [
          'status',
          '--json',
          '--netns',
          routers[side],
          '--trunk',
          'trunk',
          '--uplink',
          'uplink',
          '--config',
          configs[side].file,
        ],
        simulatorEnv(haLab.sim),
      );
      assert.equal(r.code, 0, r.stderr);
      const ha = (
        JSON.parse(r.stdout) as {
          ha: {
            networks: {
              link: string;
              role: string;
              holdsGateway: boolean;
              master: string;
              peerRole?: string;
            }[];
            peer?: { reachable: boolean; lastSeen?: string; state?: { routerId: string } };
          };
        }
      ).ha;
      assert.equal(ha.networks.length, 2);
      for (const n of ha.networks) {
        const i = vms.findIndex((vm) => vm.link === n.link);
        const want = masters[i] === side ? 'MASTER' : 'BACKUP';
        assert.equal(n.role, want, `${side} ${n.link}`);
        assert.equal(n.holdsGateway, want === 'MASTER');
        // Which router is master, from both routers' words (the peer's from its signed state answer).
        assert.equal(n.master, want === 'MASTER' ? 'this' : 'peer', `${side} ${n.link}: ${r.stdout}`);
        assert.equal(n.peerRole, want === 'MASTER' ? 'BACKUP' : 'MASTER', r.stdout);
      }
      assert.equal(ha.peer?.reachable, true);
      assert.equal(ha.peer?.state?.routerId, side === 'a' ? 'rb' : 'ra');
      assert.ok(Date.now() - Date.parse(ha.peer?.lastSeen ?? '') < 10_000, 'seen within the last seconds');
    }
  });

  test(`master loses its trunk ${ROUNDS} times: the other takes every network, pings lose at most 3 s; no flapping on return (nopreempt); nothing leaks`, async () => {
    let master: Side = (await waitForMasters())[0] as Side;
    const linksAtStart = { a: linkNames('a'), b: linkNames('b') };
    for (let round = 0; round < ROUNDS; round++) {
      const backup: Side = master === 'a' ? 'b' : 'a';
      const lost = await lossDuring(vms[0] as (typeof vms)[0], async () => {
        ip('-n', routers[master], 'link', 'set', 'trunk', 'down');
      });
      failovers.push(lost);
      assert.ok(lost <= 3000, `round ${round}: ${lost} ms of pings lost`);
      await waitForMasters(all(backup), 5000);
      // The old master comes back: it stays backup for every network (nopreempt, even with the higher priority).
      ip('-n', routers[master], 'link', 'set', 'trunk', 'up');
      const instances = () =>
        readdirSync(join(stateDir(master), 'ha', 'state')).filter((n) => /^gr_\d+$/.test(n));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && instances().some((i) => role(master, i) !== 'BACKUP'))
        await new Promise((r) => setTimeout(r, 200));
      assert.ok(
        instances().every((i) => role(master, i) === 'BACKUP'),
        `${master} back as backup`,
      );
      await new Promise((r) => setTimeout(r, 3000));
      await waitForMasters(all(backup), 500);
      for (const vm of vms) {
        const r = spawnSync('ip', [
          'netns',
          'exec',
          vm.ns,
          'ping',
          '-c',
          '2',
          '-i',
          '0.2',
          '-W',
          '2',
          '-q',
          vm.gateway,
        ]);
        assert.equal(r.status, 0, `round ${round}: ${vm.ns} reaches ${vm.gateway}`);
      }
      // Nothing leaked: one keepalived (parent + VRRP child) and one dnsmasq per network on each
      // router, the same links, and the public addresses on the master's uplink only.
      for (const side of ['a', 'b'] as const) {
        assert.ok(
          keepalivedPids(side).length <= 2,
          `round ${round} ${side}: keepalived ${keepalivedPids(side)}`,
        );
        assert.equal(
          dnsmasqPids(side).length,
          vms.length,
          `round ${round} ${side}: dnsmasq ${dnsmasqPids(side)}`,
        );
        assert.deepEqual(linkNames(side), linksAtStart[side], `round ${round} ${side}: links`);
        assert.deepEqual(
          uplinkPublic(side),
          side === backup ? [...publicIps()].sort() : [],
          `round ${round} ${side}: public addresses on the uplink`,
        );
      }
      master = backup;
    }
    // Still one keepalived (parent and its VRRP child) per router: nothing leaked across the rounds.
    for (const side of ['a', 'b'] as const)
      assert.ok(keepalivedPids(side).length <= 2, `${side}: ${keepalivedPids(side)}`);
  });

  test('metrics: the master gauge per network and the transitions keepalived reported', async () => {
    const masters = await waitForMasters();
    await new Promise((r) => setTimeout(r, 2500)); // the gauges are refreshed every cycle (1 s)
    for (const side of ['a', 'b'] as const) {
      const port = logs[side]?.lines.find((l) => l.event === 'metrics')?.port;
      assert.ok(typeof port === 'number', 'run logged its metrics port');
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      assert.match(text, /^guestrouter_vrrp_peer_up\{peer="http:\/\/[\d.]+:8089"\} 1$/m);
      assert.equal(
        sum(/^guestrouter_vrrp_master\{instance="gr_\d+"\} (\d+)$/gm),
        masters.filter((m) => m === side).length,
      );
      // Five failovers alternate the roles: each router became master and fell to FAULT several times.
      assert.ok(
        sum(/^guestrouter_vrrp_transitions_total\{instance="gr_\d+",state="MASTER"\} (\d+)$/gm) >= 2 * 2,
        text,
      );
      assert.ok(
        sum(/^guestrouter_vrrp_transitions_total\{instance="gr_\d+",state="FAULT"\} (\d+)$/gm) >= 2 * 2,
        text,
      );
    }
  });

  test('SIGKILL of the master run: its keepalived keeps serving; the next run stops it as stale, the peer takes over', async () => {
    const master = (await waitForMasters())[0] as Side;
    const other: Side = master === 'a' ? 'b' : 'a';
    const before = keepalivedPids(master);
    assert.ok(before.length > 0);
    const killed = children[master] as ChildProcess;
    const gone = new Promise((r) => killed.once('close', r));
    killed.kill('SIGKILL');
    await gone;
    // keepalived outlives its owner: the gateways stay where they were.
    assert.deepEqual(keepalivedPids(master).sort(), before.sort());
    await waitForMasters(all(master), 2000);
    const lost = await lossDuring(vms[0] as (typeof vms)[0], async () => {
      await startRun(master);
    });
    failovers.push(lost);
    assert.ok(lost <= 3000, `${lost} ms of pings lost across the restart`);
    assert.ok(logs[master]?.lines.some((l) => l.event === 'service-stale' && l.service === 'keepalived'));
    const after = keepalivedPids(master);
    assert.ok(
      after.length > 0 && after.length <= 2 && after.every((p) => !before.includes(p)),
      `${before} -> ${after}`,
    );
    await waitForMasters(all(other), 5000);
  });

  test('split brain: VRRP between the routers cut, both up: both masters; link back: one master per network, no flap', async () => {
    await waitForMasters();
    // Drop VRRP (IP protocol 112) both ways in router b: the routers no longer hear each other, while
    // the trunk and the hypervisor stay up (a cut between the two routers only).
    const nft = (script: string) =>
      spawnSync('ip', ['netns', 'exec', routers.b, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
    const cut = nft(
      'table ip grtest_cut {\n chain in { type filter hook input priority -300; ip protocol 112 drop; }\n' +
        ' chain out { type filter hook output priority -300; ip protocol 112 drop; }\n}\n',
    );
    assert.equal(cut.status, 0, cut.stderr);
    try {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !vms.every((vm) => holds('a', vm) && holds('b', vm)))
        await new Promise((r) => setTimeout(r, 200));
      assert.ok(
        vms.every((vm) => holds('a', vm) && holds('b', vm)),
        'without adverts each router takes every network (split brain, as VRRP does)',
      );
    } finally {
      assert.equal(nft('delete table ip grtest_cut\n').status, 0);
    }
    // Healed: the masters hear each other and the lower priority (b, 100) steps down for every network.
    const healed = Date.now();
    const masters = await waitForMasters(all('a'), 10_000);
    // The hypervisors' FDB may still point at the router that stepped down (it may have sent the last
    // gratuitous ARP during the split); the master's periodic gratuitous ARP (every 10 s) moves it back.
    for (const vm of vms) {
      const deadline = Date.now() + 15_000;
      let ok = false;
      while (!ok && Date.now() < deadline) {
        ok =
          spawnSync('ip', ['netns', 'exec', vm.ns, 'ping', '-c', '1', '-W', '1', '-q', vm.gateway]).status ===
          0;
      }
      assert.ok(ok, `${vm.ns} reaches ${vm.gateway} after the split`);
    }
    console.log(
      `# split brain healed: every VM reached its gateway ${Date.now() - healed} ms after the adverts flowed again`,
    );
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await waitForMasters(all('a'), 500), masters, 'no flap after the split is healed');
  });

  test('SIGTERM to run stops keepalived, which gives up the gateways it holds', async () => {
    const master = (await waitForMasters())[0] as Side;
    await stopRun(master);
    assert.deepEqual(keepalivedPids(master), []);
    for (const vm of vms) assert.ok(!holds(master, vm));
    const other: Side = master === 'a' ? 'b' : 'a';
    await waitForMasters(all(other), 5000);
    await stopRun(other);
    assert.deepEqual(keepalivedPids(other), []);
    for (const vm of vms) assert.ok(!holds(other, vm));
  });
});
