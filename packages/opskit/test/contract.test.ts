import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { LOG_LEVELS } from '../src/log.js';
import { ChildReaper, type CliResult, freePort, runCli } from '../src/testing.js';

// One test pins the operator contract (docs/operator-contract.md) across every tool: the same
// help, version, usage-error and config-error behaviour wherever an operator meets them.
const root = resolve(import.meta.dirname, '../../..');
const tools = [
  { name: 'greyprint', bin: join(root, 'packages/greyprint/bin/greyprint.js'), command: ['serve'] },
  { name: 'guestrouter', bin: join(root, 'packages/guestrouter/bin/guestrouter.js'), command: ['plan'] },
  { name: 'denul', bin: join(root, 'packages/denul/bin/denul.js'), command: [] },
] as const;

const dir = mkdtempSync(join(tmpdir(), 'opskit-contract-'));
const reaper = new ChildReaper();
after(async () => {
  await reaper.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const node = (bin: string, args: readonly string[]) =>
  runCli(process.execPath, [bin, ...args], { timeoutMs: 20_000 });

for (const tool of tools) {
  describe(`${tool.name} follows the operator contract`, () => {
    test('--help exits 0 and shows examples', async () => {
      const result = await node(tool.bin, ['--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Examples:/);
    });

    test('--version exits 0 and prints a version', async () => {
      const result = await node(tool.bin, ['--version']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout.trim(), /^\d+\.\d+\.\d+$/);
    });

    test('an unknown flag exits 2 and names the flag', async () => {
      const result = await node(tool.bin, [...tool.command, '--no-such-flag']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--no-such-flag/);
    });

    if (tool.command.length > 0) {
      test('a command shows its example and the global options in its help', async () => {
        const result = await node(tool.bin, [...tool.command, '--help']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /Examples:/);
        assert.match(result.stdout, /--config/);
      });

      test('a bad config exits 2 with FILE: KEY: MESSAGE', async () => {
        const file = join(dir, `${tool.name}.json`);
        writeFileSync(file, JSON.stringify({ noSuchKey: { nested: 1 } }));
        const result = await node(tool.bin, [...tool.command, '--config', file]);
        assert.equal(result.code, 2, result.stderr);
        assert.ok(result.stderr.includes(`${file}: (top level): unknown key "noSuchKey"`), result.stderr);
      });
    }
  });
}

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LEVEL_WORDS = LOG_LEVELS.filter((l) => l !== 'silent');

/**
 * The contract's log, checked line by line: every line on stderr is one JSON object with `time`
 * (ISO 8601, UTC), `level` (a word), `name` (the tool), `msg` and `event`.
 * Returns the parsed lines.
 */
function contractLogLines(tool: string, stderr: string): Record<string, unknown>[] {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0, `${tool} logged nothing on stderr`);
  return lines.map((text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      assert.fail(`${tool}: a stderr line that is not JSON: ${text}`);
    }
    assert.match(String(line.time), ISO_UTC, text);
    assert.ok(LEVEL_WORDS.includes(line.level as never), `level is a word: ${text}`);
    assert.equal(line.name, tool, text);
    assert.equal(typeof line.msg, 'string', text);
    assert.ok(typeof line.event === 'string' && line.event !== '', `event: ${text}`);
    return line;
  });
}

/** One Postfix policy request; resolves with the reply's action. */
function askPolicy(port: number): Promise<string> {
  return new Promise((resolvePolicy, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.endsWith('\n\n')) {
        socket.end();
        resolvePolicy(reply.trim().replace(/^action=/, ''));
      }
    });
    socket.on('error', reject);
    socket.write(
      'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.7\nclient_name=unknown\n' +
        'helo_name=pc.example\nsender=a@example.org\nrecipient=b@example.net\n\n',
    );
  });
}

describe('logs: JSON lines on stderr, stdout only the command output', () => {
  test('greyprint serve: start, a decision (the fast log line) and stop, each a contract line with an event', async () => {
    const port = await freePort();
    // No --log-format: stderr is a pipe here, so JSON is the default.
    const child = reaper.track(
      spawn(
        process.execPath,
        [
          tools[0].bin,
          'serve',
          '--listen',
          `127.0.0.1:${port}`,
          '--db',
          ':memory:',
          '--os-static',
          '192.0.2.0/24=Windows XP',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    for (let i = 0; i < 200 && !stderr.includes('"event":"start"'); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(stderr, /"event":"start"/, stderr);
    assert.match(await askPolicy(port), /^DEFER_IF_PERMIT /);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal(stdout, '', 'serve writes nothing on stdout');
    const lines = contractLogLines('greyprint', stderr);
    const events = lines.map((l) => l.event);
    for (const e of ['start', 'decision', 'stopping', 'stop'])
      assert.ok(events.includes(e), `${e} in ${events}`);
    const decision = lines.find((l) => l.event === 'decision');
    assert.equal(decision?.level, 'info');
    assert.match(String(decision?.action), /^DEFER_IF_PERMIT /, 'action keeps its domain meaning');
  });

  test('guestrouter run --once with CloudStack unreachable: contract lines on stderr, nothing on stdout', async () => {
    const closed = await freePort();
    const result: CliResult = await runCli(
      process.execPath,
      [tools[1].bin, 'run', '--once', '--trunk', 'lo', '--uplink', 'lo'],
      {
        timeoutMs: 60_000,
        env: {
          ...process.env,
          CLOUDSTACK_API_URL: `http://127.0.0.1:${closed}/client/api`,
          CLOUDSTACK_API_KEY: 'contract-test',
          CLOUDSTACK_SECRET_KEY: 'contract-test',
        },
      },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    const lines = contractLogLines('guestrouter', result.stderr);
    assert.ok(lines.some((l) => l.level === 'error' && typeof l.event === 'string'));
  });

  test('denul, a filter with no log: stdout is only the data or the report, its warning a `denul:` line on stderr', async () => {
    const clean = await runCli(process.execPath, [tools[2].bin], { input: Buffer.from('a\0\0b\n') });
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.stdout, 'ab\n');
    assert.equal(clean.stderr, '');
    const counted = await runCli(process.execPath, [tools[2].bin, '-c'], { input: Buffer.from('a\0\0b\n') });
    assert.equal(counted.code, 0, counted.stderr);
    assert.equal(counted.stdout, '-: 2 NUL bytes in 1 run (5 bytes read)\n');
    assert.equal(counted.stderr, 'denul: -c is deprecated and will go; use --count\n');
  });
});
