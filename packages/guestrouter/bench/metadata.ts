/**
 * Meta data benchmark at 10,000 VMs (40 networks x 250 VMs, VXLAN): requests per second and p99
 * latency of `guestrouter run`'s meta data server against the anchor, what the Virtual Router ran:
 * Debian's apache2 with the VR's layout (one directory per VM address holding one file per key and an
 * `.htaccess` allowing only that address, `/latest/.htaccess` rewriting on %{REMOTE_ADDR}, as
 * CloudStack's systemvm scripts write them). Both serve in the router namespace on the gateway
 * addresses; the same client (bench/metadata-load.ts) in a client namespace behind the VXLAN
 * segments asks `/latest/meta-data/instance-id` from 200 VM addresses (5 per network: the kernel's
 * neighbour table is shared by every namespace on the host), one new connection per request, and
 * checks every answer. Then the RSS of `run` with meta data on at 10,000 VMs.
 *   make -C packages/guestrouter bench-metadata
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { multicastGroupForVni } from '../src/desired/vxlan.js';
import { LogWatcher } from '../test/helpers/log-watcher.js';
import { generateSimState, networkPrefix } from '../test/simulator/fixtures.js';
import { startSimulator } from '../test/simulator/server.js';

const NETWORKS = 40;
const VMS_PER_NETWORK = 250;
const SOURCES_PER_NETWORK = 5;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const APACHE_PORT = 8081;
// Rounds of alternation (guestrouter then apache2 each round); p99 moves between rounds, so more rounds give a steadier median.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
// Requests each load client sends, unmeasured, before its measured ones (see metadata-load.ts).
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2000);

const prefix = `gr${process.pid}md`;
const namespaces: string[] = [];
const work = mkdtempSync(join(tmpdir(), 'gr-bench-md-'));
const children: ChildProcess[] = [];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function addNs(suffix: string): string {
  const ns = `${prefix}-${suffix}`;
  ip('netns', 'add', ns);
  namespaces.push(ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  return ns;
}

function veth(a: string, an: string, b: string, bn: string): void {
  ip('-n', a, 'link', 'add', an, 'type', 'veth', 'peer', 'name', bn, 'netns', b);
  ip('-n', a, 'link', 'set', an, 'up');
  ip('-n', b, 'link', 'set', bn, 'up');
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** The VR's apache layout for every VM: per-address directories, files per key, the rewrite rules. */
function apacheTree(
  root: string,
  vms: { ip: string; metaData: [string, string][]; userData: string }[],
): void {
  mkdirSync(join(root, 'latest'), { recursive: true });
  const rules = [
    'Options +FollowSymLinks',
    'RewriteEngine On',
    '',
    'RewriteRule ^user-data$  ../userdata/%{REMOTE_ADDR}/user-data [L,NC,QSA]',
  ];
  for (const key of [
    'service-offering',
    'availability-zone',
    'local-ipv4',
    'local-hostname',
    'public-ipv4',
    'public-hostname',
    'instance-id',
    'vm-id',
    'cloud-identifier',
  ]) {
    rules.push(`RewriteRule ^${key}$  ../metadata/%{REMOTE_ADDR}/${key} [L,NC,QSA]`);
  }
  rules.push('RewriteRule ^meta-data/(.+)$  ../metadata/%{REMOTE_ADDR}/$1 [L,NC,QSA]');
  rules.push('RewriteRule ^meta-data/$  ../metadata/%{REMOTE_ADDR}/meta-data [L,NC,QSA]');
  writeFileSync(join(root, 'latest', '.htaccess'), `${rules.join('\n')}\n`);
  for (const vm of vms) {
    for (const folder of ['metadata', 'userdata']) {
      const dir = join(root, folder, vm.ip);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, '.htaccess'),
        `Options -Indexes\nOrder Deny,Allow\nDeny from all\nAllow from ${vm.ip}\n`,
      );
    }
    for (const [key, value] of vm.metaData) writeFileSync(join(root, 'metadata', vm.ip, key), value);
    writeFileSync(join(root, 'metadata', vm.ip, 'meta-data'), vm.metaData.map(([k]) => `${k}\n`).join(''));
    writeFileSync(join(root, 'userdata', vm.ip, 'user-data'), vm.userData);
  }
}

