/**
 * `make demo`: the seed's setup, for real, in network namespaces, narrated.
 * A Linux client and a Windows-looking client (a real Linux TCP stack shaped
 * so that p0f sees Windows XP) send mail to Postfix; greyprint greylists the
 * Windows one, accepts its retry after the delay, and stamps X-P0f-OS;
 * SpamAssassin and rspamd score the delivered messages. Then p0f is stopped
 * and mail flows on, marked unknown.
 *
 * Run as root through demo/run.sh. GREYPRINT_DEMO_STATE names a file where
 * every namespace and PID is written as it appears, for the shell's trap.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { type Rspamd, type ScanResult, SYMBOL, spamAssassin, startRspamd } from '../test/contrib/scanners.js';
import { CLIENT_LINUX, CLIENT_XP, SERVER_IP } from '../test/e2e/lab.js';
import { type Pipeline, type SmtpAttempt, sendMail, startPipeline } from '../test/e2e/pipeline.js';
import type { DeliveredMail } from '../test/helpers/postfix.js';

const DELAY_SEC = 5;
const started = Date.now();
const tty = process.stdout.isTTY;
const color = (code: number) => (text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = color(1);
const dim = color(2);
const red = color(31);
const green = color(32);
const yellow = color(33);
const cyan = color(36);

function say(who: string, text: string): void {
  const at = `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  console.log(`${dim(at)}  ${who.padEnd(16)} ${text}`);
}

const stateFile = process.env.GREYPRINT_DEMO_STATE;
function record(kind: string, value: string): void {
  if (stateFile) appendFileSync(stateFile, `${kind} ${value}\n`);
}

/** p0f's own log line for the latest SYN from this client: label and raw signature. */
function fingerprint(pipeline: Pipeline, client: string): string {
  const log = pipeline.p0f ? readFileSync(pipeline.p0f.logFile, 'utf8') : '';
  const line = log
    .split('\n')
    .filter((l) => l.includes('mod=syn|') && l.includes(`cli=${client}/`))
    .pop();
  if (!line) return 'no SYN seen';
  const field = (name: string) => line.match(new RegExp(`\\|${name}=([^|]*)`))?.[1] ?? '?';
  return `${field('os')}  ${dim(`(${field('params')}; ${field('raw_sig')})`)}`;
}

function smtpOutcome(attempt: SmtpAttempt): string {
  if (attempt.accepted) return green(`accepted: ${attempt.dataReply ?? ''}`);
  return yellow(`deferred: ${attempt.rcptReply}`);
}

/**
 * greyprint's RCPT decision for this client logged after `since` (an index
 * into its log). Its JSON log arrives through a pipe, so wait briefly for it.
 */
