/**
 * `greyprint serve --capture` end to end, with no p0f anywhere: two network
 * namespaces joined by a veth pair; greyprint (and its tcpdump helper) in the
 * server namespace; crafted Windows 7/10 and macOS SYNs (scapy) and real Linux
 * SYNs (curl, the kernel's own stack) from the client namespace, over IPv4
 * and IPv6; policy requests over a unix socket. Needs root.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PolicyReplyParser, serializeRequest } from '../../src/index.js';
import { CLI, type LogLine, REPO_ROOT, rcpt, readJsonLog } from '../helpers/daemon.js';

const id = `gpc${process.pid.toString(36)}`;
const serverNs = `${id}s`;
const clientNs = `${id}c`;
const serverIf = `${id}a`;
const clientIf = `${id}b`;
const SERVER4 = '10.78.0.1';
const SERVER6 = 'fd78::1';
const LINUX4 = '10.78.0.2';
const LINUX6 = 'fd78::2';
const dir = mkdtempSync(join(tmpdir(), `${id}-`));
const socketPath = join(dir, 'policy.sock');

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', timeout: 20_000 });
const inNs = (ns: string, cmd: string, args: string[], input?: string): string =>
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    ...(input === undefined ? {} : { input }),
  });

interface Daemon {
  child: ChildProcess;
  logs: LogLine[];
  waitFor(match: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
}

/** `greyprint serve` in the server namespace; `wrapper` runs it through another program (setpriv). */
function startDaemon(socket: string, extra: string[] = [], wrapper: string[] = []): Daemon {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      serverNs,
      ...wrapper,
      process.execPath,
      '--import',
      'tsx',
      CLI,
      'serve',
      '--listen',
      `unix:${socket}`,
      '--db',
      ':memory:',
      '--capture',
      serverIf,
      '--log-level',
      'debug',
      ...extra,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: LogLine[] = [];
  const stderrText = readJsonLog(child, (line) => logs.push(line));
  const waitFor = async (match: (l: LogLine) => boolean, ms = 15_000): Promise<LogLine> => {
    const t0 = Date.now();
    for (;;) {
      const hit = logs.find(match);
      if (hit) return hit;
      if (child.exitCode !== null) throw new Error(`greyprint exited: ${stderrText()}`);
      if (Date.now() - t0 > ms) throw new Error(`log line not seen in ${ms} ms; stderr: ${stderrText()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { child, logs, waitFor };
}

/** One RCPT request over the unix socket; resolves with the action. */
function ask(client: string, socket = socketPath): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ path: socket });
    const parser = new PolicyReplyParser((action) => {
      s.destroy();
      resolve(action);
    });
    s.on('data', (c: Buffer) => parser.feed(c));
    s.on('error', reject);
    s.write(serializeRequest(rcpt({ client_address: client, sender: `s${Math.random()}@example.org` })));
  });
}

const WIN_LAYOUT_WS = (ws: number, mss: number) =>
  `[('MSS',${mss}),('NOP',None),('WScale',${ws}),('NOP',None),('NOP',None),('SAckOK',b'')]`;
const MAC_LAYOUT = (mss: number) =>
  `[('MSS',${mss}),('NOP',None),('WScale',6),('NOP',None),('NOP',None),('Timestamp',(123456,0)),('SAckOK',b''),('EOL',None)]`;

interface Crafted {
  what: string;
  src: string;
  expect: 'greylist' | 'accept';
  scapy: string;
}

const CRAFTED: Crafted[] = [
  {
    what: 'Windows 7, IPv4',
    src: '10.78.0.31',
    expect: 'greylist',
    scapy: `IP(src='10.78.0.31',dst='${SERVER4}',ttl=128,flags='DF',id=4242)/TCP(sport=49731,dport=25,flags='S',seq=1001,window=8192,options=${WIN_LAYOUT_WS(2, 1460)})`,
  },
  {
    what: 'Windows 10, IPv4',
    src: '10.78.0.32',
    expect: 'greylist',
    scapy: `IP(src='10.78.0.32',dst='${SERVER4}',ttl=128,flags='DF',id=4243)/TCP(sport=49732,dport=25,flags='S',seq=1002,window=64240,options=${WIN_LAYOUT_WS(8, 1460)})`,
  },
  {
    what: 'Windows 7, IPv6',
    src: 'fd78::31',
    expect: 'greylist',
    scapy: `IPv6(src='fd78::31',dst='${SERVER6}',hlim=128)/TCP(sport=49733,dport=587,flags='S',seq=1003,window=8192,options=${WIN_LAYOUT_WS(2, 1440)})`,
  },
  {
    what: 'Windows 10, IPv6',
    src: 'fd78::32',
    expect: 'greylist',
    scapy: `IPv6(src='fd78::32',dst='${SERVER6}',hlim=128)/TCP(sport=49734,dport=25,flags='S',seq=1004,window=64240,options=${WIN_LAYOUT_WS(8, 1440)})`,
  },
  {
    what: 'macOS, IPv4',
    src: '10.78.0.41',
    expect: 'accept',
    scapy: `IP(src='10.78.0.41',dst='${SERVER4}',ttl=64,flags='DF',id=777)/TCP(sport=50741,dport=25,flags='S',seq=1005,window=65535,options=${MAC_LAYOUT(1460)})`,
  },
  {
    what: 'macOS, IPv6',
    src: 'fd78::41',
    expect: 'accept',
    scapy: `IPv6(src='fd78::41',dst='${SERVER6}',hlim=64,fl=0x3a2b1)/TCP(sport=50742,dport=25,flags='S',seq=1006,window=65535,options=${MAC_LAYOUT(1440)})`,
  },
];

/** Sends crafted packets from the client namespace, addressed to the server's MAC. */
function sendCrafted(packets: string[], mac: string): void {
  const script = [
    'from scapy.all import Ether, IP, IPv6, TCP, sendp, conf',
    'conf.verb = 0',
    `pkts = [${packets.map((p) => `Ether(dst='${mac}')/${p}`).join(', ')}]`,
    `sendp(pkts, iface='${clientIf}')`,
  ].join('\n');
  inNs(clientNs, '/usr/bin/python3', ['-'], script);
}

function linuxSyn(source: string): void {
  const dest = source.includes(':') ? `[${SERVER6}]` : SERVER4;
  try {
    inNs(clientNs, 'curl', [
      '-s',
      '-g',
      '-o',
      '/dev/null',
      '--max-time',
      '2',
      '--interface',
      source,
      `http://${dest}:25/`,
    ]);
  } catch {
    // refused: the SYN was sent, which is all that counts
  }
}

