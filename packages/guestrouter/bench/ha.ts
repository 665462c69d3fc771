/**
 * guestrouter HA benchmark: two routers as one (test/helpers/ha-lab.ts: namespaces, the CloudStack
 * simulator, `guestrouter run` with ha.enabled and ha.conntrack on each router).
 *  1. Failover time for 1, 25 and 250 networks: pings every 100 ms from a VM to its gateway and from
 *     the internet host to the VM's static NAT address while the master dies (its trunk and uplink
 *     down); loss x 100 ms, and the time until the other router is master of every network (keepalived's
 *     notify state files). Several rounds, the roles alternating (the old master comes back as backup).
 *  2. At the largest size, CPU and memory of keepalived (parent and VRRP child), conntrackd and `run`
 *     on each router, sampled over a quiet window.
 * The anchor is the bound (3 s of loss) and the one-network figure of the same run.
 *   make -C packages/guestrouter bench-ha            (HA_BENCH_NETWORKS=1,25,250 HA_BENCH_ROUNDS=3)
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HaLab, type LabVm, SIDES, type Side, startPing } from '../test/helpers/ha-lab.js';
import { ip } from '../test/helpers/netns.js';

const sizes = (process.env.HA_BENCH_NETWORKS ?? '1,25,250').split(',').map(Number);
const rounds = Number(process.env.HA_BENCH_ROUNDS ?? 3);
const sampleSeconds = Number(process.env.HA_BENCH_SAMPLE_SECONDS ?? 20);
/** ha.instanceGroups: 255 = one VRRP instance per network; fewer = networks grouped by VNI modulo this. */
const groups = Number(process.env.HA_BENCH_GROUPS ?? 255);
const TICKS = 100; // USER_HZ on Linux

interface Round {
  vmToGatewayLossMs: number;
  internetToVmLossMs: number;
  allMasterMs: number;
}

function cpuTicks(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0; // gone during the window
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssKb(pid: number): number {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) : 0;
}

/** CPU (% of one core) and RSS of each named process group over `seconds`. */
async function sample(groups: Record<string, number[]>, seconds: number): Promise<Record<string, string>> {
  const before = Object.fromEntries(
    Object.entries(groups).map(([k, pids]) => [k, pids.reduce((n, p) => n + cpuTicks(p), 0)]),
  );
  const t0 = Date.now();
  await sleep(seconds * 1000);
  const wall = (Date.now() - t0) / 1000;
  const out: Record<string, string> = {};
  for (const [k, pids] of Object.entries(groups)) {
    const used = pids.reduce((n, p) => n + cpuTicks(p), 0) - (before[k] ?? 0);
    const rss = pids.reduce((n, p) => n + rssKb(p), 0);
    out[k] =
      `cpu ${((100 * used) / TICKS / wall).toFixed(2)}%  rss ${(rss / 1024).toFixed(1)} MiB (${pids.length} pid${pids.length > 1 ? 's' : ''})`;
  }
  return out;
}

function masters(lab: HaLab, side: Side): number {
  return lab.roleCounts(side).MASTER ?? 0;
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
  return Date.now() - t0;
}

/**
 * The internet host sends to the master's uplink for the NAT address. The uplink's NAT addresses now
 * follow the master (gratuitous ARP on takeover); the pin and the short ARP timers stay as a fallback.
 */
function pinUplink(lab: HaLab, vm: LabVm, master: Side): void {
  const mac = (
    JSON.parse(ip('-n', lab.routers[master], '-j', 'link', 'show', 'dev', 'uplink')) as { address: string }[]
  )[0]?.address as string;
  ip(
    '-n',
    lab.inet,
    'neigh',
    'replace',
    vm.publicAddress as string,
    'lladdr',
    mac,
    'dev',
    'upbr',
    'nud',
    'reachable',
  );
}

