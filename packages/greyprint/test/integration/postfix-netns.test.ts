import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { type PostfixInstance, startPostfix } from '../helpers/postfix.js';

// The helper's namespace mode, which the pipeline's end-to-end test builds on: the master and
// every Postfix daemon run inside a network namespace, files stay on the shared file system.
const run = promisify(execFile);
const NETNS = `gps-pf${process.pid}`;
let mta: PostfixInstance | undefined;

before(async () => {
  await run('ip', ['netns', 'add', NETNS]);
  await run('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
});

after(async () => {
  await mta?.stop();
  await run('ip', ['netns', 'del', NETNS]).catch(() => {});
});

test('runs a private Postfix inside a network namespace and delivers mail sent there', async () => {
  mta = await startPostfix({ netns: NETNS, host: '127.0.0.1', port: 25 });
  assert.equal(mta.port, 25);
  // Port 25 of the namespace, not of the host: swaks must run inside it to reach the server.
  const { stdout } = await run('ip', [
    'netns',
    'exec',
    NETNS,
    'swaks',
    '--server',
    '127.0.0.1:25',
    '--from',
    'someone@example.org',
    '--to',
    'inside@gps.test',
    '--header',
    'Subject: from inside',
  ]);
  assert.match(stdout, /<- {2}250 2\.0\.0 Ok: queued as/);
  const [mail] = await mta.waitForMail('inside', 1);
  assert.deepEqual(mail?.header('subject'), ['from inside']);
  // the master really lives in the namespace
  const { stdout: ns } = await run('ip', ['netns', 'identify', String(mta.pid)]);
  assert.equal(ns.trim(), NETNS);
});
