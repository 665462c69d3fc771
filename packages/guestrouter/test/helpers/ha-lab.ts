import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawFirewallRule } from '../../src/cloudstack/messages.js';
import { multicastGroupForVni } from '../../src/desired/vxlan.js';
import { parseStateFile } from '../../src/ha/vrrp.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimState, type SimulatorHandle, startSimulator } from '../simulator/server.js';
import { simulatorEnv, TempConfig } from './cli.js';
import { LogWatcher } from './log-watcher.js';
import { ip, NetnsLab, vethBetween } from './netns.js';

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export type Side = 'a' | 'b';
export const SIDES = ['a', 'b'] as const;

export interface HaLabOptions {
  /** Namespace prefix tag (the pid is added): keeps parallel labs apart. */
  readonly tag: string;
  readonly networks: number;
  /** How many networks (the first ones) get a VM namespace; the others are served without a VM. */
  readonly vmNamespaces: number;
  /** Networks (0-based positions) that get a VM namespace instead of the first `vmNamespaces`. */
  readonly vmAt?: readonly number[];
  /** Give each VM with a namespace a static NAT address, open to everything (protocol all). */
  readonly staticNat?: boolean;
  /** Extra `ha` settings of each router (merged over the lab's enabled/priority/peers/routerId). */
  readonly ha?: (side: Side, lab: { trunkAddress: Record<Side, string> }) => object;
  /** Extra top-level config of each router (e.g. `dhcp`, `metadata`), besides `ha`. */
  readonly config?: (side: Side, lab: { trunkAddress: Record<Side, string> }) => object;
  /** `run` cycle interval (s); longer for many networks. */
  readonly intervalSeconds?: number;
  /** How long to wait for each router's keepalived start (many networks: slow first cycle). */
  readonly startTimeoutMs?: number;
}

export interface LabVm {
  /** The VM's id in the simulator (for `password reset`). */
  readonly id: string;
  readonly ns: string;
  readonly address: string;
  readonly gateway: string;
  /** The guest link (bridge member) on the routers: `vxlan<vni>`. */
  readonly link: string;
  readonly vni: number;
  /** Its static NAT address, when the lab has them. */
  readonly publicAddress?: string;
}

/*
 * Two routers as one, in namespaces: routers a and b on one trunk segment (a bridge in the
 * hypervisor namespace, CloudStack-style VXLAN bridges behind it) and one uplink segment (a bridge in
 * the internet host's namespace), VMs on the first networks. Each router runs `guestrouter run` with
 * ha.enabled (unicast VRRP to the other). Used by the HA tests and bench/ha.ts.
 */
export class HaLab {
  readonly lab: NetnsLab;
  readonly routers: Record<Side, string>;
  readonly trunkAddress = { a: '10.255.0.1', b: '10.255.0.2' } as const;
  readonly uplinkAddress = { a: '100.64.0.2', b: '100.64.0.3' } as const;
  readonly configs = {} as Record<Side, TempConfig>;
  readonly children: Partial<Record<Side, ChildProcess>> = {};
  readonly logs: Partial<Record<Side, LogWatcher>> = {};
  readonly vms: LabVm[] = [];
  sim: SimulatorHandle | undefined;
  hv = '';
  inet = '';
  state: SimState | undefined;

  constructor(readonly options: HaLabOptions) {
    this.lab = new NetnsLab(`gr${process.pid}${options.tag}`);
    this.routers = { a: this.lab.name('ra'), b: this.lab.name('rb') };
  }

