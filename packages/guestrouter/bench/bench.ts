/**
 * guestrouter benchmark: plan time (API fetch vs kernel read vs compute) for the
 * seed's size (25 networks, 125 VMs) and for 1,000 networks / 10,000 VMs through
 * the API simulator; apply time for 25 networks in a namespace against the
 * anchor, the same commands run one process each as the seed did by hand; RSS
 * of the running controller against 25 Virtual Routers on paper.
 *   make -C packages/guestrouter bench
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudStackClient, cloudStackConfigFromEnv, fetchInventory } from '../src/cloudstack/index.js';
import { parseConfig } from '../src/config/load.js';
import { desiredState } from '../src/desired/desired.js';
import { execFile } from '../src/kernel/exec.js';
import { IprouteKernel } from '../src/kernel/kernel.js';
import { diff } from '../src/plan/diff.js';
import { linkAddCommand, renderPlan } from '../src/plan/render.js';
import { applyPlan, computePlan } from '../src/reconcile/reconcile.js';
import { generateSimState } from '../test/simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../test/simulator/server.js';

/** CloudStack's default router memory: DEFAULT_ROUTER_VM_RAMSIZE = 256 (MiB) in VirtualNetworkApplianceManager.java. */
const VR_MEMORY_MIB = 256;

const prefix = `gr${process.pid}b`;
const namespaces: string[] = [];
const config = parseConfig({ cloudstack: { retries: 0 } });

