import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import {
  OwnedProcess,
  OwnedProcessMetrics,
  reapByArgumentPrefix,
  ServiceStartError,
} from '../../src/services/owned-process.js';

/*
 * The owned-process module against real processes: /bin/sh loops whose command line carries an
 * identity argument unique to this test run (the daemons it will own are dnsmasq, haproxy, ...).
 */

interface Logged {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}

function recorder() {
  const lines: Logged[] = [];
  const at =
    (level: Logged['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, ...(msg ? { msg } : {}) });
    };
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

/** PIDs of live processes whose command line holds `needle` (zombies excluded). */
function pidsWith(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(needle)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('owned child processes: pid file, stale instances, start failures, crashes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-owned-'));
  const identity = `--owned-by=${dir}`;
  const loop = ['-c', 'while :; do sleep 0.2; done', 'gr-owned-test', identity];
  const owned: OwnedProcess[] = [];
  const strays: ChildProcess[] = [];

  function make(overrides: Partial<ConstructorParameters<typeof OwnedProcess>[0]> = {}) {
    const rec = recorder();
    const registry = new Registry();
    const metrics = new OwnedProcessMetrics(registry);
    const p = new OwnedProcess({
      name: 'looper',
      command: '/bin/sh',
      args: loop,
      pidFile: join(dir, 'looper.pid'),
      identity: [identity],
      logger: rec.logger,
      metrics,
      startGraceMs: 200,
      stopTimeoutMs: 2000,
      ...overrides,
    });
    owned.push(p);
    return { p, rec, registry };
  }

  /** An instance a killed controller left behind: same command line, not our child any more. */
  function orphan(args = loop): number {
    const child = spawn('/bin/sh', args, { detached: true, stdio: 'ignore' });
    child.unref();
    strays.push(child);
    return child.pid as number;
  }

  afterEach(async () => {
    for (const p of owned.splice(0)) await p.stop();
    for (const c of strays.splice(0)) {
      if (c.pid && alive(c.pid)) process.kill(c.pid, 'SIGKILL');
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('start writes the pid file with the child PID; stop ends it by PID and removes the file', async () => {
    const { p, registry } = make();
    const pid = await p.start();
    assert.equal(readFileSync(join(dir, 'looper.pid'), 'utf8').trim(), String(pid));
    assert.ok(alive(pid));
    assert.equal(p.health().state, 'running');
    assert.match(await registry.metrics(), /guestrouter_service_up\{service="looper"\} 1/);
    await p.stop();
    assert.ok(!alive(pid));
    assert.ok(!existsSync(join(dir, 'looper.pid')));
    assert.equal(p.health().state, 'stopped');
  });

  test('a stale instance named by the pid file is stopped before the new one starts', async () => {
    const stale = orphan();
    writeFileSync(join(dir, 'looper.pid'), `${stale}\n`);
    const { p, rec } = make();
    const pid = await p.start();
    assert.ok(!alive(stale), 'the stale instance was stopped');
    assert.deepEqual(pidsWith(identity), [pid], 'exactly one instance runs');
    assert.ok(
      rec.lines.some((l) => l.level === 'warn' && l.obj.event === 'service-stale' && l.obj.pid === stale),
    );
  });

  test('a stale instance is found by its command line when the pid file is gone', async () => {
    const stale = orphan();
    const { p } = make();
    const pid = await p.start();
    assert.ok(!alive(stale));
    assert.deepEqual(pidsWith(identity), [pid]);
  });

  test('a pid file naming an unrelated process leaves that process alone', async () => {
    const other = orphan(['-c', 'while :; do sleep 0.2; done', 'gr-owned-other']);
    writeFileSync(join(dir, 'looper.pid'), `${other}\n`);
    const { p } = make();
    await p.start();
    assert.ok(alive(other), 'a PID whose command line lacks the identity is not ours');
  });

  test('a daemon that exits during its start is a start failure, with its own words', async () => {
    const { p, rec, registry } = make({
      args: [
        '-c',
        'echo "failed to bind DHCP server socket: Address already in use" >&2; exit 2',
        'x',
        identity,
      ],
    });
    await assert.rejects(p.start(), (e: unknown) => {
      assert.ok(e instanceof ServiceStartError);
      assert.match(
        e.message,
        /looper did not start: exited during start \(exit code 2\): .*Address already in use/,
      );
      return true;
    });
    const h = p.health();
    assert.equal(h.state, 'failed');
    assert.match(h.error ?? '', /Address already in use/);
    assert.ok(rec.lines.some((l) => l.level === 'error' && l.obj.event === 'service-start'));
    assert.match(
      await registry.metrics(),
      /guestrouter_service_failures_total\{service="looper",reason="start-failed"\} 1/,
    );
  });

  test('a program that cannot be run is a start failure', async () => {
    const { p } = make({ command: join(dir, 'no-such-daemon') });
    await assert.rejects(p.start(), /looper did not start: cannot run .*no-such-daemon/);
  });

  test('a crash is logged at error level and reported once by ensureRunning, which starts it again', async () => {
    const { p, rec, registry } = make();
    const first = await p.ensureRunning();
    assert.equal(first.action, 'started');
    process.kill(first.pid, 'SIGKILL');
    while (!rec.lines.some((l) => l.obj.event === 'service-exit')) await sleep(20);
    assert.equal(p.health().state, 'failed', 'down until the next ensureRunning');
    const exitLine = rec.lines.find((l) => l.obj.event === 'service-exit');
    assert.equal(exitLine?.level, 'error');
    assert.equal(exitLine?.obj.signal, 'SIGKILL');
    const second = await p.ensureRunning();
    assert.equal(second.action, 'restarted');
    assert.equal(second.action === 'restarted' ? second.exit.signal : undefined, 'SIGKILL');
    assert.notEqual(second.pid, first.pid);
    assert.equal((await p.ensureRunning()).action, 'running', 'reported once');
    assert.match(
      await registry.metrics(),
      /guestrouter_service_failures_total\{service="looper",reason="exited"\} 1/,
    );
  });

  test('three exits within the window are a crash loop in health()', async () => {
    const { p, rec } = make();
    for (let i = 1; i <= 3; i++) {
      const r = await p.ensureRunning();
      process.kill(r.pid, 'SIGKILL');
      while (rec.lines.filter((l) => l.obj.event === 'service-exit').length < i) await sleep(20);
    }
    const h = p.health();
    assert.equal(h.recentExits, 3);
    assert.equal(h.crashLoop, true);
    assert.equal(h.lastExit?.signal, 'SIGKILL');
  });

  test('a family of instances is reaped with one scan: every process with an argument under the prefix, nothing else', async () => {
    const a = orphan(['-c', 'while :; do sleep 0.2; done', 'x', `--conf-file=${dir}/net-a/c`]);
    const b = orphan(['-c', 'while :; do sleep 0.2; done', 'x', `--conf-file=${dir}/net-b/c`]);
    const other = orphan(['-c', 'while :; do sleep 0.2; done', 'x', `--conf-file=${dir}-elsewhere/c`]);
    const rec = recorder();
    assert.equal(await reapByArgumentPrefix(`--conf-file=${dir}/`, 'looper', rec.logger), 2);
    assert.ok(!alive(a) && !alive(b));
    assert.ok(alive(other));
    assert.equal(rec.lines.filter((l) => l.obj.event === 'service-stale').length, 2);
  });
});