/** The effective capability mask of a process, from /proc. */
function capEff(pid: number): bigint {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^CapEff:\s*([0-9a-f]+)$/m);
  return BigInt(`0x${line?.[1] ?? '0'}`);
}
const CAP_NET_RAW = 1n << 13n;

function helperPid(daemonPid: number): number | undefined {
  const children = readFileSync(`/proc/${daemonPid}/task/${daemonPid}/children`, 'utf8').trim();
  const pids = children === '' ? [] : children.split(/\s+/).map(Number);
  return pids.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'tcpdump');
}

describe('serve --capture: own SYN fingerprinting in namespaces, no p0f', { timeout: 120_000 }, () => {
  let daemon: Daemon;
  let serverMac = '';

  before(async () => {
    ip('netns', 'add', serverNs);
    ip('netns', 'add', clientNs);
    ip('link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf);
    ip('link', 'set', serverIf, 'netns', serverNs);
    ip('link', 'set', clientIf, 'netns', clientNs);
    ip('-n', serverNs, 'addr', 'add', `${SERVER4}/24`, 'dev', serverIf);
    ip('-n', serverNs, 'addr', 'add', `${SERVER6}/64`, 'dev', serverIf, 'nodad');
    ip('-n', serverNs, 'link', 'set', serverIf, 'up');
    ip('-n', serverNs, 'link', 'set', 'lo', 'up');
    ip('-n', clientNs, 'addr', 'add', `${LINUX4}/24`, 'dev', clientIf);
    ip('-n', clientNs, 'addr', 'add', `${LINUX6}/64`, 'dev', clientIf, 'nodad');
    ip('-n', clientNs, 'link', 'set', clientIf, 'up');
    ip('-n', clientNs, 'link', 'set', 'lo', 'up');
    serverMac = inNs(serverNs, 'cat', [`/sys/class/net/${serverIf}/address`]).trim();
    daemon = startDaemon(socketPath);
    await daemon.waitFor((l) => l.msg === 'greyprint started');
    await daemon.waitFor((l) => l.msg === 'capture running');
  });

  after(async () => {
    if (daemon && daemon.child.exitCode === null) {
      const exited = new Promise((r) => daemon.child.once('exit', r));
      daemon.child.kill('SIGTERM');
      await exited;
    }
    for (const ns of [clientNs, serverNs]) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('crafted Windows 7/10 SYNs (IPv4, IPv6) are greylisted; macOS and the real Linux stack are not', async () => {
    sendCrafted(
      CRAFTED.map((c) => c.scapy),
      serverMac,
    );
    linuxSyn(LINUX4);
    linuxSyn(LINUX6);
    const clients = [
      ...CRAFTED.map((c) => ({ what: c.what, src: c.src, expect: c.expect })),
      { what: 'Linux (kernel stack), IPv4', src: LINUX4, expect: 'accept' as const },
      { what: 'Linux (kernel stack), IPv6', src: LINUX6, expect: 'accept' as const },
    ];
    for (const c of clients) {
      await daemon.waitFor((l) => l.msg === 'syn' && l.client === c.src, 10_000);
    }
    for (const c of clients) {
      const action = await ask(c.src);
      const syn = daemon.logs.find((l) => l.msg === 'syn' && l.client === c.src);
      const got = action.startsWith('DEFER_IF_PERMIT') ? 'greylist' : action === 'DUNNO' ? 'accept' : action;
      assert.equal(got, c.expect, `${c.what}: ${action} (os ${String(syn?.os)}, ${String(syn?.raw_sig)})`);
      assert.match(String(syn?.ja4t), /^\d+_[\d-]+_\d+_\d+$/);
    }
    const linux6 = daemon.logs.find((l) => l.msg === 'syn' && l.client === LINUX6);
    assert.match(String(linux6?.os), /^Linux/, 'the Linux SYN over IPv6 (flow label) is named');
    // The log is written in batches (flushed every 200 ms).
    const decision = await daemon.waitFor((l) => l.msg === 'decision' && l.client === '10.78.0.32');
    assert.equal(decision.os_source, 'capture');
    assert.match(String(decision.os), /^Windows 10 or 11/);
  });

  test('the capture helper killed: the daemon answers at once, logs it once, restarts the helper and classifies again', async () => {
    const daemonPid = daemon.child.pid as number;
    const helper = helperPid(daemonPid);
    assert.ok(helper !== undefined, 'tcpdump runs as the daemon child');
    process.kill(helper, 'SIGKILL');
    await daemon.waitFor((l) => String(l.msg).startsWith('capture stopped'));
    const t0 = Date.now();
    assert.equal(await ask('10.78.0.99'), 'DUNNO');
    const ms = Date.now() - t0;
    assert.ok(ms < 500, `answer took ${ms} ms with capture down`);
    // Restarted after the backoff; a new Windows SYN is classified again.
    const running = daemon.logs.filter((l) => l.msg === 'capture running').length;
    await daemon.waitFor(
      (l) =>
        l.msg === 'capture running' &&
        daemon.logs.filter((x) => x.msg === 'capture running').length > running,
      10_000,
    );
    assert.notEqual(helperPid(daemonPid), helper);
    sendCrafted(
      [
        `IP(src='10.78.0.33',dst='${SERVER4}',ttl=128,flags='DF',id=99)/TCP(sport=49735,dport=25,flags='S',seq=77,window=64240,options=${WIN_LAYOUT_WS(8, 1460)})`,
      ],
      serverMac,
    );
    await daemon.waitFor((l) => l.msg === 'syn' && l.client === '10.78.0.33', 10_000);
    assert.match(await ask('10.78.0.33'), /^DEFER_IF_PERMIT/);
  });
  test('the documented deployment: daemon unprivileged (nobody, no capability), helper a tcpdump copy with CAP_NET_RAW as a file capability', async () => {
    const helperCopy = join(dir, 'tcpdump');
    execFileSync('install', ['-m', '0755', '/usr/bin/tcpdump', helperCopy]);
    execFileSync('setcap', ['cap_net_raw+ep', helperCopy]);
    const runDir = join(dir, 'run');
    execFileSync('install', ['-d', '-m', '0777', runDir]);
    const config = join(dir, 'unprivileged.json');
    writeFileSync(config, JSON.stringify({ capture: { command: helperCopy } }));
    execFileSync('chmod', ['0755', dir]);
    execFileSync('chmod', ['0644', config]);
    const socket = join(runDir, 'policy.sock');
    const unprivileged = startDaemon(
      socket,
      ['--config', config],
      ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all'],
    );
    try {
      await unprivileged.waitFor((l) => l.msg === 'greyprint started');
      await unprivileged.waitFor((l) => l.msg === 'capture running');
      const pid = unprivileged.child.pid as number;
      assert.equal(capEff(pid), 0n, 'the daemon holds no capability');
      const helper = helperPid(pid);
      assert.ok(helper !== undefined);
      assert.equal(capEff(helper) & CAP_NET_RAW, CAP_NET_RAW, 'the helper holds CAP_NET_RAW');
      sendCrafted(
        [
          `IP(src='10.78.0.34',dst='${SERVER4}',ttl=128,flags='DF',id=98)/TCP(sport=49736,dport=25,flags='S',seq=78,window=8192,options=${WIN_LAYOUT_WS(2, 1460)})`,
        ],
        serverMac,
      );
      await unprivileged.waitFor((l) => l.msg === 'syn' && l.client === '10.78.0.34', 10_000);
      assert.match(await ask('10.78.0.34', socket), /^DEFER_IF_PERMIT/);
    } finally {
      const exited = new Promise((r) => unprivileged.child.once('exit', r));
      unprivileged.child.kill('SIGTERM');
      await exited;
    }
  });
});
