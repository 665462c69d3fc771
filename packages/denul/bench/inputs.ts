import fs from 'node:fs';

/**
 * The inputs of the density bench, generated from a seeded generator so that a re-run measures
 * the same bytes. Text is syslog/postfix/nginx-style lines; NULs appear as the cases describe.
 */
export interface InputCase {
  name: string;
  /** What the file holds, for the printed table. */
  description: string;
  write(path: string, bytes: number): void;
}

/** xorshift32: small, fast and reproducible (crypto randomness would make every run differ). */
function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const MESSAGES = [
  'postfix/smtpd[%]: connect from unknown[203.0.113.%]',
  'postfix/smtpd[%]: NOQUEUE: reject: RCPT from unknown[198.51.100.%]: 450 4.2.0 Greylisted',
  'postfix/cleanup[%]: 4F2A1%: message-id=<%.%@example.org>',
  'dovecot: imap-login: Login: user=<user%@example.com>, method=PLAIN, rip=192.0.2.%',
  'kernel: [%.%] EXT4-fs warning (device vda1): ext4_dx_add_entry:% Directory index full!',
  'nginx: 192.0.2.% - - "GET /api/v1/items/% HTTP/1.1" 200 % "-" "curl/7.88.1"',
];
const HOSTS = ['mx1', 'mx2', 'web3', 'db1'];
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];

interface LinePool {
  text: Buffer;
  /** Offset just past each line's newline. */
  lineEnds: number[];
}

const POOL_BYTES = 8 * 1024 * 1024;

function linePool(random: () => number): LinePool {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const lines: string[] = [];
  const lineEnds: number[] = [];
  let size = 0;
  let second = 0;
  while (size < POOL_BYTES) {
    second += Math.floor(random() * 3);
    const time = new Date(Date.UTC(2012, 7, 14, 0, 0, second)).toISOString();
    const message = pick(MESSAGES).replace(/%/g, () => String(Math.floor(random() * 100000)));
    const line = `${time} ${pick(HOSTS)} ${pick(LEVELS)} ${message}\n`;
    lines.push(line);
    size += line.length;
    lineEnds.push(size);
  }
  return { text: Buffer.from(lines.join(''), 'latin1'), lineEnds };
}

/** Buffers writes into 4 MiB blocks: one system call per block, not per line. */
class BlockWriter {
  private readonly block = Buffer.allocUnsafe(4 * 1024 * 1024);
  private used = 0;
  written = 0;
  constructor(
    private readonly fd: number,
    private readonly limit: number,
  ) {}

  get full(): boolean {
    return this.written >= this.limit;
  }

  add(bytes: Buffer, start = 0, end = bytes.length): void {
    let at = start;
    while (at < end && !this.full) {
      const n = Math.min(end - at, this.block.length - this.used, this.limit - this.written);
      bytes.copy(this.block, this.used, at, at + n);
      this.used += n;
      this.written += n;
      at += n;
      if (this.used === this.block.length) this.flush();
    }
  }

  zeros(count: number): void {
    let left = Math.min(count, this.limit - this.written);
    while (left > 0) {
      const n = Math.min(left, this.block.length - this.used);
      this.block.fill(0, this.used, this.used + n);
      this.used += n;
      this.written += n;
      left -= n;
      if (this.used === this.block.length) this.flush();
    }
  }

  flush(): void {
    let at = 0;
    while (at < this.used) at += fs.writeSync(this.fd, this.block, at, this.used - at);
    this.used = 0;
  }
}

/**
 * Lines from the pool, in order from a random start, with a NUL run (1 to `maxRun` bytes) after
 * each line with probability `perLine` (0: none).
 */