async function benchSize(networks: number): Promise<void> {
  const lab = new HaLab({
    tag: `b${networks}`,
    networks,
    vmNamespaces: 1,
    // A VM on the first and on the last network: grouped instances add their addresses one by one.
    vmAt: networks > 1 ? [0, networks - 1] : [0],
    staticNat: true,
    intervalSeconds: networks >= 100 ? 5 : 1,
    startTimeoutMs: 600_000,
    ha: (side, l) => ({
      instanceGroups: groups,
      conntrack: { enabled: true, localAddress: l.trunkAddress[side] },
    }),
  });
  const load0 = loadavg()[0]?.toFixed(2);
  try {
    const t0 = Date.now();
    await lab.setup();
    for (const [key, value] of [
      ['base_reachable_time_ms', '1000'],
      ['delay_first_probe_time', '1'],
      ['retrans_time_ms', '200'],
    ] as const) {
      ip('netns', 'exec', lab.inet, 'sysctl', '-qw', `net.ipv4.neigh.upbr.${key}=${value}`);
    }
    // Instances keepalived runs: the networks' VNIs folded as src/ha/vrrp.ts does.
    const instances = new Set(
      (lab.state?.networks ?? []).map((n) => (Number(n.broadcasturi?.replace('vxlan://', '')) % groups) + 1),
    ).size;
    await Promise.all(SIDES.map((s) => lab.startRun(s)));
    const settled = await until(
      `one master for each of ${instances} instances`,
      () => masters(lab, 'a') + masters(lab, 'b') === instances,
      600_000,
    );
    console.log(
      `\n${networks} networks in ${instances} VRRP instances: lab and both routers up in ${((Date.now() - t0) / 1000).toFixed(1)} s (masters settled ${settled} ms after keepalived started); load ${load0}`,
    );
    if (networks === Math.max(...sizes)) {
      await sleep(5000);
      const groups: Record<string, number[]> = {};
      for (const side of SIDES) {
        // keepalived's own pid files (parent and VRRP child): its script children share its command line.
        groups[`router ${side} keepalived`] = ['keepalived.pid', 'vrrp.pid'].map((f) =>
          Number(readFileSync(join(lab.stateDir(side), 'ha', f), 'utf8').trim()),
        );
        groups[`router ${side} conntrackd`] = lab.conntrackdPids(side);
        groups[`router ${side} run`] = [lab.children[side]?.pid as number];
      }
      const usage = await sample(groups, sampleSeconds);
      console.log(`  steady state over ${sampleSeconds} s (run cycles every ${networks >= 100 ? 5 : 1} s):`);
      for (const [k, v] of Object.entries(usage)) console.log(`    ${k.padEnd(24)} ${v}`);
    }
    const results: Round[] = [];
    let [master] = (await lab.waitForMasters()) as [Side];
    // Every network's master on one router, so one death fails all of them over.
    if (masters(lab, master) !== instances) {
      const other: Side = master === 'a' ? 'b' : 'a';
      ip('-n', lab.routers[other], 'link', 'set', 'trunk', 'down');
      await until('one router master of all', () => masters(lab, master) === instances, 60_000);
      ip('-n', lab.routers[other], 'link', 'set', 'trunk', 'up');
      await until(
        'the other back as backup',
        () => (lab.roleCounts(other).BACKUP ?? 0) === instances,
        60_000,
      );
    }
    for (let round = 0; round < rounds; round++) {
      const backup: Side = master === 'a' ? 'b' : 'a';
      for (const vm of lab.vms) pinUplink(lab, vm, master);
      await sleep(1500);
      const pings = lab.vms.flatMap((vm) => [
        startPing(vm.ns, vm.gateway),
        startPing(lab.inet, vm.publicAddress as string),
      ]);
      await sleep(1000);
      const failedAt = Date.now();
      ip('-n', lab.routers[master], 'link', 'set', 'trunk', 'down');
      ip('-n', lab.routers[master], 'link', 'set', 'uplink', 'down');
      await until('the backup holding every gateway', () => lab.gatewaysHeld(backup) === networks, 90_000);
      const allMasterMs = Date.now() - failedAt;
      await until('the backup master of every instance', () => masters(lab, backup) === instances, 90_000);
      await sleep(4000);
      const lost = await Promise.all(pings.map((p) => p.stop()));
      const g = Math.max(...lost.filter((_, k) => k % 2 === 0).map((l) => l.lostMs));
      const i = Math.max(...lost.filter((_, k) => k % 2 === 1).map((l) => l.lostMs));
      results.push({ vmToGatewayLossMs: g, internetToVmLossMs: i, allMasterMs });
      console.log(
        `  round ${round + 1}: VM->gateway lost ${lost
          .filter((_, k) => k % 2 === 0)
          .map((l) => l.lostMs)
          .join('/')} ms, internet->VM (static NAT) lost ${lost
          .filter((_, k) => k % 2 === 1)
          .map((l) => l.lostMs)
          .join(
            '/',
          )} ms (first/last network), every gateway address on the other router after ${allMasterMs} ms`,
      );
      ip('-n', lab.routers[master], 'link', 'set', 'trunk', 'up');
      ip('-n', lab.routers[master], 'link', 'set', 'uplink', 'up');
      await until(
        'the old master back as backup',
        () => (lab.roleCounts(master).BACKUP ?? 0) === instances,
        120_000,
      );
      master = backup;
    }
    const worst = (k: keyof Round) => Math.max(...results.map((r) => r[k]));
    const mean = (k: keyof Round) => Math.round(results.reduce((n, r) => n + r[k], 0) / results.length);
    console.log(
      `  ${networks} networks, ${results.length} rounds: worst of the VMs per round: VM->gateway loss mean ${mean('vmToGatewayLossMs')} ms, worst ${worst('vmToGatewayLossMs')} ms (${(worst('vmToGatewayLossMs') / 3000).toFixed(2)} x the 3 s bound); internet->VM mean ${mean('internetToVmLossMs')} ms, worst ${worst('internetToVmLossMs')} ms; every gateway moved: mean ${mean('allMasterMs')} ms, worst ${worst('allMasterMs')} ms; load ${load0} -> ${loadavg()[0]?.toFixed(2)}`,
    );
  } finally {
    await lab.cleanup();
  }
}

for (const n of sizes) await benchSize(n);
