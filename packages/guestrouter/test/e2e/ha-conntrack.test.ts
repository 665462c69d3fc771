import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HaLab, type LabVm, SIDES, type Side } from '../helpers/ha-lab.js';
import { ip } from '../helpers/netns.js';

/*
 * Connection state across a failover (ha.conntrack): the internet host holds a TCP connection to a
 * VM through its static NAT address and keeps sending over it; the master router dies (trunk and
 * uplink down); the connection goes on through the other router without a reset.
 *
 * The routers refuse mid-stream pickups (nf_conntrack_tcp_loose=0, as a strict firewall does): a
 * packet of a connection the kernel never saw is INVALID, gets no NAT, and the router's own stack
 * answers it with a reset. So the connection survives only if the new master's kernel holds the
 * connection's entry (with its NAT) before the retransmissions arrive, i.e. only through
 * conntrackd's sync and the commit keepalived's transition hook runs.
 */
const ECHO_SERVER = `
const net = require('node:net');
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); })
  .listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

/** Sends a numbered line every 100 ms; on SIGTERM prints what came back as JSON. */
const STREAM_CLIENT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
let sent = 0, echoed = 0, buf = '', last = Date.now(), maxGap = 0, error = null, outOfOrder = 0;
s.on('connect', () => { process.stdout.write('connected ' + s.localPort + '\\n'); last = Date.now();
  setInterval(() => { s.write(++sent + '\\n'); }, 100); });
s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) {
  const n = Number(buf.slice(0, i)); buf = buf.slice(i + 1);
  if (n !== echoed + 1) outOfOrder++; echoed = n;
  const now = Date.now(); maxGap = Math.max(maxGap, now - last); last = now; } });
s.on('error', (e) => { error = e.code || e.message; });
s.on('close', () => { if (!error) error = 'closed'; });
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ sent, echoed, maxGap, error, outOfOrder }) + '\\n'); process.exit(0); });
`;