/** Debian's apache2 binary with Debian's default event MPM settings and the modules the layout needs. */
function apacheConf(root: string, dir: string): string {
  const mod = (name: string, file: string) =>
    `LoadModule ${name}_module /usr/lib/apache2/modules/mod_${file}.so`;
  return [
    `ServerRoot ${dir}`,
    `PidFile ${join(dir, 'apache.pid')}`,
    `ErrorLog ${join(dir, 'apache-error.log')}`,
    'LogLevel warn',
    mod('mpm_event', 'mpm_event'),
    mod('authz_core', 'authz_core'),
    mod('authz_host', 'authz_host'),
    mod('access_compat', 'access_compat'),
    mod('rewrite', 'rewrite'),
    'StartServers 2',
    'MinSpareThreads 25',
    'MaxSpareThreads 75',
    'ThreadLimit 64',
    'ThreadsPerChild 25',
    'MaxRequestWorkers 150',
    'MaxConnectionsPerChild 0',
    'User www-data',
    'Group www-data',
    `Listen ${APACHE_PORT}`,
    'ServerName router',
    `DocumentRoot ${root}`,
    `<Directory ${root}>`,
    '  AllowOverride All',
    '  Require all granted',
    '</Directory>',
    '',
  ].join('\n');
}

async function load(cli: string, targetsFile: string, port: number, requests: number, warmup = WARMUP) {
  const script = fileURLToPath(new URL('./metadata-load.ts', import.meta.url));
  const out = execFileSync(
    'ip',
    [
      'netns',
      'exec',
      cli,
      process.execPath,
      '--import',
      'tsx',
      script,
      targetsFile,
      String(port),
      String(requests),
      String(CONCURRENCY),
      String(warmup),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop() as string) as {
    rps: number;
    p50: number;
    p99: number;
    errors: number;
    statuses: Record<string, number>;
  };
}

/**
 * CPU time (user + system, ms) the kernel charged to these processes and their reaped children so far: unlike the request
 * rate, it does not depend on how much of the shared cores the other engineers' jobs took.
 */
function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, and cutime, cstime: the workers apache2 has reaped count too.
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** The apache2 processes started with this config file (the parent and its workers). */
function pidsWithArg(arg: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(arg)) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  for (const ns of namespaces.splice(0).reverse()) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  }
}