function writeLinesWithRuns(
  path: string,
  bytes: number,
  seed: number,
  perLine: number,
  maxRun: number,
): void {
  const random = seededRandom(seed);
  const pool = linePool(random);
  const fd = fs.openSync(path, 'w');
  try {
    const out = new BlockWriter(fd, bytes);
    let line = Math.floor(random() * pool.lineEnds.length);
    while (!out.full) {
      // Lines until the next run: geometric with parameter perLine, drawn once per run.
      const gap =
        perLine > 0 ? Math.floor(Math.log(1 - random()) / Math.log(1 - perLine)) : Number.POSITIVE_INFINITY;
      let left = gap;
      while (left > 0 && !out.full) {
        const start = line === 0 ? 0 : (pool.lineEnds[line - 1] as number);
        const last = Math.min(pool.lineEnds.length - 1, line + Math.min(left, 1e6) - 1);
        out.add(pool.text, start, pool.lineEnds[last] as number);
        left -= last - line + 1;
        line = (last + 1) % pool.lineEnds.length;
      }
      if (perLine > 0) out.zeros(1 + Math.floor(random() * maxRun));
    }
    out.flush();
  } finally {
    fs.closeSync(fd);
  }
}

function writeEveryOtherNul(path: string, bytes: number, seed: number): void {
  const pool = linePool(seededRandom(seed));
  const half = Math.min(pool.text.length, 4 * 1024 * 1024);
  const pattern = Buffer.alloc(2 * half);
  for (let i = 0; i < half; i++) pattern[2 * i] = pool.text[i] as number;
  const fd = fs.openSync(path, 'w');
  try {
    const out = new BlockWriter(fd, bytes);
    while (!out.full) out.add(pattern);
    out.flush();
  } finally {
    fs.closeSync(fd);
  }
}

/** A hole of `holeBytes` (no disk blocks, reads as NULs), then text up to `bytes`. */
function writeHoleThenText(path: string, bytes: number, holeBytes: number, seed: number): void {
  const textPath = `${path}.text`;
  writeLinesWithRuns(textPath, bytes - holeBytes, seed, 0, 0);
  const fd = fs.openSync(path, 'w');
  try {
    fs.ftruncateSync(fd, holeBytes);
    const text = fs.openSync(textPath, 'r');
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    let position = holeBytes;
    for (let n = fs.readSync(text, buf); n > 0; n = fs.readSync(text, buf)) {
      position += fs.writeSync(fd, buf, 0, n, position);
    }
    fs.closeSync(text);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(textPath, { force: true });
  }
}

export const TEXT_CASES: InputCase[] = [
  {
    name: 'no-nul',
    description: 'log lines, no NUL at all',
    write: (path, bytes) => writeLinesWithRuns(path, bytes, 1, 0, 0),
  },
  {
    name: 'leading-block',
    description: 'one NUL block (a hole, 1/4 of the file) at the start, then lines (copytruncate)',
    write: (path, bytes) => writeHoleThenText(path, bytes, Math.floor(bytes / 4), 2),
  },
  {
    name: 'sparse-runs',
    description: 'a NUL run of 1 B-4 KiB after 0.01 % of lines (about one per MiB)',
    write: (path, bytes) => writeLinesWithRuns(path, bytes, 3, 0.0001, 4096),
  },
  {
    name: 'dense-runs',
    description: 'a NUL run of 1 B-4 KiB after 0.2 % of lines (about 20 per MiB, ~4 % NUL)',
    write: (path, bytes) => writeLinesWithRuns(path, bytes, 4, 0.002, 4096),
  },
  {
    name: 'every-other',
    description: 'every other byte a NUL (50 %)',
    write: (path, bytes) => writeEveryOtherNul(path, bytes, 5),
  },
];

export const SPARSE_FILE_CASE: InputCase = {
  name: 'sparse-file',
  description: 'a sparse file: one hole, then one line (mostly NUL)',
  write(path, bytes) {
    const line = Buffer.from('2012-08-14T00:00:00.000Z mx1 INFO the only line after the hole\n');
    const fd = fs.openSync(path, 'w');
    try {
      fs.ftruncateSync(fd, bytes - line.length);
      fs.writeSync(fd, line, 0, line.length, bytes - line.length);
    } finally {
      fs.closeSync(fd);
    }
  },
};