  /** Builds the namespaces, the simulator and the configs (does not start `run`). */
  async setup(): Promise<void> {
    const o = this.options;
    const state = generateSimState({
      networks: o.networks,
      vmsPerNetwork: 1,
      isolation: 'vxlan',
      publicIpsPerNetwork: o.staticNat ? 1 : 0,
    });
    // Only the VMs with a namespace keep their static NAT address; each is open to everything.
    const vmNets = new Set(
      state.networks.filter((_, i) => (o.vmAt ? o.vmAt.includes(i) : i < o.vmNamespaces)).map((n) => n.id),
    );
    state.publicIpAddresses = state.publicIpAddresses.filter((p) => vmNets.has(p.associatednetworkid ?? ''));
    state.firewallRules = state.publicIpAddresses.map(
      (p): RawFirewallRule => ({
        id: `fw-${p.id}`,
        ipaddressid: p.id,
        protocol: 'all',
        cidrlist: '0.0.0.0/0',
        state: 'Active',
      }),
    );
    this.state = state;
    this.sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    const hv = this.lab.add('hv');
    const inet = this.lab.add('inet');
    this.hv = hv;
    this.inet = inet;
    // One multicast group per VNI (CloudStack's layout): past 20 networks the default limit refuses joins.
    ip('netns', 'exec', hv, 'sysctl', '-qw', `net.ipv4.igmp_max_memberships=${Math.max(20, o.networks + 5)}`);
    ip('-n', hv, 'link', 'add', 'trunkbr', 'type', 'bridge');
    ip('-n', hv, 'link', 'set', 'trunkbr', 'up');
    ip('-n', hv, 'addr', 'add', '10.255.0.3/24', 'dev', 'trunkbr');
    ip('-n', inet, 'link', 'add', 'upbr', 'type', 'bridge');
    ip('-n', inet, 'link', 'set', 'upbr', 'up');
    ip('-n', inet, 'addr', 'add', '100.64.0.1/24', 'dev', 'upbr');
    // The static NAT addresses (198.18.0.0/15) are on the routers' uplinks: on-link for the internet host.
    ip('-n', inet, 'route', 'add', '198.18.0.0/15', 'dev', 'upbr');
    for (const side of SIDES) {
      const ns = this.lab.add(`r${side}`);
      vethBetween(ns, 'trunk', hv, `t${side}`);
      ip('-n', hv, 'link', 'set', `t${side}`, 'master', 'trunkbr');
      ip('-n', ns, 'addr', 'add', `${this.trunkAddress[side]}/24`, 'dev', 'trunk');
      vethBetween(ns, 'uplink', inet, `u${side}`);
      ip('-n', inet, 'link', 'set', `u${side}`, 'master', 'upbr');
      ip('-n', ns, 'addr', 'add', `${this.uplinkAddress[side]}/24`, 'dev', 'uplink');
      ip('-n', ns, 'route', 'add', 'default', 'via', '100.64.0.1');
      const peer = side === 'a' ? this.trunkAddress.b : this.trunkAddress.a;
      const config = new TempConfig(`gr-ha-${o.tag}-${side}-`);
      config.write({
        cloudstack: { retries: 0, timeoutMs: 10_000 },
        stateDir: join(config.dir, 'state'),
        run: { intervalSeconds: o.intervalSeconds ?? 1, jitterSeconds: 0.1 },
        metrics: { port: 0 },
        ...(o.config?.(side, { trunkAddress: this.trunkAddress }) ?? {}),
        ha: {
          enabled: true,
          priority: side === 'a' ? 150 : 100,
          peers: [peer],
          routerId: `r${side}`,
          ...(o.ha?.(side, { trunkAddress: this.trunkAddress }) ?? {}),
        },
      });
      // dnsmasq (with `dhcp`) reads its hosts files as its own user after its start: the temporary
      // directory that holds STATEDIR must be traversable (mkdtemp makes it 0700; /var/lib is).
      chmodSync(config.dir, 0o755);
      this.configs[side] = config;
    }
    state.networks.forEach((network, i) => {
      const vni = Number(network.broadcasturi?.replace('vxlan://', ''));
      ip(
        '-n',
        hv,
        'link',
        'add',
        `vxlan${vni}`,
        'type',
        'vxlan',
        'id',
        String(vni),
        'group',
        multicastGroupForVni(vni),
        'dstport',
        '8472',
        'dev',
        'trunkbr',
      );
      ip('-n', hv, 'link', 'add', `br${vni}`, 'type', 'bridge');
      ip('-n', hv, 'link', 'set', `vxlan${vni}`, 'master', `br${vni}`);
      ip('-n', hv, 'link', 'set', `vxlan${vni}`, 'up');
      ip('-n', hv, 'link', 'set', `br${vni}`, 'up');
      if (o.vmAt ? !o.vmAt.includes(i) : i >= o.vmNamespaces) return;
      const vm = state.virtualMachines.find((v) => v.nic?.[0]?.networkid === network.id);
      const nic = vm?.nic?.[0];
      assert.ok(vm && nic?.ipaddress && nic.macaddress, 'one VM per network');
      const ns = this.lab.add(`vm${i}`);
      vethBetween(hv, `p${i}`, ns, 'eth0');
      ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'address', nic.macaddress);
      ip('-n', hv, 'link', 'set', `p${i}`, 'master', `br${vni}`);
      ip('-n', ns, 'addr', 'add', `${nic.ipaddress}/24`, 'dev', 'eth0');
      ip('-n', ns, 'route', 'add', 'default', 'via', network.gateway as string);
      const pub = state.publicIpAddresses.find((p) => p.virtualmachineid === vm.id)?.ipaddress;
      this.vms.push({
        id: vm.id as string,
        ns,
        address: nic.ipaddress,
        gateway: network.gateway as string,
        link: `vxlan${vni}`,
        vni,
        ...(pub ? { publicAddress: pub } : {}),
      });
    });
  }

  stateDir(side: Side): string {
    return join(this.configs[side].dir, 'state');
  }

  async startRun(side: Side): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        cliPath,
        'run',
        '--netns',
        this.routers[side],
        '--trunk',
        'trunk',
        '--uplink',
        'uplink',
        '--config',
        this.configs[side].file,
      ],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...simulatorEnv(this.sim) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.children[side] = child;
    const log = new LogWatcher(child);
    this.logs[side] = log;
    await log.next(
      (l) => l.event === 'ha' && l.keepalived === 'started',
      `keepalived of router ${side}`,
      this.options.startTimeoutMs ?? 60_000,
    );
  }

  async stopRun(side: Side): Promise<void> {
    const child = this.children[side];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await closed;
  }

  async cleanup(): Promise<void> {
    await Promise.all(SIDES.map((s) => this.stopRun(s)));
    this.lab.cleanup();
    await this.sim?.stop();
    for (const side of SIDES) this.configs[side]?.remove();
  }

  /** Whether a router holds the VM's gateway address (the kernel's view of who is master). */
  holds(side: Side, vm: { gateway: string; link: string }): boolean {
    const r = spawnSync('ip', ['-n', this.routers[side], '-j', 'addr', 'show', 'dev', vm.link], {
      encoding: 'utf8',
    });
    if (r.status !== 0) return false;
    const links = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
    return links.some((l) => l.addr_info?.some((a) => a.local === vm.gateway));
  }

  /** How many of the lab's gateway addresses a router holds (one `ip addr` for all links). */
  gatewaysHeld(side: Side): number {
    const gateways = new Set((this.state?.networks ?? []).map((n) => n.gateway));
    const r = spawnSync('ip', ['-n', this.routers[side], '-j', '-4', 'addr', 'show'], { encoding: 'utf8' });
    if (r.status !== 0) return 0;
    const links = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
    return links.reduce((n, l) => n + (l.addr_info ?? []).filter((a) => gateways.has(a.local)).length, 0);
  }

  /** The VRRP role keepalived last reported for an instance on a router (notify state files). */
  role(side: Side, instance: string): string {
    try {
      return parseStateFile(readFileSync(join(this.stateDir(side), 'ha', 'state', instance), 'utf8')).role;
    } catch {
      return 'UNKNOWN';
    }
  }

  /** The routers' VRRP roles of every instance: counts per side and role. */
  roleCounts(side: Side): Record<string, number> {
    const counts: Record<string, number> = {};
    const dir = join(this.stateDir(side), 'ha', 'state');
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => /^gr_\d+$/.test(n));
    } catch {
      return counts; // keepalived has not reported yet
    }
    for (const name of names) {
      const r = this.role(side, name);
      counts[r] = (counts[r] ?? 0) + 1;
    }
    return counts;
  }

  /** Per VM network, the router holding its gateway, once every one has exactly one (and `want` holds). */
  async waitForMasters(want: (m: Side[]) => boolean = () => true, timeoutMs = 20_000): Promise<Side[]> {
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    while (Date.now() < deadline) {
      const owners = this.vms.map((vm) => SIDES.filter((s) => this.holds(s, vm)));
      seen = JSON.stringify(owners);
      if (owners.every((o) => o.length === 1)) {
        const masters = owners.map((o) => o[0] as Side);
        if (want(masters)) return masters;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not one master per network as expected: holders per network ${seen}`);
  }

  /** PIDs of the processes whose command line carries `marker` (a config path of this lab). */
  pidsWith(marker: string, program: string): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (argv.includes(marker) && argv.some((a) => a.endsWith(program))) pids.push(Number(entry));
      } catch {
        // gone
      }
    }
    return pids;
  }

  keepalivedPids(side: Side): number[] {
    return this.pidsWith(join(this.stateDir(side), 'ha', 'keepalived.conf'), 'keepalived');
  }

  /**
   * The conntrackd daemons (`conntrackd -C CONF`), not the short-lived `conntrackd -C CONF -c` and
   * the like that keepalived's transition hook runs against them: a check at the moment of a
   * transition saw one of those too.
   */
  conntrackdPids(side: Side): number[] {
    return this.pidsWith(
      join(this.stateDir(side), 'ha', 'conntrackd', 'conntrackd.conf'),
      'conntrackd',
    ).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).length === 3;
      } catch {
        return false; // gone
      }
    });
  }
}

/** A ping every 100 ms from `ns` to `target`, started now; `stop()` gives the replies lost x 100 ms. */
export function startPing(
  ns: string,
  target: string,
): { stop: () => Promise<{ lostMs: number; sent: number }> } {
  const ping = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-i', '0.1', '-W', '1', target], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  ping.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const closed = new Promise((r) => ping.once('close', r));
  return {
    stop: async () => {
      ping.kill('SIGINT');
      await closed;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      assert.ok(m, `ping summary: ${out.slice(-300)}`);
      return { lostMs: (Number(m[1]) - Number(m[2])) * 100, sent: Number(m[1]) };
    },
  };
}
