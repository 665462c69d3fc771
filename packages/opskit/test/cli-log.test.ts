import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import {
  ConfigError,
  createLogger,
  createProgram,
  packageVersion,
  resolveLogFormat,
  runProgram,
  withExamples,
} from '../src/index.js';
import { freePort, runCli } from '../src/testing.js';

function program(action: (opts: Record<string, unknown>) => void | Promise<void>) {
  const p = createProgram({ name: 'tool', version: '1.2.3', description: 'a tool' });
  p.option('-c, --config <file>', 'config file').option('--log-format <format>', 'json or pretty');
  const sub = p.command('do').description('does it').option('--count <n>', 'how many').action(action);
  withExamples(sub, ['tool do --count 3']);
  // Commander writes help and errors itself; keep test output quiet.
  const quiet = { writeOut: () => undefined, writeErr: () => undefined };
  p.configureOutput(quiet);
  sub.configureOutput(quiet);
  return p;
}

describe('the program contract', () => {
  test('--version and --help exit 0', async () => {
    assert.equal(
      await runProgram(
        program(() => undefined),
        ['--version'],
      ),
      0,
    );
    assert.equal(
      await runProgram(
        program(() => undefined),
        ['do', '--help'],
      ),
      0,
    );
  });

  test('an unknown flag is a usage error: exit 2', async () => {
    assert.equal(
      await runProgram(
        program(() => undefined),
        ['do', '--bogus'],
      ),
      2,
    );
  });

  test('a ConfigError from an action exits 2, any other error 1, with the message reported', async () => {
    const said: string[] = [];
    const bad = program(() => {
      throw new ConfigError('must be an integer', 'f.json', 'a.b');
    });
    assert.equal(await runProgram(bad, ['do'], (m) => said.push(m)), 2);
    const broken = program(() => {
      throw new Error('socket closed');
    });
    assert.equal(await runProgram(broken, ['do'], (m) => said.push(m)), 1);
    assert.deepEqual(said, ['tool: f.json: a.b: must be an integer', 'tool: socket closed']);
  });

  test("a command's help shows its example and the global options", () => {
    const p = program(() => undefined);
    const sub = p.commands[0];
    assert.ok(sub);
    let help = '';
    sub.configureOutput({ writeOut: (s) => (help += s) });
    sub.outputHelp();
    assert.match(help, /Examples:\n {2}\$ tool do --count 3/);
    assert.match(help, /Global Options:\n {2}-V, --version[\s\S]*-c, --config <file>/);
  });
});

describe('the logger contract', () => {
  test('JSON lines with ISO time, level as a word, name and event', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger({ name: 'tool', format: 'json', destination: sink });
    log.warn({ event: 'reload', changed: ['listen'] }, 'listen needs a restart');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
    assert.equal(line.level, 'warn');
    assert.equal(line.name, 'tool');
    assert.equal(line.event, 'reload');
    assert.equal(line.msg, 'listen needs a restart');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test('pretty on a terminal, JSON otherwise, unless chosen', () => {
    assert.equal(resolveLogFormat(undefined, true), 'pretty');
    assert.equal(resolveLogFormat(undefined, false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
  });
});

describe('test helpers', () => {
  test('runCli collects output and exit code, and kills at the timeout', async () => {
    const ok = await runCli('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in' });
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [3, 'in', 'err\n']);
    const slow = await runCli('sleep', ['10'], { timeoutMs: 100 });
    assert.equal(slow.signal, 'SIGKILL');
  });

  test('freePort gives a port that can be bound', async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
  });
});

test('packageVersion reads the version of the package a module belongs to', () => {
  assert.equal(packageVersion(import.meta.url), '0.1.0');
});
