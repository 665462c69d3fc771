import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { connect as unixConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { routerArgs, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { LogWatcher } from '../helpers/log-watcher.js';
import { connect, TcpServers } from '../helpers/tcp.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState, networkId, vmId } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

/*
 * inet ns (100.64.0.1) -- router (uplink 100.64.0.2; haproxy run by `run` on 100.64.0.20)
 *   -- private network 10.0.4.0/24 with two backends: vm1 10.0.4.2, vm2 10.0.4.3 (port 8080 each).
 */

const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const topo = new RouterLab('l');
const servers = new TcpServers();
const net = networkId(4);
let sim: SimulatorHandle;
let config: TempConfig;
let run: ChildProcess | undefined;
let log: LogWatcher;

/** A backend that greets and then echoes: a connection that stays open across a reload. */
const ECHO = `require('node:net').createServer((s) => { s.on('error', () => {}); s.write('hello\\n'); s.pipe(s); })
  .listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('ready\\n'));`;

/** A client in a namespace: prints what arrives; a line on its stdin is sent over the connection. */
const HOLD = `const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
  s.on('data', (d) => process.stdout.write(d)); s.on('close', () => { process.stdout.write('closed\\n'); process.exit(0); });
  s.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(1); });
  process.stdin.on('data', (d) => s.write(d));`;

function inNs(ns: string, script: string, ...args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

function waitForOutput(child: ChildProcess, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`no "${text}" (got ${JSON.stringify(seen)})`)),
      timeoutMs,
    );
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

function statsCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = unixConnect(join(config.dir, 'state', 'haproxy', 'stats.sock'));
    let out = '';
    socket.on('data', (d: Buffer) => {
      out += d.toString();
    });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.end(`${command}\n`);
  });
}

function haproxyPid(): number {
  return Number(readFileSync(join(config.dir, 'state', 'haproxy', 'haproxy.pid'), 'utf8').trim());
}