async function decisionSince(pipeline: Pipeline, client: string, since: number): Promise<string> {
  for (let waited = 0; waited < 3000; waited += 50) {
    const decision = pipeline.greyprint.logs
      .slice(since)
      .find((l) => l.msg === 'decision' && l.client === client && l.state === 'RCPT');
    if (decision) {
      return `os=${String(decision.os ?? 'unknown')} rule=${decision.rule ?? '-'} -> ${bold(String(decision.verdict ?? decision.action))}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return 'no decision logged';
}

function scoreLine(name: string, result: ScanResult | undefined): string {
  if (!result) return `${name}: not run`;
  const ours = result.rules.get(SYMBOL);
  return `${name}: ${ours === undefined ? green(`no ${SYMBOL}`) : red(`+${ours} ${SYMBOL}`)} (total ${result.score.toFixed(1)})`;
}

async function main(): Promise<void> {
  console.log(bold('greyprint demo: greylist desktop Windows by passive OS fingerprint (p0f)'));
  console.log(
    dim(
      `namespaces: server ${SERVER_IP} (p0f, Postfix :25, greyprint --delay ${DELAY_SEC}), ` +
        `windows client ${CLIENT_XP} (TTL 128, no timestamps/window scaling, route window 16384 advmss 1024), ` +
        `linux client ${CLIENT_LINUX} (default stack)`,
    ),
  );
  say('setup', 'starting rspamd (first start compiles its rules: up to a minute) and the namespaces ...');
  const rspamdStarting = startRspamd().then(
    (r) => {
      record('pid', String(r.pid));
      return r;
    },
    (error: Error) => {
      say('rspamd', red(`could not start: ${error.message.slice(0, 200)}`));
      return undefined;
    },
  );
  let pipeline: Pipeline | undefined;
  let rspamd: Rspamd | undefined;
  const sa = spamAssassin();
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await pipeline?.close().catch(() => {});
    await (rspamd ?? (await rspamdStarting))?.stop().catch(() => {});
    sa.close();
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log(`\n${signal}: cleaning up ...`);
      void stop(130);
    });
  }
  try {
    pipeline = await startPipeline({ delaySec: DELAY_SEC, onResource: record });
    say(
      'setup',
      `p0f pid ${pipeline.p0f?.pid}, greyprint pid ${pipeline.greyprint.pid}, postfix pid ${pipeline.postfix.pid}`,
    );
    const ns = pipeline.lab;

    // 1. A Linux client.
    const linuxMail = { from: 'alice@linux.example', to: 'bob@mx.test', subject: 'Hello from Linux' };
    say(`linux ${CLIENT_LINUX}`, `swaks ${linuxMail.from} -> ${linuxMail.to}`);
    let mark = pipeline.greyprint.logs.length;
    const linuxAttempt = await sendMail(ns.linuxNs, CLIENT_LINUX, linuxMail);
    say('  p0f', fingerprint(pipeline, CLIENT_LINUX));
    say('  greyprint', await decisionSince(pipeline, CLIENT_LINUX, mark));
    say('  postfix', smtpOutcome(linuxAttempt));

    // 2. A Windows-looking client: greylisted.
    const windowsMail = { from: 'carol@windows.example', to: 'bob@mx.test', subject: 'Hello from Windows' };
    say(`windows ${CLIENT_XP}`, `swaks ${windowsMail.from} -> ${windowsMail.to}`);
    mark = pipeline.greyprint.logs.length;
    const first = await sendMail(ns.windowsNs, CLIENT_XP, windowsMail);
    say('  p0f', fingerprint(pipeline, CLIENT_XP));
    say('  greyprint', await decisionSince(pipeline, CLIENT_XP, mark));
    say('  postfix', smtpOutcome(first));

    // 3. The retry after the delay.
    say(
      '',
      dim(`... waiting ${DELAY_SEC + 1} s, as a real MTA retries later (a spam bot usually never does) ...`),
    );
    await new Promise((resolve) => setTimeout(resolve, (DELAY_SEC + 1) * 1000));
    say(`windows ${CLIENT_XP}`, 'retries the same message');
    mark = pipeline.greyprint.logs.length;
    const retry = await sendMail(ns.windowsNs, CLIENT_XP, windowsMail);
    say('  greyprint', await decisionSince(pipeline, CLIENT_XP, mark));
    say('  postfix', smtpOutcome(retry));

    // 4. What was delivered, and what the spam filters say.
    const mails = await pipeline.postfix.waitForMail('bob', 2, 20_000);
    const find = (subject: string): DeliveredMail | undefined =>
      mails.find((m) => m.header('subject').includes(subject));
    const delivered = [find(linuxMail.subject), find(windowsMail.subject)];
    rspamd = await rspamdStarting;
    const saResults = await sa.scan(delivered.map((m) => m?.text ?? ''));
    for (const [i, mail] of delivered.entries()) {
      const who = i === 0 ? `linux ${CLIENT_LINUX}` : `windows ${CLIENT_XP}`;
      say(who, `delivered with ${cyan(`X-P0f-OS: ${mail?.header('x-p0f-os')[0] ?? '(none)'}`)}`);
      say('  spamassassin', scoreLine('score', saResults[i]));
      say('  rspamd', rspamd && mail ? scoreLine('score', await rspamd.scan(mail.text)) : 'not running');
    }

    // 5. p0f down: fail open.
    await pipeline.stopP0f();
    say('server', yellow('p0f stopped'));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const downMail = { from: 'carol@windows.example', to: 'erin@mx.test', subject: 'p0f is down' };
    say(`windows ${CLIENT_XP}`, `swaks ${downMail.from} -> ${downMail.to}`);
    mark = pipeline.greyprint.logs.length;
    const down = await sendMail(ns.windowsNs, CLIENT_XP, downMail);
    say('  greyprint', await decisionSince(pipeline, CLIENT_XP, mark));
    say('  postfix', smtpOutcome(down));
    const [downDelivered] = await pipeline.postfix.waitForMail('erin', 1, 20_000);
    say('  delivered', `with ${cyan(`X-P0f-OS: ${downDelivered?.header('x-p0f-os')[0] ?? '(none)'}`)}`);

    const ok =
      linuxAttempt.accepted &&
      !first.accepted &&
      first.rcptReply.startsWith('450') &&
      retry.accepted &&
      down.accepted &&
      downDelivered?.header('x-p0f-os')[0] === 'unknown' &&
      delivered[1]?.header('x-p0f-os')[0]?.startsWith('Windows') === true &&
      saResults[1]?.rules.has(SYMBOL) === true &&
      saResults[0]?.rules.has(SYMBOL) === false;
    console.log(
      ok
        ? green(bold('demo finished: every step behaved as described'))
        : red(bold('demo: a step did not behave as described')),
    );
    await stop(ok ? 0 : 1);
  } catch (error) {
    console.error(red(`demo failed: ${(error as Error).stack ?? String(error)}`));
    await stop(1);
  }
}

void main();
