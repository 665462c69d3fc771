import { randomInt } from 'node:crypto';
import fs from 'node:fs';

/**
 * Writes a log that looks like the seed's problem: ordinary syslog-style lines with NUL runs where
 * a disk filled up or a writer kept its offset after truncation. Short runs are common, block-sized
 * runs (4 KiB) less so, and a few megabyte-sized holes appear, like after a copytruncate.
 */
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'] as const;
const HOSTS = ['mx1', 'mx2', 'web3', 'db1'] as const;
const MESSAGES = [
  'postfix/smtpd[%]: connect from unknown[203.0.113.%]',
  'postfix/smtpd[%]: NOQUEUE: reject: RCPT from unknown[198.51.100.%]: 450 4.2.0 Greylisted',
  'postfix/cleanup[%]: 4F2A1%: message-id=<%.%@example.org>',
  'dovecot: imap-login: Login: user=<user%@example.com>, method=PLAIN, rip=192.0.2.%',
  'kernel: [%.%] EXT4-fs warning (device vda1): ext4_dx_add_entry:% Directory index full!',
  'nginx: 192.0.2.% - - "GET /api/v1/items/% HTTP/1.1" 200 % "-" "curl/7.88.1"',
] as const;

function pick<T>(items: readonly T[]): T {
  return items[randomInt(items.length)] as T;
}

function linePool(bytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  let second = 0;
  while (size < bytes) {
    second += randomInt(3);
    const time = new Date(Date.UTC(2012, 7, 14, 0, 0, second)).toISOString();
    const message = pick(MESSAGES).replace(/%/g, () => String(randomInt(100000)));
    const line = `${time} ${pick(HOSTS)} ${pick(LEVELS)} ${message}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''), 'latin1');
}

function nulRunLength(): number {
  const roll = randomInt(1000);
  if (roll < 2) return 1024 * 1024 + randomInt(1024 * 1024);
  if (roll < 100) return 4096 * (1 + randomInt(4));
  return 1 + randomInt(512);
}

/** Creates `path` with `totalBytes` bytes; returns how many of them are NUL. */
export function generateLog(path: string, totalBytes: number): number {
  const pool = linePool(16 * 1024 * 1024);
  const zeros = Buffer.alloc(2 * 1024 * 1024 + 16 * 1024);
  const fd = fs.openSync(path, 'w');
  let written = 0;
  let nuls = 0;
  try {
    while (written < totalBytes) {
      // A stretch of text from a random place in the pool, then a NUL run.
      const textLength = Math.min(32 * 1024 + randomInt(512 * 1024), totalBytes - written);
      const start = randomInt(pool.length - textLength);
      written += fs.writeSync(fd, pool, start, textLength);
      if (written >= totalBytes) break;
      const run = Math.min(nulRunLength(), totalBytes - written);
      written += fs.writeSync(fd, zeros, 0, run);
      nuls += run;
    }
  } finally {
    fs.closeSync(fd);
  }
  return nuls;
}
