import assert from 'node:assert/strict';
import {
  type ChildProcess,
  type ChildProcessWithoutNullStreams,
  execFileSync,
  spawn,
} from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CLI, runCommand, runDenul, useCliTestDir } from './helpers.js';

const dir = useCliTestDir();

function writeFile(name: string, content: Buffer | string, mode = 0o644): string {
  const file = path.join(dir.path, name);
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
  return file;
}

function leftoverTempFiles(): string[] {
  return fs.readdirSync(dir.path).filter((name) => name.includes('.denul-'));
}

describe('denul -i replaces the file by its cleaned copy', () => {
  test('removes every NUL, keeps mode, owner and both timestamps, reports with --count', async () => {
    const file = writeFile('keep.log', Buffer.from('\0\0first\nsec\0ond\n\0'), 0o640);
    fs.chownSync(file, 65534, 65534);
    const atime = new Date('2020-02-03T04:05:06Z');
    const mtime = new Date('2021-03-04T05:06:07Z');
    fs.utimesSync(file, atime, mtime);
    const before = fs.statSync(file);
    const result = await runDenul(['-i', '--count', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.toString(), `${file}: removed 4 NUL bytes in 3 runs, 17 -> 13 bytes\n`);
    // Stat before reading: reading updates the access time.
    const after = fs.statSync(file);
    assert.equal(fs.readFileSync(file, 'latin1'), 'first\nsecond\n');
    assert.notEqual(after.ino, before.ino, 'a new inode (rename)');
    assert.equal(after.mode & 0o7777, 0o640);
    assert.equal(after.uid, 65534);
    assert.equal(after.gid, 65534);
    assert.equal(after.mtime.getTime(), mtime.getTime());
    assert.equal(after.atime.getTime(), atime.getTime());
    assert.deepEqual(leftoverTempFiles(), []);
  });

  test('leaves a file without NULs untouched: same inode, same mtime', async () => {
    const file = writeFile('clean.log', 'nothing to do\n');
    const before = fs.statSync(file);
    const result = await runDenul(['-i', '--count', file]);
    assert.equal(result.code, 0);
    assert.match(result.stdout.toString(), /no NUL bytes to remove, left untouched/);
    const after = fs.statSync(file);
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
  });

  test('cleans empty and all-NUL files, and NUL runs across chunk boundaries', async () => {
    const empty = writeFile('empty.log', '');
    const allNul = writeFile('allnul.log', Buffer.alloc(5000));
    const runs = writeFile(
      'runs.log',
      Buffer.concat([Buffer.from('ab'), Buffer.alloc(10), Buffer.from('cd')]),
    );
    const result = await runDenul(['-i', '--chunk-size', '4', empty, allNul, runs]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.statSync(empty).size, 0);
    assert.equal(fs.statSync(allNul).size, 0);
    assert.equal(fs.readFileSync(runs, 'latin1'), 'abcd');
  });

  test('--leading-only removes only the block at the start (copytruncate leftovers)', async () => {
    const file = writeFile('rotated.log', Buffer.concat([Buffer.alloc(65_536), Buffer.from('new\0line\n')]));
    const result = await runDenul(['-i', '--leading-only', '--chunk-size', '1000', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(fs.readFileSync(file), Buffer.from('new\0line\n'));
  });

  test('binary content other than NUL survives byte for byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 * 40 }, (_, i) => i % 256));
    const file = writeFile('binary.bin', bytes);
    const result = await runDenul(['-i', '--chunk-size', '100', file]);
    assert.equal(result.code, 0);
    assert.deepEqual(fs.readFileSync(file), Buffer.from(bytes.filter((b) => b !== 0)));
  });

  test('--same-inode --leading-only keeps the inode and the NULs after the first byte', async () => {
    const file = writeFile('same-leading.log', Buffer.concat([Buffer.alloc(10_000), Buffer.from('a\0b\n')]));
    const inode = fs.statSync(file).ino;
    const result = await runDenul(['-i', '--same-inode', '--leading-only', '--chunk-size', '999', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(fs.readFileSync(file), Buffer.from('a\0b\n'));
    assert.equal(fs.statSync(file).ino, inode);
  });
});

describe('denul -i keeps extended attributes and ACLs', () => {
  const xattrs = (file: string) =>
    execFileSync('/usr/bin/python3', [
      '-c',
      'import os, sys; print(sorted((n, os.getxattr(sys.argv[1], n).hex()) for n in os.listxattr(sys.argv[1])))',
      file,
    ]).toString();
  const acl = (file: string) =>
    execFileSync('getfacl', ['--omit-header', '--absolute-names', file]).toString();

  test('rename mode gives the cleaned copy the original extended attributes and POSIX ACL', async () => {
    const file = writeFile('attrs.log', Buffer.from('one\0\ntwo\0\n'), 0o640);
    execFileSync('/usr/bin/python3', [
      '-c',
      'import os, sys; os.setxattr(sys.argv[1], "user.origin", b"syslog\\x00bin")',
      file,
    ]);
    execFileSync('setfacl', ['-m', 'u:nobody:r,g:nogroup:rw', file]);
    const beforeXattrs = xattrs(file);
    const beforeAcl = acl(file);
    assert.match(beforeXattrs, /user\.origin/);
    assert.match(beforeAcl, /user:nobody:r--/);
    const before = fs.statSync(file);
    const result = await runDenul(['-i', file]);
    assert.equal(result.code, 0, result.stderr);
    const after = fs.statSync(file);
    assert.notEqual(after.ino, before.ino, 'a new inode (rename)');
    assert.equal(fs.readFileSync(file, 'latin1'), 'one\ntwo\n');
    assert.equal(xattrs(file), beforeXattrs);
    assert.equal(acl(file), beforeAcl);
    assert.equal(after.mode & 0o7777, before.mode & 0o7777);
    assert.deepEqual(leftoverTempFiles(), []);
  });

  test('when the attributes cannot be copied (no cp on PATH) the file is refused and left as it was', async () => {
    const content = Buffer.from('keep\0me\n');
    const file = writeFile('noattrs.log', content);
    const before = fs.statSync(file);
    const result = await runDenul(['-i', file], { env: { ...process.env, PATH: '/nonexistent' } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /cannot give the cleaned copy the extended attributes and ACLs of the original/,
    );
    assert.match(result.stderr, /--same-inode/);
    assert.deepEqual(fs.readFileSync(file), content);
    assert.equal(fs.statSync(file).ino, before.ino);
    assert.deepEqual(leftoverTempFiles(), []);
  });
});

describe('denul -i refuses what it cannot replace safely, and touches nothing', () => {
  test('a symbolic link: refused, names the target to clean instead; exit 1', async () => {
    const target = writeFile('target.log', 'a\0b');
    const link = path.join(dir.path, 'link.log');
    fs.symlinkSync(target, link);
    const result = await runDenul(['-i', link]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is a symbolic link.*denul -i .*target\.log/);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(fs.readFileSync(target, 'latin1'), 'a\0b');
  });

  test('not a regular file (a directory, a FIFO): refused; exit 1', async () => {
    const fifo = path.join(dir.path, 'fifo');
    await runCommand('mkfifo', [fifo]);
    for (const target of [dir.path, fifo]) {
      const result = await runDenul(['-i', target]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /is not a regular file/);
    }
  });

  test('a file with hard links: refused, since renaming would split the links; --same-inode cleans it', async () => {
    const file = writeFile('linked.log', 'x\0y\n');
    const other = path.join(dir.path, 'linked-other.log');
    fs.linkSync(file, other);
    const refused = await runDenul(['-i', file]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /has 2 hard links/);
    assert.equal(fs.readFileSync(file, 'latin1'), 'x\0y\n');
    const inode = fs.statSync(file).ino;
    const cleaned = await runDenul(['-i', '--same-inode', file]);
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.equal(fs.readFileSync(other, 'latin1'), 'xy\n');
    assert.equal(fs.statSync(file).ino, inode);
  });

  test('no write permission on the directory: refused before any work (run as nobody)', async () => {
    const locked = fs.mkdtempSync(path.join(dir.path, 'locked-'));
    const file = path.join(locked, 'app.log');
    fs.writeFileSync(file, 'a\0b');
    fs.chownSync(file, 65534, 65534);
    fs.chmodSync(locked, 0o755);
    fs.chmodSync(dir.path, 0o755);
    const result = await runDenul(['-i', file], { uid: 65534, gid: 65534 });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /no write permission on directory/);
    assert.equal(fs.readFileSync(file, 'latin1'), 'a\0b');
  });

  test('a file on another filesystem than its directory (bind mount): refused; --same-inode works', async () => {
    const source = writeFile('bind-source.log', 'in\0side\n');
    const mountPoint = writeFile('bind-target.log', 'hidden\n');
    const script = `mount --bind "$1" "$2" && node "$0" -i "$2"; echo "rc=$?"; node "$0" -i --same-inode "$2"; echo "rc=$?"`;
    const result = await runCommand('unshare', ['-m', 'sh', '-c', script, CLI, source, mountPoint]);
    assert.equal(result.stdout.toString(), 'rc=1\nrc=0\n', result.stderr);
    assert.match(result.stderr, /is a mount point/);
    assert.equal(fs.readFileSync(source, 'latin1'), 'inside\n');
    assert.equal(fs.readFileSync(mountPoint, 'latin1'), 'hidden\n');
  });

  test('no space left for the cleaned copy: clear error, original intact, no temp file; --same-inode needs no space', async () => {
    // A 1 MiB tmpfs in a private mount namespace holds the 700 KiB log but not a second copy.
    const script = `
      set -e
      mnt="$1"; mount -t tmpfs -o size=1m denul-test "$mnt"
      head -c 4096 /dev/zero > "$mnt/full.log"
      head -c 700000 /dev/urandom | tr -d '\\000' >> "$mnt/full.log"
      set +e
      node "$0" -i "$mnt/full.log"; echo "rc=$?"
      ls -a "$mnt" | grep -c denul || true
      stat -c %s "$mnt/full.log"
      node "$0" -i --same-inode "$mnt/full.log"; echo "rc=$?"
      node "$0" --check "$mnt/full.log"; echo "rc=$?"
    `;
    const mnt = fs.mkdtempSync(path.join(dir.path, 'tmpfs-'));
    const result = await runCommand('unshare', ['-m', 'sh', '-c', script, CLI, mnt]);
    const lines = result.stdout.toString().trim().split('\n');
    assert.equal(lines[0], 'rc=1', result.stderr);
    assert.equal(lines[1], '0', 'no temporary file left');
    assert.ok(Number(lines[2]) > 4096, 'original intact');
    assert.deepEqual(lines.slice(3), ['rc=0', 'rc=0']);
    assert.match(result.stderr, /no space left in .* for the cleaned copy; free space or use --same-inode/);
  });
});

/** Builds a file of `blocks` MiB of log lines with scattered NULs; returns the hash of its cleaned form. */
function writeBigLog(file: string, blocks: number): { cleaned: Buffer; size: number } {
  const line = Buffer.from('2012-08-14T00:00:00Z mx1 INFO postfix/smtpd[123]: connect from unknown\n');
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < block.length; i += line.length) line.copy(block, i);
  for (let i = 0; i < block.length; i += 5000) block[i] = 0;
  const cleanBlock = Buffer.from(block.filter((b) => b !== 0));
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, Buffer.alloc(4096));
  for (let i = 0; i < blocks; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);
  return { cleaned: cleanBlock, size: 4096 + blocks * block.length };
}

const APPENDER = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'a');
for (let n = 0; n < 150; n++) fs.writeSync(fd, 'appended line ' + n + '\\n');
process.stdout.write('done\\n');
process.stdin.once('data', () => {
  for (let i = 0; i < 10; i++) fs.writeSync(fd, 'late line ' + i + '\\n');
  fs.closeSync(fd);
  process.exit(0);
});
`;

/** Bytes a process has read so far, positioned reads included (/proc/PID/io rchar). */
function bytesRead(pid: number): number {
  const match = /^rchar: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

function hasOpen(pid: number, file: string): boolean {
  return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
    } catch {
      return false;
    }
  });
}

/**
 * Stops denul (SIGSTOP) once it has read 64 KiB of `file`: it is then certainly mid-run, so lines
 * appended before SIGCONT grow the file under it whatever the load on the machine. Polls at most 20 s.
 */
async function pauseMidRun(denul: ChildProcess, file: string): Promise<void> {
  const pid = denul.pid as number;
  let readAtOpen: number | undefined;
  for (let i = 0; i < 4000; i++) {
    if (readAtOpen === undefined && hasOpen(pid, file)) readAtOpen = bytesRead(pid);
    if (readAtOpen !== undefined && bytesRead(pid) - readAtOpen >= 64 * 1024) {
      denul.kill('SIGSTOP');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`denul did not start reading ${file} within 20 s`);
}

interface AppendRun {
  denulExitedAt: number;
  appenderDoneAt: number;
  denulCode: number | null;
  denulStdout: string;
  denulStderr: string;
  finishAppender: () => Promise<void>;
}

/** Runs denul -i on `file`; mid-run another process appends 150 lines through a descriptor it keeps open. */
async function cleanWhileAppending(file: string, extra: string[]): Promise<AppendRun> {
  const denul = spawn(process.execPath, [CLI, '-i', '--count', '--chunk-size', '16k', ...extra, file]);
  let denulStdout = '';
  let denulStderr = '';
  denul.stdout.on('data', (d: Buffer) => {
    denulStdout += d.toString();
  });
  denul.stderr.on('data', (d: Buffer) => {
    denulStderr += d.toString();
  });
  let appender: ChildProcessWithoutNullStreams | undefined;
  try {
    const denulExit = new Promise<[number | null, number]>((resolve) =>
      denul.on('close', (code) => resolve([code, Date.now()])),
    );
    await pauseMidRun(denul, file);
    const started = spawn(process.execPath, ['-e', APPENDER, file]);
    appender = started;
    const appenderDoneAt = await new Promise<number>((resolve) =>
      started.stdout.once('data', () => resolve(Date.now())),
    );
    denul.kill('SIGCONT');
    const [denulCode, denulExitedAt] = await denulExit;
    const appenderExit = new Promise<void>((resolve) => started.on('close', () => resolve()));
    return {
      denulExitedAt,
      appenderDoneAt,
      denulCode,
      denulStdout,
      denulStderr,
      finishAppender: async () => {
        started.stdin.write('go\n');
        await appenderExit;
      },
    };
  } catch (error) {
    denul.kill('SIGKILL');
    appender?.kill();
    throw error;
  }
}

function hashOf(parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

function expectedAfterAppend(cleanBlock: Buffer, blocks: number, lines: string[]): string {
  return hashOf([...Array.from({ length: blocks }, () => cleanBlock), Buffer.from(lines.join(''))]);
}

describe('a program appending while denul -i runs', () => {
  const blocks = 192;
  const early = Array.from({ length: 150 }, (_, i) => `appended line ${i}\n`);
  const late = Array.from({ length: 10 }, (_, i) => `late line ${i}\n`);

  test('rename mode carries every appended line over, cleaned; later writes through the old descriptor miss the new file (the documented caveat)', async () => {
    const file = path.join(dir.path, 'busy.log');
    const { cleaned } = writeBigLog(file, blocks);
    const run = await cleanWhileAppending(file, []);
    try {
      assert.equal(run.denulCode, 0, run.denulStderr);
      assert.ok(run.appenderDoneAt < run.denulExitedAt, 'the appender finished before denul did');
      assert.match(run.denulStdout, /carried over \d+ appended bytes/);
      const content = fs.readFileSync(file);
      assert.equal(content.indexOf(0), -1, 'no NUL left');
      assert.equal(hashOf([content]), expectedAfterAppend(cleaned, blocks, early));
    } finally {
      await run.finishAppender();
    }
    // The appender kept its descriptor: its late lines went to the replaced inode, not to the file.
    assert.equal(fs.readFileSync(file, 'latin1').includes('late line'), false);
    assert.deepEqual(leftoverTempFiles(), []);
  });

  test('--same-inode carries appended lines over and the writer keeps writing into the same file', async () => {
    const file = path.join(dir.path, 'busy-same.log');
    const { cleaned } = writeBigLog(file, blocks);
    const inode = fs.statSync(file).ino;
    const run = await cleanWhileAppending(file, ['--same-inode']);
    try {
      assert.equal(run.denulCode, 0, run.denulStderr);
      assert.ok(run.appenderDoneAt < run.denulExitedAt, 'the appender finished before denul did');
    } finally {
      await run.finishAppender();
    }
    const content = fs.readFileSync(file);
    assert.equal(content.indexOf(0), -1, 'no NUL left');
    assert.equal(hashOf([content]), expectedAfterAppend(cleaned, blocks, [...early, ...late]));
    assert.equal(fs.statSync(file).ino, inode);
  });
});

describe('interrupting denul -i', () => {
  test('SIGTERM removes the temporary file, leaves the original as it was and ends by the signal', async () => {
    const file = path.join(dir.path, 'interrupted.log');
    writeBigLog(file, 128);
    const before = hashOf([fs.readFileSync(file)]);
    const denul = spawn(process.execPath, [CLI, '-i', '--chunk-size', '4k', file]);
    const closed = new Promise<NodeJS.Signals | null>((resolve) =>
      denul.on('close', (_code, signal) => resolve(signal)),
    );
    // Wait until the cleaned copy exists, then interrupt.
    for (let i = 0; i < 200 && leftoverTempFiles().length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(leftoverTempFiles().length, 1, 'denul created its temporary file');
    denul.kill('SIGTERM');
    assert.equal(await closed, 'SIGTERM');
    assert.deepEqual(leftoverTempFiles(), []);
    assert.equal(hashOf([fs.readFileSync(file)]), before);
  });
});
