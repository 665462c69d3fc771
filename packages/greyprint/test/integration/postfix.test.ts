import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { type RunningDaemon, startServe } from '../helpers/daemon.js';
import { type PostfixInstance, startPostfix } from '../helpers/postfix.js';
import { storeTempDir } from '../helpers/store-tmp.js';

// A real Postfix asks a real `greyprint serve` (SQLite store) at RCPT and at DATA; mail is sent
// with swaks from two loopback source addresses pinned to an OS by --os-static.
const DELAY_SEC = 2;
const XP_CLIENT = '127.0.0.2';
const LINUX_CLIENT = '127.0.0.3';

interface SwaksResult {
  readonly code: number;
  readonly out: string;
}

/** Runs swaks; never throws on a non-zero exit: the exit code is part of what the tests check. */
function swaks(server: string, from: string, to: string[], localInterface: string, subject: string) {
  return new Promise<SwaksResult>((resolve, reject) => {
    execFile(
      'swaks',
      [
        '--server',
        server,
        '--from',
        from,
        '--to',
        to.join(','),
        '--local-interface',
        localInterface,
        '--helo',
        'desktop-pc.invalid',
        '--header',
        `Subject: ${subject}`,
        '--body',
        `body of ${subject}`,
        '--timeout',
        '20',
      ],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        if (code === -1) reject(err);
        else resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

/** The server lines swaks printed (`<-  250 ...`, `<** 450 ...`). */
const serverLines = (out: string) => out.split('\n').filter((l) => /^<[-*~]/.test(l));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('greyprint behind a real Postfix', () => {
  const tmp = storeTempDir('gps-int-');
  let daemon: RunningDaemon | undefined;
  let mta: PostfixInstance | undefined;
  let server = '';

  before(async () => {
    daemon = await startServe([
      '--db',
      tmp.file('greylist.sqlite'),
      '--delay',
      String(DELAY_SEC),
      '--os-static',
      `${XP_CLIENT}/32=Windows XP`,
      '--os-static',
      `${LINUX_CLIENT}/32=Linux 3.11 and newer`,
    ]);
    // The header comes at DATA: Postfix refuses PREPEND in smtpd_end_of_data_restrictions (access(5)).
    const policy = `inet:127.0.0.1:${daemon.port}`;
    mta = await startPostfix({ policy, policyTimeout: '5s' });
    server = `${mta.host}:${mta.port}`;
  });

  after(async () => {
    await mta?.stop();
    await daemon?.stop();
    tmp.cleanup();
  });

  test('defers a Windows XP client on the first attempt and delivers its retry after the delay, with one X-P0f-OS header per copy', async () => {
    assert.ok(mta);
    const to = ['xp-one@gps.test', 'xp-two@gps.test'];
    const first = await swaks(server, 'sender@xp.example', to, XP_CLIENT, 'xp first');
    // swaks exits 24 when every recipient was refused at RCPT
    assert.equal(first.code, 24, first.out);
    const deferred = serverLines(first.out).filter((l) => / 450 /.test(l));
    assert.equal(deferred.length, 2, first.out);
    for (const line of deferred) assert.match(line, /greylist/i);
    assert.equal(mta.mailbox('xp-one').length, 0);

    await sleep((DELAY_SEC + 1) * 1000);
    const retry = await swaks(server, 'sender@xp.example', to, XP_CLIENT, 'xp retry');
    assert.equal(retry.code, 0, retry.out);
    assert.match(retry.out, /<- {2}250 2\.0\.0 Ok: queued as/);

    for (const rcpt of ['xp-one', 'xp-two']) {
      const [mail] = await mta.waitForMail(rcpt, 1);
      assert.ok(mail);
      assert.deepEqual(mail.header('subject'), ['xp retry']);
      assert.deepEqual(mail.header('x-p0f-os'), ['Windows XP'], mail.text);
    }
  });

  test('accepts a Linux client at once and labels its mail', async () => {
    assert.ok(mta);
    const result = await swaks(server, 'sender@linux.example', ['linux@gps.test'], LINUX_CLIENT, 'linux');
    assert.equal(result.code, 0, result.out);
    assert.equal(
      serverLines(result.out).some((l) => / 4\d\d /.test(l)),
      false,
      result.out,
    );
    const [mail] = await mta.waitForMail('linux', 1);
    assert.ok(mail);
    assert.equal(mail.header('x-p0f-os').length, 1, mail.text);
    assert.match(mail.header('x-p0f-os')[0] ?? '', /^Linux/);
  });

  test('still delivers when the daemon is down: Postfix fails open through its default action', async () => {
    assert.ok(mta && daemon);
    await daemon.stop();
    const result = await swaks(
      server,
      'new-sender@xp.example',
      ['failopen@gps.test'],
      XP_CLIENT,
      'fail open',
    );
    assert.equal(result.code, 0, result.out);
    const [mail] = await mta.waitForMail('failopen', 1);
    assert.ok(mail);
    assert.deepEqual(mail.header('x-p0f-os'), [], 'no header without the daemon');
    assert.match(mta.log(), /warning: connect to 127\.0\.0\.1:\d+: Connection refused/);
  });
});
