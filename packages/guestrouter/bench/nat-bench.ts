/**
 * guestrouter NAT and firewall benchmark.
 *  1. The rule set for 1,000 private networks, each with 10 port forwards, 5 firewall
 *     rules, one static NAT and a source NAT address: compute time (desired state, nft
 *     rules, diff, script), the one nft -f transaction in a namespace, the read-back and
 *     second plan (must be empty), the transaction after one rule changed, and memory.
 *  2. Connection rate through one static NAT, one port forward and haproxy, against a
 *     direct routed connection, in the same namespace lab (client and servers are the
 *     same node program).
 *   make -C packages/guestrouter bench-nat
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInventory } from '../src/cloudstack/inventory.js';
import { parseConfig } from '../src/config/load.js';
import { desiredState } from '../src/desired/desired.js';
import type { FirewallRule, InventoryRules, PortForwardRule } from '../src/inventory/rules.js';
import type { Inventory, PublicIp } from '../src/inventory/types.js';
import { IprouteKernel } from '../src/kernel/kernel.js';
import { desiredLoadBalancers } from '../src/lb/desired.js';
import { HaproxyService } from '../src/lb/haproxy.js';
import { formatIpv4 } from '../src/net/ipv4.js';
import { NftKernel } from '../src/nft/current.js';
import { desiredNft } from '../src/nft/desired.js';
import { diffNft } from '../src/nft/diff.js';
import { applyPlan, computePlan } from '../src/reconcile/reconcile.js';
import { guestNetwork, inventoryOf } from '../test/helpers/inventory.js';
import { ip } from '../test/helpers/netns.js';
import { TcpServers } from '../test/helpers/tcp.js';
import { RouterLab } from '../test/helpers/topology.js';
import { generateSimState, networkId, vmId } from '../test/simulator/fixtures.js';
import type { SimState } from '../test/simulator/server.js';

const config = parseConfig({});

function ms(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function bigInventory(networks: number): Inventory {
  const nets = Array.from({ length: networks }, (_, i) => guestNetwork(i + 1));
  const base = inventoryOf(nets, 11);
  const publicIps: PublicIp[] = [];
  const portForwards: PortForwardRule[] = [];
  const firewall: FirewallRule[] = [];
  nets.forEach((net, i) => {
    const snat = formatIpv4((198 << 24) + (18 << 16) + i * 2);
    const stat = formatIpv4((198 << 24) + (18 << 16) + i * 2 + 1);
    publicIps.push({ id: `snat-${i}`, address: snat, networkId: net.id, isSourceNat: true });
    publicIps.push({
      id: `static-${i}`,
      address: stat,
      networkId: net.id,
      isStaticNat: true,
      vmId: `vm-${net.id}-10`,
    });
    for (let p = 0; p < 10; p++) {
      const port = String(2200 + p);
      portForwards.push({
        id: `pf-${i}-${p}`,
        publicIpId: `snat-${i}`,
        protocol: 'tcp',
        publicStartPort: port,
        publicEndPort: port,
        privateStartPort: '22',
        privateEndPort: '22',
        vmId: `vm-${net.id}-${11 + p}`,
        cidrs: [],
      });
    }
    for (let f = 0; f < 5; f++) {
      const port = String(2200 + f);
      firewall.push({
        id: `fw-${i}-${f}`,
        publicIpId: `snat-${i}`,
        protocol: 'tcp',
        startPort: port,
        endPort: port,
        cidrs: ['0.0.0.0/0'],
        destCidrs: [],
      });
    }
  });
  const rules: InventoryRules = { portForwards, firewall, egress: [], loadBalancers: [] };
  return { ...base, publicIps, rules };
}

async function ruleSetBench(networks: number, runs: number): Promise<void> {
  const inventory = bigInventory(networks);
  const options = {
    trunk: 'trunk',
    uplink: 'uplink',
    vxlan: config.vxlan,
    selection: config.networks,
    publicRouting: true,
  };
  const computeMs: number[] = [];
  let script: string[] = [];
  let rules = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = 0;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const desired = desiredState(inventory, options);
    const nft = desiredNft(inventory, desired.links, { uplink: 'uplink', isolation: true });
    const plan = diffNft(nft, { tables: [], chains: [], rules: [] });
    computeMs.push(ms(t));
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed - heapBefore);
    script = plan.script;
    rules = nft.rules.length;
  }
  const ns = `gr${process.pid}nb`;
  ip('netns', 'add', ns);
  try {
    const kernel = new NftKernel(ns);
    const applyMs: number[] = [];
    const readMs: number[] = [];
    let secondOps = -1;
    const desired = desiredState(inventory, options);
    const nft = desiredNft(inventory, desired.links, { uplink: 'uplink', isolation: true });
    for (let i = 0; i < runs; i++) {
      let t = process.hrtime.bigint();
      await kernel.apply(script);
      applyMs.push(ms(t));
      t = process.hrtime.bigint();
      const current = await kernel.read();
      secondOps = Math.max(secondOps, diffNft(nft, current).operations.length);
      readMs.push(ms(t));
    }
    // One port forward changed: the diff names one rule, the transaction rewrites the tables.
    const changed: Inventory = {
      ...inventory,
      rules: {
        ...(inventory.rules as InventoryRules),
        portForwards: (inventory.rules?.portForwards ?? []).map((r, i) =>
          i === 0 ? { ...r, privateStartPort: '23', privateEndPort: '23' } : r,
        ),
      },
    };
    let t = process.hrtime.bigint();
    const changedNft = desiredNft(changed, desired.links, { uplink: 'uplink', isolation: true });
    const changedPlan = diffNft(changedNft, await kernel.read());
    const diffOneMs = ms(t);
    t = process.hrtime.bigint();
    await kernel.apply(changedPlan.script);
    const applyOneMs = ms(t);
    const kb = Buffer.byteLength(script.join('\n')) / 1024;
    console.log(
      `rule set, ${networks} networks x (10 port forwards, 5 firewall rules, 1 static NAT, source NAT) (median of ${runs}): ` +
        `compute ${median(computeMs).toFixed(0)} ms for ${rules} rules (${script.length} nft lines, ${kb.toFixed(0)} KiB), ` +
        `heap ${(heapPeak / 1048576).toFixed(0)} MiB; one nft -f transaction ${median(applyMs).toFixed(0)} ms; ` +
        `read back (nft -j) + diff ${median(readMs).toFixed(0)} ms with ${secondOps} operations; ` +
        `one changed port forward: diff ${diffOneMs.toFixed(0)} ms, ${changedPlan.operations.length} operation, transaction ${applyOneMs.toFixed(0)} ms`,
    );
    console.log(
      `  VR way (on paper): ${networks} routers, each its own iptables-restore of ~${Math.round(rules / networks)} rules on its own VM; ` +
        `guestrouter: one transaction of ${rules} rules on one host`,
    );
  } finally {
    ip('netns', 'del', ns);
  }
}

const RATE_CLIENT = `
const net = require('node:net');
const [n, ...targets] = process.argv.slice(1);
(async () => {
  for (const target of targets) {
    const [host, port] = target.split(':');
    const started = process.hrtime.bigint();
    let ok = 0;
    for (let i = 0; i < Number(n); i++) {
      await new Promise((resolve) => {
        const s = net.connect({ host, port: Number(port) });
        s.on('data', () => {});
        s.on('end', () => { ok++; resolve(); });
        s.on('error', resolve);
      });
    }
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    process.stdout.write(target + ' ' + ok + ' ' + (ok / secs).toFixed(0) + '\\n');
  }
})();
`;

function rateFrom(ns: string, n: number, targets: string[]): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', RATE_CLIENT, String(n), ...targets],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => {
      const rates = new Map<string, number>();
      for (const line of out.trim().split('\n')) {
        const [target, ok, rate] = line.split(' ');
        if (target && Number(ok) === n) rates.set(target, Number(rate));
      }
      resolve(rates);
    });
  });
}

async function connectionBench(connections: number, runs: number): Promise<void> {
  const topo = new RouterLab('c');
  const servers = new TcpServers();
  const dir = mkdtempSync(join(tmpdir(), 'gr-natbench-'));
  const lb = new HaproxyService({
    dir: join(dir, 'haproxy'),
    binary: 'haproxy',
    netns: topo.router,
    logger: { info() {}, warn() {}, error() {} },
  });
  try {
    topo.build(['198.51.100.0/24']);
    const priv = generateSimState({ networks: 1, vmsPerNetwork: 2, isolation: 'vxlan', firstId: 4 });
    const pub = generateSimState({ networks: 1, vmsPerNetwork: 1, isolation: 'vxlan', firstId: 2 });
    const net = networkId(4);
    const state: SimState = {
      zones: priv.zones,
      networks: [...priv.networks, ...pub.networks],
      virtualMachines: [...priv.virtualMachines, ...pub.virtualMachines],
      publicIpAddresses: [
        {
          id: 'ip-snat',
          ipaddress: '100.64.0.10',
          associatednetworkid: net,
          state: 'Allocated',
          issourcenat: true,
        },
        {
          id: 'ip-static',
          ipaddress: '100.64.0.11',
          associatednetworkid: net,
          state: 'Allocated',
          isstaticnat: true,
          virtualmachineid: vmId(4, 2),
          vmipaddress: '10.0.4.3',
        },
        { id: 'ip-lb', ipaddress: '100.64.0.20', associatednetworkid: net, state: 'Allocated' },
      ],
    };
    topo.hostAll(state);
    const raw = buildInventory(
      {
        zones: state.zones,
        networks: state.networks,
        virtualMachines: state.virtualMachines,
        publicIpAddresses: state.publicIpAddresses,
      },
      0,
    ).inventory;
    const inventory: Inventory = {
      ...raw,
      rules: {
        portForwards: [
          {
            id: 'pf',
            publicIpId: 'ip-snat',
            protocol: 'tcp',
            publicStartPort: '2222',
            publicEndPort: '2222',
            privateStartPort: '7000',
            privateEndPort: '7000',
            vmId: vmId(4, 1),
            cidrs: [],
          },
        ],
        firewall: [
          {
            id: 'fw-pf',
            publicIpId: 'ip-snat',
            protocol: 'tcp',
            startPort: '2222',
            endPort: '2222',
            cidrs: [],
            destCidrs: [],
          },
          {
            id: 'fw-st',
            publicIpId: 'ip-static',
            protocol: 'tcp',
            startPort: '7000',
            endPort: '7000',
            cidrs: [],
            destCidrs: [],
          },
        ],
        egress: [],
        loadBalancers: [
          {
            id: 'lb',
            name: 'lb',
            publicIpId: 'ip-lb',
            publicPort: '80',
            privatePort: '7000',
            algorithm: 'roundrobin',
            protocol: 'tcp',
            networkId: net,
            cidrs: [],
            members: [{ vmId: vmId(4, 1) }, { vmId: vmId(4, 2) }],
          },
        ],
      },
    };
    const kernel = new IprouteKernel(topo.router);
    const nft = new NftKernel(topo.router);
    const settings = { trunk: 'trunk', uplink: 'uplink', config, nft };
    const { plan, lb: desiredLb } = await computePlan(inventory, kernel, settings);
    await applyPlan(plan, kernel, topo.router, undefined, nft);
    if (desiredLb) await lb.sync(desiredLb ?? desiredLoadBalancers(inventory, []));
    for (const address of ['10.0.4.2', '10.0.4.3', '198.51.100.2'])
      await servers.start(topo.vm(address), 7000);
    await new Promise((r) => setTimeout(r, 2500)); // haproxy health checks mark the backends up
    // The routed address is answered by proxy ARP, which the kernel delays (proxy_delay): pin the
    // internet side's neighbour entry so the direct path measures forwarding, not ARP.
    ip(
      '-n',
      topo.inet,
      'neigh',
      'replace',
      '198.51.100.2',
      'lladdr',
      topo.routerMac('uplink'),
      'dev',
      'up0',
      'nud',
      'permanent',
    );
    await rateFrom(
      topo.inet,
      200,
      Object.values({
        a: '198.51.100.2:7000',
        b: '100.64.0.11:7000',
        c: '100.64.0.10:2222',
        d: '100.64.0.20:80',
      }),
    );
    const targets = {
      direct: '198.51.100.2:7000',
      'static NAT': '100.64.0.11:7000',
      'port forward': '100.64.0.10:2222',
      haproxy: '100.64.0.20:80',
    };
    const results = new Map<string, number[]>();
    for (let run = 0; run < runs; run++) {
      // Each run starts with another target, so no path always gets the warm or the cold slot.
      const order = Object.values(targets);
      const rotated = [...order.slice(run % order.length), ...order.slice(0, run % order.length)];
      const rates = await rateFrom(topo.inet, connections, rotated);
      for (const [name, target] of Object.entries(targets))
        results.set(name, [...(results.get(name) ?? []), rates.get(target) ?? Number.NaN]);
    }
    const direct = median(results.get('direct') ?? []);
    const parts = Object.keys(targets).map((name) => {
      const rate = median(results.get(name) ?? []);
      return `${name} ${rate.toFixed(0)}/s (${(rate / direct).toFixed(2)}x direct)`;
    });
    console.log(
      `connection rate, ${connections} sequential TCP connections from the internet namespace (median of ${runs}): ${parts.join(', ')}`,
    );
  } finally {
    await lb.stop();
    await servers.stopAll();
    topo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv[2];
if (only !== 'connections') await ruleSetBench(1000, 3);
if (only !== 'rules') await connectionBench(1000, 4);
