import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Rspamd, SYMBOL, spamAssassin, startRspamd } from './scanners.js';

function message(p0fHeaders: readonly string[], subject: string): string {
  return [
    ...p0fHeaders.map((value) => `X-P0f-OS: ${value}`),
    'Received: from client.example.org (client.example.org [192.0.2.10]) by mx.example.net (Postfix) with ESMTP id 4AB12; Thu, 1 Jan 2026 00:00:00 +0000',
    'From: Alice <alice@example.org>',
    'To: Bob <bob@example.net>',
    `Subject: ${subject}`,
    'Date: Thu, 1 Jan 2026 00:00:00 +0000',
    `Message-ID: <${subject.replace(/\W+/g, '.')}.20260101@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Hello Bob, the minutes of the meeting are below. Regards, Alice',
    '',
  ].join('\n');
}

/** [X-P0f-OS headers top to bottom, expected to score as desktop Windows] */
const cases: ReadonlyArray<readonly [readonly string[], boolean]> = [
  [['Windows XP'], true],
  [['Windows 7 or 8'], true],
  [['Windows NT kernel'], true],
  [['Windows 2000'], true],
  [['Windows Server 2019'], false],
  [['Windows NT kernel Server 2016'], false],
  // greyprint's qualifier for a Windows client it judged a mail server.
  [['Windows 7 or 8 (mail server: verified rDNS)'], false],
  [['Windows 7 or 8 (mail server: verified rDNS) [gp:abcdefgh12]'], false],
  [['Windows XP [gp:abcdefgh12]'], true],
  [['Linux 3.11 and newer'], false],
  [['Mac OS X'], false],
  [['unknown'], false],
  [[], false],
  // A client that forges the header below greyprint's: only the topmost counts.
  [['Linux 3.11 and newer', 'Windows XP'], false],
  [['Windows XP', 'Windows Server 2019'], true],
];
const messages = cases.map(([headers], i) =>
  message(headers, `case ${i} ${headers.join(' / ') || 'no header'}`),
);

describe('SpamAssassin rule contrib/spamassassin/greyprint.cf (Debian spamassassin)', () => {
  test('passes spamassassin --lint', async () => {
    const sa = spamAssassin();
    try {
      await sa.lint();
    } finally {
      sa.close();
    }
  });

  test('adds 2.5 for desktop Windows labels and nothing for Server, other OSes, unknown or a forged lower header', async () => {
    const sa = spamAssassin();
    try {
      const results = await sa.scan(messages);
      results.forEach((result, i) => {
        const [headers, desktop] = cases[i] as (typeof cases)[number];
        assert.equal(result.rules.get(SYMBOL), desktop ? 2.5 : undefined, `X-P0f-OS: ${headers.join(' / ')}`);
      });
      // The rule's score is part of the total SpamAssassin reports.
      for (const result of results) {
        const sum = [...result.rules.values()].reduce((a, b) => a + b, 0);
        assert.equal(Math.round(sum * 10) / 10, result.score);
      }
    } finally {
      sa.close();
    }
  });

  test('takes the score an operator sets in local.cf', async () => {
    const sa = spamAssassin(`score ${SYMBOL} 3.0\n`);
    try {
      const [xp, linux] = await sa.scan([messages[0] as string, messages[6] as string]);
      assert.equal(xp?.rules.get(SYMBOL), 3);
      assert.equal(linux?.rules.get(SYMBOL), undefined);
    } finally {
      sa.close();
    }
  });
});

describe('rspamd rule contrib/rspamd/greyprint.lua (Debian rspamd)', () => {
  let rspamd: Rspamd;

  before(async () => {
    rspamd = await startRspamd();
  });

  after(async () => {
    await rspamd?.stop();
  });

  test('adds GREYPRINT_DESKTOP_WINDOWS 2.5 for desktop Windows only, on the topmost header', async () => {
    for (const [i, [headers, desktop]] of cases.entries()) {
      const result = await rspamd.scan(messages[i] as string);
      assert.equal(result.rules.get(SYMBOL), desktop ? 2.5 : undefined, `X-P0f-OS: ${headers.join(' / ')}`);
    }
  });

  test('the symbol adds its score to the total', async () => {
    const windows = await rspamd.scan(message(['Windows XP'], 'same text'));
    const linux = await rspamd.scan(message(['Linux 3.11 and newer'], 'same text'));
    assert.equal(Math.round((windows.score - linux.score) * 100) / 100, 2.5);
  });
});

describe('rspamd score override as the install notes describe it (local.d/groups.conf)', () => {
  let rspamd: Rspamd;

  before(async () => {
    rspamd = await startRspamd({
      groupsConf: `group "greyprint" { symbols { "${SYMBOL}" { weight = 3.0; } } }\n`,
    });
  });

  after(async () => {
    await rspamd?.stop();
  });

  test('scores GREYPRINT_DESKTOP_WINDOWS with the operator weight', async () => {
    const result = await rspamd.scan(messages[0] as string);
    assert.equal(result.rules.get(SYMBOL), 3);
  });
});