describe('guestrouter ha.conntrack: an established TCP connection through static NAT survives a failover', {
  timeout: 240_000,
}, () => {
  const lab = new HaLab({
    tag: 'c',
    networks: 1,
    vmNamespaces: 1,
    staticNat: true,
    ha: (side, l) => ({ conntrack: { enabled: true, localAddress: l.trunkAddress[side] } }),
  });
  const children: ChildProcess[] = [];
  let vm: LabVm;

  before(async () => {
    await lab.setup();
    vm = lab.vms[0] as LabVm;
    assert.ok(vm.publicAddress, 'the VM has a static NAT address');
    for (const side of SIDES) {
      ip('netns', 'exec', lab.routers[side], 'sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0');
    }
    // The uplink's NAT addresses follow the master (keepalived sends gratuitous ARP for them on
    // takeover); the short timers are kept so the internet host's own ARP also finds the new router
    // within about 2 s if a gratuitous ARP is lost.
    for (const [key, value] of [
      ['base_reachable_time_ms', '1000'],
      ['delay_first_probe_time', '1'],
      ['retrans_time_ms', '200'],
    ] as const) {
      ip('netns', 'exec', lab.inet, 'sysctl', '-qw', `net.ipv4.neigh.upbr.${key}=${value}`);
    }
    await Promise.all([lab.startRun('a'), lab.startRun('b')]);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await lab.cleanup();
  });

  const ctl = (side: Side, ...args: string[]) =>
    spawnSync(
      'ip',
      [
        'netns',
        'exec',
        lab.routers[side],
        'conntrackd',
        '-C',
        join(lab.stateDir(side), 'ha', 'conntrackd', 'conntrackd.conf'),
        ...args,
      ],
      { encoding: 'utf8' },
    ).stdout;

  function spawnIn(ns: string, script: string, ...args: string[]): { child: ChildProcess; lines: string[] } {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const lines: string[] = [];
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
    return { child, lines };
  }

  async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('run owns one conntrackd per router; keepalived calls the hook on transitions', async () => {
    const [master] = await lab.waitForMasters();
    for (const side of SIDES) {
      const pids = lab.conntrackdPids(side);
      assert.equal(pids.length, 1, `${side}: ${pids}`);
      const conf = readFileSync(join(lab.stateDir(side), 'ha', 'keepalived.conf'), 'utf8');
      assert.match(conf, /notify_master ".*conntrackd\/transition\.sh primary"/);
    }
    assert.ok(master);
  });

  test('TCP from the internet host to the VM (static NAT) keeps going through the new master', async () => {
    const [master] = (await lab.waitForMasters()) as [Side];
    const backup: Side = master === 'a' ? 'b' : 'a';
    const pub = vm.publicAddress as string;
    // Point the internet host at the master for the NAT address (only the master carries it now;
    // pinning it keeps the start independent of when the first ARP answer came): the connection
    // starts where the gateway is.
    const mac = (
      JSON.parse(ip('-n', lab.routers[master], '-j', 'link', 'show', 'dev', 'uplink')) as {
        address: string;
      }[]
    )[0]?.address as string;
    ip('-n', lab.inet, 'neigh', 'replace', pub, 'lladdr', mac, 'dev', 'upbr', 'nud', 'reachable');

    const server = spawnIn(vm.ns, ECHO_SERVER, '7000');
    await until('the echo server', () => server.lines.includes('ready'), 10_000);
    const client = spawnIn(lab.inet, STREAM_CLIENT, pub, '7000');
    await until('the connection', () => client.lines.some((l) => l.startsWith('connected')), 10_000);
    const localPort = client.lines.find((l) => l.startsWith('connected'))?.split(' ')[1] as string;
    const entry = new RegExp(`sport=${localPort} dport=7000`);
    // The backup's conntrackd got the connection from the master (its external cache).
    await until('the connection in the backup external cache', () => entry.test(ctl(backup, '-e')), 10_000);
    await new Promise((r) => setTimeout(r, 1000));

    const failedAt = Date.now();
    ip('-n', lab.routers[master], 'link', 'set', 'trunk', 'down');
    ip('-n', lab.routers[master], 'link', 'set', 'uplink', 'down');
    await lab.waitForMasters((m) => m.every((x) => x === backup), 5000);
    // Let the stream run on well past the failover, then read the client's account.
    await new Promise((r) => setTimeout(r, 8000));
    const exited = new Promise((r) => client.child.once('exit', r));
    client.child.kill('SIGTERM');
    await exited;
    const result = JSON.parse(client.lines.at(-1) as string) as {
      sent: number;
      echoed: number;
      maxGap: number;
      error: string | null;
      outOfOrder: number;
    };
    console.log(
      `# conntrack failover: ${result.sent} lines sent, ${result.echoed} echoed, longest pause ${result.maxGap} ms (failover at +${Date.now() - failedAt} ms before the end)`,
    );
    assert.equal(result.error, null, 'the connection was neither reset nor closed');
    assert.equal(result.outOfOrder, 0);
    // Everything sent up to the last 100 ms came back over the one connection.
    assert.ok(result.echoed >= result.sent - 2, JSON.stringify(result));
    assert.ok(result.maxGap <= 10_000, `longest pause ${result.maxGap} ms`);
    // The new master committed the connection into its kernel (its internal cache is reloaded from it).
    assert.match(ctl(backup, '-i'), entry);
    // Bring the old master back: it stays backup (nopreempt) and its conntrackd is still the same one.
    ip('-n', lab.routers[master], 'link', 'set', 'trunk', 'up');
    ip('-n', lab.routers[master], 'link', 'set', 'uplink', 'up');
    await new Promise((r) => setTimeout(r, 3000));
    await lab.waitForMasters((m) => m.every((x) => x === backup), 1000);
    for (const side of SIDES) assert.equal(lab.conntrackdPids(side).length, 1);
  });

  test('SIGKILL of run leaves conntrackd; the next run replaces it as stale (its lock file too)', async () => {
    const side: Side = 'a';
    const before = lab.conntrackdPids(side);
    assert.equal(before.length, 1);
    const killed = lab.children[side] as ChildProcess;
    const gone = new Promise((r) => killed.once('close', r));
    killed.kill('SIGKILL');
    await gone;
    assert.deepEqual(lab.conntrackdPids(side), before);
    await lab.startRun(side);
    await until(
      'a new conntrackd',
      () => {
        const now = lab.conntrackdPids(side);
        return now.length === 1 && now[0] !== before[0];
      },
      20_000,
    );
    assert.ok(
      lab.logs[side]?.lines.some(
        (l) => (l.event === 'service-stale' || l.action === 'service-stale') && l.service === 'conntrackd',
      ),
    );
  });

  test('SIGTERM to run stops conntrackd and removes its lock file', async () => {
    for (const side of SIDES) {
      await lab.stopRun(side);
      assert.deepEqual(lab.conntrackdPids(side), []);
      assert.throws(() => readFileSync(join(lab.stateDir(side), 'ha', 'conntrackd', 'conntrackd.lock')));
    }
  });
});