async function main(): Promise<void> {
  if (!existsSync('/usr/sbin/apache2'))
    throw new Error('apache2 is not installed (scripts/ensure-debs.sh installs it)');
  const rtr = addNs('rtr');
  const hv = addNs('hv');
  const cli = addNs('cli');
  veth(rtr, 'trunk', hv, 'trunk');
  ip('-n', rtr, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplinkp');
  ip('-n', rtr, 'link', 'set', 'uplink', 'up');
  ip('-n', rtr, 'addr', 'add', '10.255.0.1/24', 'dev', 'trunk');
  ip('-n', hv, 'addr', 'add', '10.255.0.2/24', 'dev', 'trunk');
  // One multicast group per VXLAN segment: more than the default 20 memberships.
  execFileSync('ip', ['netns', 'exec', hv, 'sysctl', '-qw', 'net.ipv4.igmp_max_memberships=1000']);

  const state = generateSimState({ networks: NETWORKS, vmsPerNetwork: VMS_PER_NETWORK, isolation: 'vxlan' });
  state.userData = {};
  const targets: { source: string; gateway: string; vmId: string }[] = [];
  for (let n = 1; n <= NETWORKS; n++) {
    const vni = 5000 + n;
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
      'trunk',
    );
    ip('-n', hv, 'link', 'add', `br${vni}`, 'type', 'bridge');
    ip('-n', hv, 'link', 'set', `vxlan${vni}`, 'master', `br${vni}`, 'up');
    ip('-n', hv, 'link', 'set', `br${vni}`, 'up');
    const mac = `02:aa:00:00:${hex2(n >> 8)}:${hex2(n & 255)}`;
    ip('-n', hv, 'link', 'add', `h${n}`, 'type', 'veth', 'peer', 'name', `c${n}`, 'netns', cli);
    ip('-n', hv, 'link', 'set', `h${n}`, 'master', `br${vni}`, 'up');
    ip('-n', cli, 'link', 'set', `c${n}`, 'address', mac, 'up');
    const p = networkPrefix(n);
    for (let m = 1; m <= SOURCES_PER_NETWORK; m++) {
      const address = `${p}.${m + 1}`;
      ip('-n', cli, 'addr', 'add', `${address}/24`, 'dev', `c${n}`);
      const vm = state.virtualMachines.find((v) => v.nic?.[0]?.ipaddress === address);
      const nic = vm?.nic?.[0];
      if (!vm || !nic) throw new Error(`no VM at ${address}`);
      // The client namespace speaks for these VMs: their NICs carry its MAC, so the identity check passes.
      nic.macaddress = mac;
      targets.push({ source: address, gateway: `${p}.1`, vmId: vm.id });
    }
  }
  for (const vm of state.virtualMachines) {
    state.userData[vm.id] = Buffer.from(`#cloud-config\nhostname: ${vm.name}\n`).toString('base64');
  }
  const targetsFile = join(work, 'targets.json');
  writeFileSync(targetsFile, JSON.stringify(targets));
  const sim = await startSimulator({ state });

  // guestrouter run, compiled if built (as deployed). First without meta data, for its RSS alone; then with
  // meta data on and every VM's user data fetched in the first cycle. The interval is long, so no
  // reconcile cycle runs during the load (its cost is measured by the plan benchmark).
  const dist = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const src = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const compiled = existsSync(dist);
  const startRun = (name: string, metadata: object): ChildProcess => {
    const config = join(work, `${name}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        stateDir: join(work, 'state'),
        run: { intervalSeconds: 600, jitterSeconds: 0 },
        metadata,
      }),
    );
    const child = spawn(
      process.execPath,
      [
        // BENCH_CPU_PROF=DIR: a V8 CPU profile of `run` (written when it stops), to see where request time goes.
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : []),
        // What bin/guestrouter.js runs node with.
        '--max-semi-space-size=2',
        // BENCH_NODE_FLAGS="--trace-gc ...": extra node flags for `run` (its stdout goes to BENCH_RUN_STDOUT if set).
        ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean) : []),
        ...(compiled ? [dist] : ['--import', 'tsx', src]),
        'run',
        '--netns',
        rtr,
        '--trunk',
        'trunk',
        '--uplink',
        'uplink',
        '--config',
        config,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          CLOUDSTACK_API_URL: sim.url,
          CLOUDSTACK_API_KEY: sim.apiKey,
          CLOUDSTACK_SECRET_KEY: sim.secretKey,
          // BENCH_MALLOC_ARENA_MAX=N: glibc's malloc arenas of run (one per thread by default).
          ...(process.env.BENCH_MALLOC_ARENA_MAX
            ? { MALLOC_ARENA_MAX: process.env.BENCH_MALLOC_ARENA_MAX }
            : {}),
        },
        stdio: [
          'ignore',
          process.env.BENCH_RUN_STDOUT ? openSync(`${process.env.BENCH_RUN_STDOUT}.${name}`, 'w') : 'ignore',
          'pipe',
        ],
      },
    );
    children.push(child);
    return child;
  };
  const rssOf = (pid: number | undefined) => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024,
      hwm: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024,
    };
  };
  const plain = startRun('plain', { enabled: false });
  await new LogWatcher(plain).next((l) => l.event === 'cycle', 'first cycle without meta data', 300_000);
  const plainRss = rssOf(plain.pid);
  const plainExit = new Promise((r) => plain.once('exit', r));
  plain.kill('SIGTERM');
  await plainExit;
  const run = startRun('metadata', {
    enabled: true,
    userDataFetchesPerCycle: 10_000,
    userDataConcurrency: 8,
    cloudIdentifier: 'bench',
    // BENCH_WORKERS=N: threads serving port 80 (default: run's, 1).
    ...(process.env.BENCH_WORKERS ? { workers: Number(process.env.BENCH_WORKERS) } : {}),
  });
  const log = new LogWatcher(run);
  const t0 = Date.now();
  await log.next(
    (l) => l.event === 'metadata' && Number(l.vms) === NETWORKS * VMS_PER_NETWORK,
    'meta data for 10,000 VMs',
    300_000,
  );
  process.stdout.write(
    `run: port 80 on ${process.env.BENCH_WORKERS ?? 1} worker thread(s), listeners spread by gateway; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  process.stdout.write(
    `run (${compiled ? 'dist/cli.js' : 'tsx'}): first cycle with ${NETWORKS * VMS_PER_NETWORK} VMs (inventory, links, 10,000 user data calls, ${NETWORKS * 2} listeners) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );

  const afterFirstCycle = rssOf(run.pid);
  process.stdout.write(
    `run RSS after its first cycle: ${afterFirstCycle.rss.toFixed(1)} MiB (peak ${afterFirstCycle.hwm.toFixed(1)} MiB)\n`,
  );
  // The anchor's tree from what guestrouter serves (same keys and values for every VM).
  const root = join(work, 'html');
  const t1 = Date.now();
  const vms = state.virtualMachines.map((vm) => {
    const nic = vm.nic?.[0];
    const metaData: [string, string][] = [
      ['service-offering', 'Small Instance'],
      ['availability-zone', 'zone1'],
      ['local-ipv4', nic?.ipaddress ?? ''],
      ['local-hostname', vm.name],
      ['public-ipv4', nic?.ipaddress ?? ''],
      ['public-hostname', vm.name],
      ['instance-id', vm.id],
      ['vm-id', vm.id],
      ['cloud-identifier', 'CloudStack-{bench}'],
    ];
    return { ip: nic?.ipaddress ?? '', metaData, userData: `#cloud-config\nhostname: ${vm.name}\n` };
  });
  apacheTree(root, vms);
  chmodSync(work, 0o755);
  const apacheDir = join(work, 'apache');
  mkdirSync(apacheDir);
  writeFileSync(join(apacheDir, 'apache2.conf'), apacheConf(root, apacheDir));
  const apache = spawn(
    'ip',
    ['netns', 'exec', rtr, '/usr/sbin/apache2', '-f', join(apacheDir, 'apache2.conf'), '-DFOREGROUND'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(apache);
  process.stdout.write(
    `apache2: VR layout for 10,000 VMs written in ${((Date.now() - t1) / 1000).toFixed(1)} s\n`,
  );
  await new Promise((r) => setTimeout(r, 1500));

  // Warm both, then alternate: guestrouter, apache2, guestrouter, apache2.
  await load(cli, targetsFile, 80, 1000, 0);
  await load(cli, targetsFile, APACHE_PORT, 1000, 0);
  const rows: string[] = [];
  const cpuRows: string[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const ourPids = [run.pid as number];
    const apachePids = pidsWithArg(join(apacheDir, 'apache2.conf'));
    const c0 = cpuMs(ourPids);
    const g = await load(cli, targetsFile, 80, REQUESTS);
    const c1 = cpuMs(apachePids);
    const ourCpu = (cpuMs(ourPids) - c0) / (REQUESTS + WARMUP);
    const a = await load(cli, targetsFile, APACHE_PORT, REQUESTS);
    // Workers apache2 started during its round count from zero.
    const apacheAfter = [...new Set([...apachePids, ...pidsWithArg(join(apacheDir, 'apache2.conf'))])];
    const apacheCpu = (cpuMs(apacheAfter) - c1) / (REQUESTS + WARMUP);
    cpuRows.push(
      `round ${round}: CPU per request: guestrouter ${ourCpu.toFixed(3)} ms | apache2 ${apacheCpu.toFixed(3)} ms (${apacheAfter.length} processes) | ratio ${(apacheCpu / ourCpu).toFixed(2)}x`,
    );
    ours.push(g.rps);
    theirs.push(a.rps);
    rows.push(
      `round ${round}: guestrouter ${g.rps.toFixed(0)} req/s p50 ${g.p50.toFixed(1)} ms p99 ${g.p99.toFixed(1)} ms errors ${g.errors}` +
        ` | apache2 ${a.rps.toFixed(0)} req/s p50 ${a.p50.toFixed(1)} ms p99 ${a.p99.toFixed(1)} ms errors ${a.errors}` +
        ` | ratio ${(g.rps / a.rps).toFixed(2)}x, p99 ${(a.p99 / g.p99).toFixed(2)}x`,
    );
  }
  process.stdout.write(
    `meta data, ${REQUESTS} requests per run (after ${WARMUP} unmeasured by the same client), concurrency ${CONCURRENCY}, new connection per request, 200 VM addresses, 10,000 VMs served:\n${rows.join('\n')}\n${cpuRows.join('\n')}\n`,
  );
  process.stdout.write(
    `load average after the rounds: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  const withMetadata = rssOf(run.pid);
  process.stdout.write(
    `run RSS at 10,000 VMs: ${withMetadata.rss.toFixed(1)} MiB with meta data on, after the load (peak ${withMetadata.hwm.toFixed(1)} MiB); ` +
      `${plainRss.rss.toFixed(1)} MiB without meta data after one cycle (peak ${plainRss.hwm.toFixed(1)} MiB); target < 150 MiB\n`,
  );
  const stopped = new Promise((r) => run.once('exit', r));
  run.kill('SIGTERM');
  await stopped;
  await sim.stop();
}

try {
  await main();
} finally {
  cleanup();
  rmSync(work, { recursive: true, force: true });
}