function ms(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function sh(file: string, args: string[], stdin?: string): Promise<void> {
  const result = await execFile(file, args, stdin);
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${result.stderr}`);
}

async function addRouterNamespace(suffix: string): Promise<string> {
  const ns = `${prefix}-${suffix}`;
  await sh('ip', ['netns', 'add', ns]);
  namespaces.push(ns);
  await sh('ip', ['-n', ns, 'link', 'add', 'trunk', 'type', 'veth', 'peer', 'name', 'trunkp']);
  await sh('ip', ['-n', ns, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplinkp']);
  for (const dev of ['trunk', 'trunkp', 'uplink', 'uplinkp', 'lo'])
    await sh('ip', ['-n', ns, 'link', 'set', 'dev', dev, 'up']);
  await sh('ip', ['-n', ns, 'addr', 'add', '10.255.0.1/24', 'dev', 'trunk']);
  return ns;
}

function client(sim: SimulatorHandle): CloudStackClient {
  return new CloudStackClient(
    cloudStackConfigFromEnv({}, { url: sim.url, apiKey: sim.apiKey, secretKey: sim.secretKey, retries: 0 }),
  );
}

async function planBench(networks: number, vms: number, runs: number): Promise<void> {
  const state = generateSimState({ networks, vmsPerNetwork: Math.ceil(vms / networks), isolation: 'vxlan' });
  const sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
  try {
    const api = client(sim);
    const ns = await addRouterNamespace(`p${networks}`);
    const kernel = new IprouteKernel(ns);
    const fetchMs: number[] = [];
    const readMs: number[] = [];
    const computeMs: number[] = [];
    let lines = 0;
    for (let i = 0; i < runs; i++) {
      let t = process.hrtime.bigint();
      const inventory = await fetchInventory(api);
      fetchMs.push(ms(t));
      t = process.hrtime.bigint();
      const options = {
        trunk: 'trunk',
        uplink: 'uplink',
        vxlan: config.vxlan,
        selection: config.networks,
        publicRouting: true,
      };
      const desired = desiredState(inventory, options);
      const keys = desired.sysctls.map((s) => s.key);
      computeMs.push(ms(t));
      t = process.hrtime.bigint();
      const current = await kernel.readState(keys);
      readMs.push(ms(t));
      t = process.hrtime.bigint();
      const plan = diff(desired, current, options);
      lines = renderPlan(plan).length;
      computeMs[i] = (computeMs[i] ?? 0) + ms(t);
    }
    const total = median(fetchMs) + median(readMs) + median(computeMs);
    console.log(
      `plan ${networks} networks / ${state.virtualMachines.length} VMs (median of ${runs}): ` +
        `API fetch ${median(fetchMs).toFixed(1)} ms (${sim.requests.length / runs} requests), ` +
        `kernel read ${median(readMs).toFixed(1)} ms, compute ${median(computeMs).toFixed(1)} ms, ` +
        `total ${total.toFixed(1)} ms, ${lines} plan lines`,
    );
  } finally {
    await sim.stop();
  }
}

async function delNamespace(ns: string): Promise<void> {
  await execFile('ip', ['netns', 'del', ns]);
  namespaces.splice(namespaces.indexOf(ns), 1);
}

async function applyBench(runs: number): Promise<void> {
  const state = generateSimState({ networks: 25, vmsPerNetwork: 5, isolation: 'vxlan' });
  const sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
  try {
    const inventory = await fetchInventory(client(sim));
    const settings = { trunk: 'trunk', uplink: 'uplink', config };
    const desired = desiredState(inventory, {
      trunk: 'trunk',
      uplink: 'uplink',
      vxlan: config.vxlan,
      selection: config.networks,
      publicRouting: true,
    });
    const oursMs: number[] = [];
    const anchorMs: number[] = [];
    const replanMs: number[] = [];
    let commands = 0;
    let secondLines = -1;
    for (let run = 0; run < runs; run++) {
      const ours = await addRouterNamespace(`a${run}`);
      const kernel = new IprouteKernel(ours);
      let t = process.hrtime.bigint();
      const { plan } = await computePlan(inventory, kernel, settings);
      await applyPlan(plan, kernel, ours);
      oursMs.push(ms(t));
      commands = renderPlan(plan).length;
      t = process.hrtime.bigint();
      const again = await computePlan(inventory, kernel, settings);
      replanMs.push(ms(t));
      secondLines = Math.max(secondLines, renderPlan(again.plan).length);
      await delNamespace(ours);

      // Anchor: the same end state, one ip/sysctl process per command, as the seed configured it by hand.
      const anchor = await addRouterNamespace(`b${run}`);
      const sysctl = (s: { key: string; value: string }) =>
        sh('ip', ['netns', 'exec', anchor, 'sysctl', '-q', '-w', `${s.key}=${s.value}`]);
      t = process.hrtime.bigint();
      for (const s of desired.sysctls) if (s.link === undefined) await sysctl(s);
      for (const link of desired.links) {
        await sh('ip', ['-n', anchor, ...linkAddCommand(link).split(' ')]);
        await sh('ip', ['-n', anchor, 'link', 'set', 'dev', link.name, 'alias', link.alias]);
        for (const address of link.addresses)
          await sh('ip', ['-n', anchor, 'addr', 'add', address, 'dev', link.name]);
        await sh('ip', ['-n', anchor, 'link', 'set', 'dev', link.name, 'up']);
      }
      for (const s of desired.sysctls) if (s.link !== undefined) await sysctl(s);
      anchorMs.push(ms(t));
      await delNamespace(anchor);
    }
    const a = median(anchorMs);
    const o = median(oursMs);
    console.log(
      `apply 25 networks in a namespace (median of ${runs}): guestrouter (plan + ip -batch + sysctl) ${o.toFixed(1)} ms, ` +
        `anchor (one ip/sysctl process per command, ${commands} commands) ${a.toFixed(1)} ms, ` +
        `ratio ${(a / o).toFixed(1)}x faster; second plan ${median(replanMs).toFixed(1)} ms with ${secondLines} commands`,
    );
  } finally {
    await sim.stop();
  }
}

async function rssBench(): Promise<void> {
  const state = generateSimState({ networks: 25, vmsPerNetwork: 5, isolation: 'vxlan' });
  const sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
  const ns = await addRouterNamespace('r');
  const dir = mkdtempSync(join(tmpdir(), 'gr-bench-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ run: { intervalSeconds: 1, jitterSeconds: 0 }, stateDir: dir }));
  const dist = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const src = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const compiled = existsSync(dist);
  const args = [...(compiled ? [dist] : ['--import', 'tsx', src])];
  args.push('run', '--netns', ns, '--trunk', 'trunk', '--uplink', 'uplink', '--config', configFile);
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      CLOUDSTACK_API_URL: sim.url,
      CLOUDSTACK_API_KEY: sim.apiKey,
      CLOUDSTACK_SECRET_KEY: sim.secretKey,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    const cycles = 5;
    await new Promise<void>((resolve, reject) => {
      let seen = 0;
      const timer = setTimeout(() => reject(new Error('controller did not finish 5 cycles in 60 s')), 60_000);
      child.stderr.on('data', (chunk: Buffer) => {
        seen += chunk.toString().split('"reconcile done"').length - 1;
        if (seen >= cycles) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error('controller exited early')));
    });
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    const rssMiB = rssKiB / 1024;
    const vrMiB = 25 * VR_MEMORY_MIB;
    console.log(
      `controller RSS after ${cycles} cycles (25 networks, 125 VMs, ${compiled ? 'dist/cli.js' : 'tsx'}): ${rssMiB.toFixed(1)} MiB; ` +
        `25 Virtual Routers at ${VR_MEMORY_MIB} MiB each: ${vrMiB} MiB guest RAM; ratio ${(vrMiB / rssMiB).toFixed(0)}x less`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) =>
      child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve),
    );
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log('guestrouter benchmark (simulator in this process; 2 shared cores: figures are indicative)');
  try {
    await planBench(25, 125, 5);
    await planBench(1000, 10000, 3);
    await applyBench(3);
    await rssBench();
  } finally {
    for (const ns of namespaces.reverse()) await execFile('ip', ['netns', 'del', ns]);
  }
}

main().catch((error: unknown) => {
  console.error(`benchmark failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