describe('load balancing through the haproxy that run owns', { timeout: 180_000 }, () => {
  const held: ChildProcess[] = [];
  before(async () => {
    config = new TempConfig('gr-lb-');
    config.write({
      cloudstack: { retries: 0, timeoutMs: 3000 },
      stateDir: join(config.dir, 'state'),
      run: { intervalSeconds: 0.5, jitterSeconds: 0.1 },
    });
    topo.build([]);
    const state = generateSimState({ networks: 1, vmsPerNetwork: 2, isolation: 'vxlan', firstId: 4 });
    state.publicIpAddresses = [
      {
        id: 'ip-snat',
        ipaddress: '100.64.0.10',
        associatednetworkid: net,
        state: 'Allocated',
        issourcenat: true,
        isstaticnat: false,
      },
      {
        id: 'ip-lb',
        ipaddress: '100.64.0.20',
        associatednetworkid: net,
        state: 'Allocated',
        issourcenat: false,
        isstaticnat: false,
      },
    ];
    state.loadBalancerRules = [
      {
        id: 'lb-web',
        name: 'web',
        publicipid: 'ip-lb',
        publicip: '100.64.0.20',
        publicport: '80',
        privateport: '8080',
        algorithm: 'roundrobin',
        networkid: net,
        protocol: 'tcp',
        state: 'Active',
      },
      {
        id: 'lb-echo',
        name: 'echo',
        publicipid: 'ip-lb',
        publicip: '100.64.0.20',
        publicport: '81',
        privateport: '8081',
        algorithm: 'leastconn',
        networkid: net,
        protocol: 'tcp',
        state: 'Active',
      },
      {
        id: 'lb-nowhere',
        name: 'nowhere',
        publicipid: 'ip-unknown',
        publicport: '80',
        privateport: '80',
        algorithm: 'roundrobin',
        networkid: net,
        state: 'Active',
      },
    ];
    state.loadBalancerInstances = { 'lb-web': [vmId(4, 1), vmId(4, 2)], 'lb-echo': [vmId(4, 1)] };
    sim = await startSimulator({ state, host: '127.0.0.1', port: 0 });
    topo.hostAll(state);
    await servers.start(topo.vm('10.0.4.2'), 'vm1', 8080);
    await servers.start(topo.vm('10.0.4.3'), 'vm2', 8080);
    const echo = inNs(topo.vm('10.0.4.2'), ECHO, '8081');
    held.push(echo);
    await waitForOutput(echo, 'ready');
    run = spawn(
      process.execPath,
      ['--import', 'tsx', cliPath, 'run', ...routerArgs(topo.router, config.file)],
      {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...simulatorEnv(sim) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    log = new LogWatcher(run);
    await log.next((l) => l.event === 'lb' && l.haproxy === 'started', 'haproxy started', 60_000);
  });

  after(async () => {
    if (run && run.exitCode === null) {
      const exited = once(run, 'exit');
      run.kill('SIGTERM');
      await exited;
    }
    for (const c of held) if (c.exitCode === null) c.kill('SIGTERM');
    await servers.stopAll();
    topo.cleanup();
    await sim.stop();
    config.remove();
  });

  test('a rule whose public address the router does not answer for is refused by name', () => {
    const refusal = log.lines.find((l) => l.event === 'refuse-rule' && l.ruleId === 'lb-nowhere');
    assert.match(
      String(refusal?.msg),
      /load balancer rule nowhere \(lb-nowhere\) refused: the router does not answer for its public address/,
    );
  });

  test('both backends behind one public address get connections (roundrobin)', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await connect(topo.inet, '100.64.0.20', 80)).split(' ')[0] ?? '');
    assert.deepEqual([...seen].sort(), ['vm1', 'vm2']);
  });

  test('the stats socket answers with both servers up', async () => {
    const state = await statsCommand('show stat');
    const rows = state.split('\n').filter((l) => l.startsWith('lb_lb-web,'));
    assert.ok(
      rows.some((r) => r.includes(vmId(4, 1)) && r.includes(',UP,')),
      state,
    );
    assert.ok(
      rows.some((r) => r.includes(vmId(4, 2)) && r.includes(',UP,')),
      state,
    );
  });

  test('an established connection survives a reload; the master keeps its PID', async () => {
    const client = inNs(topo.inet, HOLD, '100.64.0.20', '81');
    held.push(client);
    await waitForOutput(client, 'hello');
    const pid = haproxyPid();
    const reloaded = log.next((l) => l.event === 'lb' && l.haproxy === 'reloaded', 'haproxy reloaded');
    sim.state.loadBalancerRules?.push({
      id: 'lb-more',
      name: 'more',
      publicipid: 'ip-lb',
      publicport: '82',
      privateport: '8080',
      algorithm: 'source',
      networkid: net,
      protocol: 'tcp',
      state: 'Active',
    });
    (sim.state.loadBalancerInstances ?? {})['lb-more'] = [vmId(4, 2)];
    await reloaded;
    assert.equal(haproxyPid(), pid);
    const echoed = waitForOutput(client, 'still here');
    client.stdin?.write('still here\n');
    await echoed;
    // SIGUSR2 returns at once; the master starts the new worker in the background.
    let answer = '';
    for (let i = 0; i < 30 && !answer.startsWith('vm2'); i++) {
      answer = await connect(topo.inet, '100.64.0.20', 82);
      if (!answer.startsWith('vm2')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(answer, 'vm2 10.0.4.1 8080', 'the new rule is served after the reload');
  });

  test('a stopped backend stops getting connections within 5 seconds', async () => {
    // Stop the original vm2 listener on 8080 (the second server started in before()).
    const listeners = (servers as unknown as { children: ChildProcess[] }).children;
    const target = listeners[1];
    assert.ok(target);
    await servers.stop(target);
    const started = Date.now();
    let streak = 0;
    let streakFrom = started;
    while (Date.now() - started < 15_000 && streak < 8) {
      const at = Date.now();
      const answer = await connect(topo.inet, '100.64.0.20', 80, 1000);
      if (!answer.startsWith('vm1 ')) streak = 0;
      else if (streak++ === 0) streakFrom = at;
    }
    assert.equal(streak, 8, 'only vm1 answers');
    // From the first of 8 connections in a row that all went to vm1: haproxy had taken vm2 out by then.
    const ms = streakFrom - started;
    assert.ok(ms < 5000, `vm2 still got connections ${ms} ms after it stopped`);
  });

  test('SIGTERM to run stops haproxy', async () => {
    const pid = haproxyPid();
    assert.ok(run);
    const exited = once(run, 'exit');
    run.kill('SIGTERM');
    await exited;
    assert.equal(existsSync(`/proc/${pid}`), false, 'haproxy is gone');
  });
});
