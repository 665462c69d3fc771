/**
 * The install path an operator follows (README, "Install on a Debian mail server"): what
 * `make install` puts on the host, a postgrey already on greyprint's port, the state
 * directory's owner, and the smoke test that only greyprint passes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startPostgrey } from '../../bench/servers.js';
import { CLI, PACKAGE_DIR, REPO_ROOT, runCli, startServe } from '../helpers/daemon.js';

const run = promisify(execFile);

async function debs(...purposes: string[]): Promise<string[]> {
  const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/ensure-debs.sh'), '--list', ...purposes]);
  return stdout.trim().split('\n');
}

/** Runs the guide's smoke test against a server; resolves with its exit code and output. */
async function smokeTest(server: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('sh', [join(PACKAGE_DIR, 'contrib/smoke-test.sh'), server], {
      env: { ...process.env, GREYPRINT: `${process.execPath} --import tsx ${CLI}` },
      cwd: REPO_ROOT,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe('install path', () => {
  test('make install installs only the runtime Debian packages; test, demo and bench add the servers they drive', async () => {
    const runtime = await debs('runtime');
    for (const p of [
      'postgrey',
      'redis-server',
      'postfix',
      'spamassassin',
      'rspamd',
      'swaks',
      'python3-scapy',
    ]) {
      assert.ok(!runtime.includes(p), `${p} is not needed on a production host`);
    }
    assert.ok(runtime.includes('p0f'));
    for (const purpose of ['test', 'demo', 'bench']) {
      const list = await debs('runtime', purpose);
      for (const p of ['p0f', 'postgrey', 'redis-server', 'postfix', 'swaks', 'spamassassin', 'rspamd']) {
        assert.ok(list.includes(p), `${purpose} needs ${p}`);
      }
    }
    const { stdout } = await run('make', ['-n', '-C', REPO_ROOT, 'install']);
    const calls = stdout.split('\n').filter((l) => l.includes('ensure-debs.sh'));
    assert.deepEqual(calls, ['bash scripts/ensure-debs.sh runtime']);
    for (const target of ['test', 'demo', 'bench']) {
      const plan = (await run('make', ['-n', '-C', REPO_ROOT, target])).stdout;
      assert.match(plan, new RegExp(`ensure-debs\\.sh runtime ${target}`), target);
    }
  });

  test('serve on a port postgrey holds exits 1 naming postgrey and its pid; the smoke test fails on postgrey', async () => {
    const postgrey = await startPostgrey(300, 'tcp');
    try {
      const r = await runCli(['serve', '--db', ':memory:', '--listen', postgrey.address]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot listen on ${postgrey.address}: .*EADDRINUSE`));
      assert.match(r.stderr, new RegExp(`held by pid ${postgrey.pid} \\([^)]*postgrey`));
      assert.match(r.stderr, /systemctl disable --now postgrey/);
      const smoke = await smokeTest(postgrey.address);
      assert.equal(smoke.code, 1, smoke.out);
      assert.match(smoke.out, /FAILED: .* answered "DUNNO", not greyprint's X-P0f-OS header/);
    } finally {
      await postgrey.stop();
    }
  });

  test('the smoke test passes on greyprint', async () => {
    const d = await startServe([]);
    try {
      const smoke = await smokeTest(d.address);
      assert.equal(smoke.code, 0, smoke.out);
      assert.match(smoke.out, /^smoke test: ok, greyprint answers on .* \(PREPEND X-P0f-OS: unknown\)$/m);
    } finally {
      await d.stop();
    }
  });

  test('a state directory left by a root trial run is named in the error; made as the guide says, it works', async (t) => {
    // An unprivileged uid of its own, as the guide's `greyprint` system user.
    const uid = 60000 + (process.pid % 5000);
    const base = mkdtempSync(join(tmpdir(), 'gpc-install-'));
    chmodSync(base, 0o755);
    const state = join(base, 'greyprint');
    mkdirSync(state, { mode: 0o750 }); // what `greyprint serve` run as root leaves behind
    const asUser = ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
    // A checkout under a private home (/root, mode 0700) cannot be run by another user at all.
    if (
      (await run(asUser[0] as string, [...asUser.slice(1), 'test', '-r', CLI]).catch(() => 'no')) === 'no'
    ) {
      t.skip(`${CLI} is not readable by uid ${uid}: this check needs a checkout others may read`);
      return;
    }
    const db = join(state, 'greyprint.sqlite');
    const serve = async () => {
      const r = await run(
        'timeout',
        [
          '20',
          ...asUser,
          process.execPath,
          '--import',
          'tsx',
          CLI,
          'serve',
          '--listen',
          '127.0.0.1:0',
          '--db',
          db,
        ],
        {
          cwd: REPO_ROOT,
        },
      ).catch((e: { code: number; stderr: string }) => e);
      return r as { code?: number; stderr: string };
    };
    const refused = await serve();
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(`${state} belongs to uid 0, mode 0750; this process runs as uid ${uid}`),
    );
    assert.match(refused.stderr, /install -d -o greyprint -g greyprint -m 0750/);
    // The guide's step (install -d also fixes the owner of a directory that exists).
    await run('install', ['-d', '-o', String(uid), '-g', String(uid), '-m', '0750', state]);
    const d = await startServe(['--db', db], { wrapper: asUser });
    try {
      assert.equal((await smokeTest(d.address)).code, 0);
      assert.equal(statSync(db).uid, uid);
    } finally {
      assert.equal(await d.stop(), 0);
    }
  });
});
