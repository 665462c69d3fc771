import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { waitForListening } from 'opskit/testing';
import { CLI, PolicyConnection, REPO_ROOT, rcpt, sleep } from '../helpers/daemon.js';
import { freeTcpPort } from '../helpers/postfix.js';

function waitListening(port: number, child: ChildProcess): Promise<void> {
  return waitForListening(`127.0.0.1:${port}`, child, {
    what: 'greyprint',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
}

async function scrapeAt(port: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * `greyprint serve ... | sleep`: stdout (and stderr) are pipes into a process that never reads.
 * The daemon must keep answering, count the lines it drops, and stop on SIGTERM.
 */
for (const format of ['pretty', 'json']) {
  describe(`--log-format ${format} into a pipe nobody reads`, () => {
    test('keeps answering, counts dropped lines, and stops on SIGTERM', async () => {
      // The reader that never reads: sleep's stdin is the write end we hand to the daemon.
      const sleeper = spawn('sleep', ['300'], { stdio: ['pipe', 'ignore', 'ignore'] });
      const [port, metricsPort] = [await freeTcpPort(), await freeTcpPort()];
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          CLI,
          'serve',
          '--db',
          ':memory:',
          '--listen',
          `127.0.0.1:${port}`,
          '--metrics',
          `127.0.0.1:${metricsPort}`,
          '--log-format',
          format,
          '--os-static',
          '192.0.2.0/24=Windows XP',
        ],
        { cwd: REPO_ROOT, stdio: ['ignore', sleeper.stdin ?? 'ignore', sleeper.stdin ?? 'ignore'] },
      );
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await waitListening(port, child);
        const conns = await Promise.all([1, 2, 3, 4].map(() => PolicyConnection.open('127.0.0.1', port)));
        // 64 KiB of pipe buffer, then a backlog of 8 Mi characters; 4,000 decisions with a
        // 3,000-character recipient (twice in a line: recipient and triplet) log about 25 MB.
        const long = 'x'.repeat(3000);
        for (let round = 0; round < 1000; round++) {
          const answers = await Promise.all(
            conns.map((c, i) =>
              c.ask(rcpt({ client_address: `192.0.2.${i + 1}`, recipient: `r${round}${long}@example.net` })),
            ),
          );
          for (const a of answers) assert.match(a, /^DEFER_IF_PERMIT /);
        }
        for (const c of conns) c.close();
        // Lines past the backlog were dropped and counted, and the event loop is free.
        const dropped = await scrapeAt(metricsPort, 'greyprint_log_dropped_lines_total');
        assert.ok(dropped !== undefined && dropped > 1000 && dropped < 4100, `dropped ${dropped}`);
        const started = Date.now();
        child.kill('SIGTERM');
        // A daemon that blocks on the pipe never exits; 15 s leaves room for a loaded CI machine
        // (5 s was missed once with both cores busy) while still telling a hang from a stop.
        const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
        assert.equal(code, 0, `exit after SIGTERM: ${code} in ${Date.now() - started} ms`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        sleeper.kill('SIGKILL');
      }
    });
  });
}
