import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type RunningDaemon, startServe } from '../helpers/daemon.js';
import { type PostfixInstance, startPostfix } from '../helpers/postfix.js';

const run = promisify(execFile);
const SECRET = 'k3yF0rTests';

async function send(mta: PostfixInstance, to: string[], forged?: string): Promise<void> {
  await run('swaks', [
    '--server',
    `${mta.host}:${mta.port}`,
    '--from',
    'sender@example.org',
    '--to',
    to.map((t) => `${t}@${mta.domain}`).join(','),
    ...(forged === undefined ? [] : ['--add-header', `X-P0f-OS: ${forged}`]),
    '--body',
    'hello',
  ]);
}

async function useHeaderChecks(mta: PostfixInstance, rules: string): Promise<void> {
  const file = join(mta.configDir, 'gpc_header_checks');
  writeFileSync(file, rules);
  await run('postconf', ['-c', mta.configDir, `header_checks=regexp:${file}`]);
  await run('postfix', ['-c', mta.configDir, 'reload']);
}

/**
 * The README's claims about forged headers, checked against a real Postfix:
 * PREPENDed headers pass through header_checks like the client's own, so a
 * plain IGNORE rule would drop greyprint's header too; the secret marker lets
 * header_checks keep greyprint's header and drop forged ones.
 */
describe('X-P0f-OS through a real Postfix', () => {
  let plain: RunningDaemon;
  let marked: RunningDaemon;
  let mtaPlain: PostfixInstance;
  let mtaMarked: PostfixInstance;

  before(async () => {
    plain = await startServe(['--os-static', '127.0.0.0/8=Linux 3.11 and newer']);
    marked = await startServe(['--os-static', '127.0.0.0/8=Windows 7 or 8', '--header-secret', SECRET]);
    mtaPlain = await startPostfix({ policy: `inet:${plain.address}`, policyAtData: true });
    mtaMarked = await startPostfix({ policy: `inet:${marked.address}`, policyAtData: true });
  });
  after(async () => {
    await mtaPlain?.stop();
    await mtaMarked?.stop();
    await plain?.stop();
    await marked?.stop();
  });

  test('adds the header once to a message with two recipients, above the forged one', async () => {
    await send(mtaPlain, ['alice', 'bob'], 'Windows Server 2019');
    const [mail] = await mtaPlain.waitForMail('alice', 1);
    assert.ok(mail);
    assert.deepEqual(mail.header('x-p0f-os'), ['Linux 3.11 and newer', 'Windows Server 2019']);
    // The daemon's header comes before smtpd's Received: line; a forged one after it.
    assert.ok(mail.text.indexOf('X-P0f-OS: Linux') < mail.text.indexOf('Received:'));
    assert.ok(mail.text.indexOf('X-P0f-OS: Windows Server') > mail.text.indexOf('Received:'));
  });

  test('a plain IGNORE rule in header_checks removes greyprint header as well', async () => {
    await useHeaderChecks(mtaPlain, '/^X-P0f-OS:/ IGNORE\n');
    await send(mtaPlain, ['carol'], 'Windows Server 2019');
    const [mail] = await mtaPlain.waitForMail('carol', 1);
    assert.deepEqual(mail?.header('x-p0f-os'), []);
  });

  test('with the secret marker, header_checks keep greyprint header (unmarked) and drop the forged one', async () => {
    await useHeaderChecks(
      mtaMarked,
      `/^X-P0f-OS: (.*) \\[gp:${SECRET}\\]$/ REPLACE X-P0f-OS: $1\n/^X-P0f-OS:/ IGNORE\n`,
    );
    await send(mtaMarked, ['dave', 'erin'], `Linux 3.11 and newer [gp:wrongsecret]`);
    const [mail] = await mtaMarked.waitForMail('dave', 1);
    assert.ok(mail);
    // Postfix names 127.0.0.1 `localhost` (forward-confirmed, not a dynamic pool),
    // so the desktop test calls this Windows client a mail server.
    assert.deepEqual(mail.header('x-p0f-os'), ['Windows 7 or 8 (mail server: verified rDNS)'], mail.text);
    assert.equal(mail.text.includes(SECRET), false);
  });
});
