import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Rspamd, type SpamAssassin, SYMBOL, spamAssassin, startRspamd } from '../contrib/scanners.js';
import type { DeliveredMail } from '../helpers/postfix.js';
import { CLIENT_LINUX, CLIENT_NT, CLIENT_SEVEN, CLIENT_XP } from './lab.js';
import { type Pipeline, sendMail, startPipeline } from './pipeline.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** greyprint's decisions for a client, for assertion messages. */
function decisionsOf(pipeline: Pipeline, client: string): string {
  return pipeline.greyprint.logs
    .filter(
      (l) =>
        l.client === client ||
        l.level === undefined ||
        l.level === 'warn' ||
        l.level === 'error' ||
        l.level === 'fatal',
    )
    .map((l) => JSON.stringify(l))
    .join('\n');
}

function bySubject(mails: readonly DeliveredMail[], subject: string): DeliveredMail {
  const mail = mails.find((m) => m.header('subject').includes(subject));
  assert.ok(mail, `a delivered message with Subject: ${subject}`);
  return mail;
}

/**
 * The seed's three actions through real parts, in network namespaces:
 * p0f fingerprints real SYNs, Postfix asks greyprint, swaks sends the mail,
 * and the delivered messages go through SpamAssassin and rspamd.
 */
describe('the real pipeline: p0f, Postfix, greyprint, SpamAssassin and rspamd', () => {
  let pipeline: Pipeline;
  let rspamd: Rspamd;
  let sa: SpamAssassin;
  const delivered: {
    xp?: DeliveredMail;
    seven?: DeliveredMail;
    linux?: DeliveredMail;
    forged?: DeliveredMail;
  } = {};

  before(async () => {
    // rspamd compiles its regexps on a cold start; start it while the namespaces come up.
    const scanner = startRspamd();
    try {
      pipeline = await startPipeline({ delaySec: 3 });
    } finally {
      rspamd = await scanner;
    }
    sa = spamAssassin();
  });

  after(async () => {
    await pipeline?.close();
    await rspamd?.stop();
    sa?.close();
  });

  test('accepts a Linux client at once and marks its message X-P0f-OS: Linux', async () => {
    const attempt = await sendMail(pipeline.lab.linuxNs, CLIENT_LINUX, {
      from: 'alice@linux.example',
      to: 'bob@mx.test',
      subject: 'from linux',
    });
    assert.match(attempt.rcptReply, /^250 /);
    assert.ok(attempt.accepted, attempt.transcript);
    const mails = await pipeline.postfix.waitForMail('bob', 1, 15_000);
    delivered.linux = bySubject(mails, 'from linux');
    assert.deepEqual(
      delivered.linux.header('x-p0f-os').map((v) => v.split(' ')[0]),
      ['Linux'],
    );
  });

  test('greylists desktop Windows (XP and 7 or 8 by p0f) on first try and accepts the retry after the delay', async () => {
    const xpMail = { from: 'carol@xp.example', to: 'dave@mx.test', subject: 'from windows xp' };
    const sevenMail = { from: 'erin@seven.example', to: 'dave@mx.test', subject: 'from windows 7' };
    const firstXp = await sendMail(pipeline.lab.windowsNs, CLIENT_XP, xpMail);
    const firstSeven = await sendMail(pipeline.lab.windowsNs, CLIENT_SEVEN, sevenMail);
    await sleep(300); // let greyprint's log lines arrive, for the messages below
    assert.match(firstXp.rcptReply, /^450 4\.\d\.\d .*Greylisted/, decisionsOf(pipeline, CLIENT_XP));
    assert.match(firstSeven.rcptReply, /^450 4\.\d\.\d .*Greylisted/, decisionsOf(pipeline, CLIENT_SEVEN));
    assert.equal(firstXp.accepted, false);
    // p0f's generic Windows label counts as desktop Windows too (no reverse DNS here).
    const firstNt = await sendMail(pipeline.lab.windowsNs, CLIENT_NT, {
      from: 'nt@nt.example',
      to: 'dave@mx.test',
      subject: 'from windows nt kernel',
    });
    assert.match(firstNt.rcptReply, /^450 4\.\d\.\d .*Greylisted/, firstNt.transcript);

    // A retry before the delay is still deferred.
    const early = await sendMail(pipeline.lab.windowsNs, CLIENT_XP, xpMail);
    assert.match(early.rcptReply, /^450 /);

    await sleep(pipeline.delaySec * 1000 + 500);
    const retryXp = await sendMail(pipeline.lab.windowsNs, CLIENT_XP, xpMail);
    const retrySeven = await sendMail(pipeline.lab.windowsNs, CLIENT_SEVEN, sevenMail);
    assert.ok(retryXp.accepted, retryXp.transcript);
    assert.ok(retrySeven.accepted, retrySeven.transcript);

    const mails = await pipeline.postfix.waitForMail('dave', 2, 15_000);
    delivered.xp = bySubject(mails, 'from windows xp');
    delivered.seven = bySubject(mails, 'from windows 7');
    assert.deepEqual(delivered.xp.header('x-p0f-os'), ['Windows XP']);
    assert.deepEqual(delivered.seven.header('x-p0f-os'), ['Windows 7 or 8']);
    // Exactly once per message: the delivered header block has one X-P0f-OS.
    assert.equal(delivered.xp.text.match(/^X-P0f-OS:/gim)?.length, 1);
  });

  test('adds X-P0f-OS once to a message with several recipients', async () => {
    const attempt = await sendMail(pipeline.lab.linuxNs, CLIENT_LINUX, {
      from: 'alice@linux.example',
      to: 'frank@mx.test,grace@mx.test,heidi@mx.test',
      subject: 'three recipients',
    });
    assert.ok(attempt.accepted, attempt.transcript);
    for (const who of ['frank', 'grace', 'heidi']) {
      const [mail] = await pipeline.postfix.waitForMail(who, 1, 15_000);
      assert.equal(mail?.header('x-p0f-os').length, 1, `${who}'s copy`);
    }
  });

  test('puts its header above a forged X-P0f-OS the client sent', async () => {
    const attempt = await sendMail(pipeline.lab.linuxNs, CLIENT_LINUX, {
      from: 'mallory@linux.example',
      to: 'ivan@mx.test',
      subject: 'forged header',
      headers: ['X-P0f-OS: Windows XP'],
    });
    assert.ok(attempt.accepted, attempt.transcript);
    const [mail] = await pipeline.postfix.waitForMail('ivan', 1, 15_000);
    assert.ok(mail);
    delivered.forged = mail;
    const values = mail.header('x-p0f-os');
    assert.equal(values.length, 2);
    assert.match(values[0] ?? '', /^Linux/, 'greyprint header first');
    assert.equal(values[1], 'Windows XP');
  });

  test('SpamAssassin adds 2.5 to the delivered Windows messages and nothing to Linux or the forged header', async () => {
    const { xp, seven, linux, forged } = delivered;
    assert.ok(xp && seven && linux && forged, 'the earlier tests delivered the messages');
    const [xpScore, sevenScore, linuxScore, forgedScore] = await sa.scan([
      xp.text,
      seven.text,
      linux.text,
      forged.text,
    ]);
    assert.equal(xpScore?.rules.get(SYMBOL), 2.5);
    assert.equal(sevenScore?.rules.get(SYMBOL), 2.5);
    assert.equal(linuxScore?.rules.get(SYMBOL), undefined);
    assert.equal(forgedScore?.rules.get(SYMBOL), undefined);
  });

  test('rspamd adds GREYPRINT_DESKTOP_WINDOWS to the delivered Windows messages only', async () => {
    const { xp, seven, linux, forged } = delivered;
    assert.ok(xp && seven && linux && forged, 'the earlier tests delivered the messages');
    assert.equal((await rspamd.scan(xp.text)).rules.get(SYMBOL), 2.5);
    assert.equal((await rspamd.scan(seven.text)).rules.get(SYMBOL), 2.5);
    assert.equal((await rspamd.scan(linux.text)).rules.get(SYMBOL), undefined);
    assert.equal((await rspamd.scan(forged.text)).rules.get(SYMBOL), undefined);
  });

  test('with p0f stopped, accepts the Windows-looking client at once and marks it unknown', async () => {
    await pipeline.stopP0f();
    await sleep(1500); // greyprint's p0f cache in this setup lasts 1 s
    const attempt = await sendMail(pipeline.lab.windowsNs, CLIENT_XP, {
      from: 'carol@xp.example',
      to: 'judy@mx.test',
      subject: 'p0f is down',
    });
    assert.match(attempt.rcptReply, /^250 /, attempt.transcript);
    assert.ok(attempt.accepted);
    const [mail] = await pipeline.postfix.waitForMail('judy', 1, 15_000);
    assert.deepEqual(mail?.header('x-p0f-os'), ['unknown']);
    const [score] = await sa.scan([mail?.text ?? '']);
    assert.equal(score?.rules.get(SYMBOL), undefined);
  });
});
