import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createNulState, type NulMode, type NulState } from '../core/state.js';
import { nothingMoreToRemove, type StripEngine } from '../core/strip.js';
import { copyExtendedAttributes } from './attributes.js';
import { DenulFileError, errnoCode, fileErrorFrom, InterruptedError } from './errors.js';
import { readChunk, writeAll } from './fd-io.js';
import { isMountPoint } from './mounts.js';
import { pump } from './pump.js';

export interface InPlaceOptions {
  mode: NulMode;
  buffer: Buffer;
  /** How chunks are searched (the kernel, if any, owns `buffer`); default JavaScript only. */
  engine?: StripEngine;
  /** Rewrite inside the same inode instead of renaming a cleaned copy over the file. */
  sameInode: boolean;
  /** Called after each chunk with input bytes done; may throw to stop (signals). */
  afterChunk: (done: number, state: NulState) => void;
  /** Non-fatal notes for the operator (file restarted after truncation ...). */
  warn: (message: string) => void;
  /** Size of the file when the run started, for progress. */
  onStart?: (size: number) => void;
}

export interface InPlaceReport {
  file: string;
  state: NulState;
  /** False when the file held nothing to remove and was left untouched. */
  changed: boolean;
  /** Bytes a writer appended while we cleaned, carried over into the result. */
  appendedBytes: number;
  /** Copy passes: 1, plus one per batch of appended bytes carried over. */
  passes: number;
}

/** A writer appending faster than we clean would keep us chasing forever. */
const MAX_PASSES = 10_000;
/** Truncation while cleaning (copytruncate) restarts the job; this bounds the restarts. */
const MAX_RESTARTS = 3;
/** Bytes re-read before the current offset to notice a truncate-and-rewrite between passes. */
const SAMPLE_BYTES = 4096;

class TruncatedDuringRun extends Error {}

function refuse(code: DenulFileError['code'], file: string, message: string): never {
  throw new DenulFileError(code, file, `${file}: ${message}`);
}

/** Checks that do not need to open the file: type, links, owner, directory. */
function preflight(file: string, sameInode: boolean): fs.Stats {
  let lst: fs.Stats;
  try {
    lst = fs.lstatSync(file);
  } catch (error) {
    throw fileErrorFrom(error, file, 'reading its status');
  }
  if (lst.isSymbolicLink()) {
    let target = '(dangling)';
    try {
      target = fs.realpathSync(file);
    } catch {
      // keep the placeholder
    }
    refuse(
      'refused-symlink',
      file,
      `is a symbolic link; cleaning in place would replace the link by a regular file. Clean its target instead: denul -i ${target}`,
    );
  }
  if (!lst.isFile()) {
    refuse('refused-not-regular', file, 'is not a regular file; only regular files can be cleaned in place');
  }
  if (lst.nlink > 1 && !sameInode) {
    refuse(
      'refused-hard-links',
      file,
      `has ${lst.nlink} hard links; renaming a cleaned copy over this name would leave the other names with the old content. Use --same-inode to rewrite the file inside its inode`,
    );
  }
  const uid = process.getuid?.() ?? 0;
  if (!sameInode && uid !== 0 && lst.uid !== uid) {
    refuse(
      'refused-owner',
      file,
      `is owned by uid ${lst.uid}; a cleaned copy would be owned by you (uid ${uid}). Run as its owner or root, or use --same-inode`,
    );
  }
  if (!sameInode && isMountPoint(fs.realpathSync(file))) {
    refuse(
      'refused-other-filesystem',
      file,
      'is a mount point (bind-mounted file): it is on a different filesystem than its directory and a rename cannot replace it. Use --same-inode',
    );
  }
  if (!sameInode) {
    const dir = path.dirname(file);
    try {
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    } catch {
      refuse(
        'refused-directory-not-writable',
        file,
        `cannot create the cleaned copy: no write permission on directory ${dir}. Use --same-inode (needs write permission on the file only)`,
      );
    }
  }
  return lst;
}

/** Reads the raw bytes just before `offset`, to compare them later. */
async function sampleBefore(fd: number, offset: number): Promise<Buffer> {
  const length = Math.min(SAMPLE_BYTES, offset);
  const sample = Buffer.allocUnsafe(length);
  const n = await readChunk(fd, sample, 0, length, offset - length);
  return sample.subarray(0, n);
}

/** True when the file still holds `sample` right before `offset` and is at least `offset` long. */
async function unchangedBefore(fd: number, offset: number, sample: Buffer): Promise<boolean> {
  if (fs.fstatSync(fd).size < offset) return false;
  const now = await sampleBefore(fd, offset);
  return now.equals(sample);
}

async function findFirstRemoval(fd: number, options: InPlaceOptions): Promise<NulState> {
  const { afterChunk } = options;
  const scan = createNulState(options.mode);
  await pump({
    inputFd: fd,
    inputPosition: 0,
    sink: null,
    state: scan,
    buffer: options.buffer,
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    stopWhen: (s) => s.removed > 0 || nothingMoreToRemove(s),
    afterChunk: (s) => afterChunk(s.bytesIn, s),
  });
  return scan;
}

/** Copies `[from, to)` unchanged: the part before the first NUL needs no inspection. */
async function copyRaw(inFd: number, outFd: number, from: number, to: number, buffer: Buffer): Promise<void> {
  let at = from;
  while (at < to) {
    const n = await readChunk(inFd, buffer, 0, Math.min(buffer.length, to - at), at);
    if (n === 0) throw new TruncatedDuringRun();
    await writeAll(outFd, buffer, 0, n, at);
    at += n;
  }
}

function stateFrom(mode: NulMode, offset: number): NulState {
  // Everything before `offset` is known to hold nothing to remove: continue as if it was processed.
  const state = createNulState(mode);
  state.bytesIn = offset;
  state.bytesOut = offset;
  if (mode === 'leading' && offset > 0) state.leadingDone = true;
  return state;
}

/**
 * Cleans and carries over appended bytes until the file size stays where our reading stopped.
 * Returns the input offset reached; throws TruncatedDuringRun when the file shrank or was rewritten.
 */
async function catchUp(
  file: string,
  inFd: number,
  outFd: number,
  startOffset: number,
  outStart: number,
  state: NulState,
  options: InPlaceOptions,
  progressBase: { passes: number },
): Promise<{ offset: number; outOffset: number }> {
  let offset = startOffset;
  let outOffset = outStart;
  let sample = await sampleBefore(inFd, offset);
  for (;;) {
    const size = fs.fstatSync(inFd).size;
    if (size < offset || !(await unchangedBefore(inFd, offset, sample))) throw new TruncatedDuringRun();
    if (size === offset) return { offset, outOffset };
    if (++progressBase.passes > MAX_PASSES) {
      throw new DenulFileError(
        'keeps-growing',
        file,
        `${file}: kept growing through ${MAX_PASSES} passes; stop or slow down its writer and run again`,
      );
    }
    const result = await pump({
      inputFd: inFd,
      inputPosition: offset,
      limit: size - offset,
      sink: { fd: outFd, position: outOffset },
      state,
      buffer: options.buffer,
      ...(options.engine === undefined ? {} : { engine: options.engine }),
      afterChunk: (s) => options.afterChunk(s.bytesIn, s),
    });
    offset += result.bytesRead;
    outOffset = result.sinkPosition ?? outOffset;
    sample = await sampleBefore(inFd, offset);
  }
}

function fsyncDirectory(dir: string): void {
  let dirFd: number | null = null;
  try {
    dirFd = fs.openSync(dir, 'r');
    fs.fsyncSync(dirFd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself has happened.
  } finally {
    if (dirFd !== null) fs.closeSync(dirFd);
  }
}

function tempNameFor(file: string): string {
  const dir = path.dirname(file);
  return path.join(dir, `.${path.basename(file)}.denul-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function renameMode(file: string, lst: fs.Stats, options: InPlaceOptions): Promise<InPlaceReport> {
  const inFd = fs.openSync(file, 'r');
  let tempPath: string | null = null;
  let outFd: number | null = null;
  try {
    const st = fs.fstatSync(inFd);
    if (st.ino !== lst.ino || st.dev !== lst.dev) {
      throw new DenulFileError(
        'replaced-while-cleaning',
        file,
        `${file}: was replaced while being opened; run again`,
      );
    }
    options.onStart?.(st.size);
    const scan = await findFirstRemoval(inFd, options);
    if (scan.removed === 0) {
      return { file, state: scan, changed: false, appendedBytes: 0, passes: 1 };
    }
    const firstNul = scan.firstNulOffset;
    tempPath = tempNameFor(file);
    outFd = fs.openSync(tempPath, 'wx', 0o600);
    const tempStat = fs.fstatSync(outFd);
    if (tempStat.dev !== st.dev) {
      refuse(
        'refused-other-filesystem',
        file,
        `is on a different filesystem than its directory (a bind mount?); a rename cannot replace it. Use --same-inode`,
      );
    }
    await copyRaw(inFd, outFd, 0, firstNul, options.buffer);
    const state = stateFrom(options.mode, firstNul);
    const passes = { passes: 0 };
    let { offset, outOffset } = await catchUp(file, inFd, outFd, firstNul, firstNul, state, options, passes);
    for (;;) {
      const final = fs.fstatSync(inFd);
      fs.fsyncSync(outFd);
      try {
        fs.fchownSync(outFd, final.uid, final.gid);
      } catch (error) {
        refuse(
          'refused-owner',
          file,
          `cannot give the cleaned copy owner ${final.uid}:${final.gid} (${errnoCode(error)})`,
        );
      }
      // After chown: chown clears set-id bits, chmod puts them back.
      fs.fchmodSync(outFd, final.mode & 0o7777);
      // ACLs, extended attributes and the SELinux label; a copy that would lose them is refused.
      const lost = copyExtendedAttributes(file, tempPath);
      if (lost !== undefined) {
        refuse(
          'refused-attributes',
          file,
          `cannot give the cleaned copy the extended attributes and ACLs of the original (${lost}). Use --same-inode (keeps them)`,
        );
      }
      // Keep the writer's last modification time: cleaning is maintenance, not new log content,
      // and age-based rotation or cleanup (find -mtime, logrotate maxage) must see the real age.
      // The access time is the one from before our own reading touched it.
      fs.futimesSync(outFd, st.atimeMs / 1000, final.mtimeMs / 1000);
      fs.fsyncSync(outFd);
      // Bytes appended while we set the metadata go through one more pass.
      const again = await catchUp(file, inFd, outFd, offset, outOffset, state, options, passes);
      if (again.offset === offset) break;
      ({ offset, outOffset } = again);
    }
    const current = fs.lstatSync(file);
    if (current.ino !== st.ino || current.dev !== st.dev) {
      throw new DenulFileError(
        'replaced-while-cleaning',
        file,
        `${file}: was renamed or replaced while being cleaned (log rotation?); left it alone, run again`,
      );
    }
    fs.renameSync(tempPath, file);
    tempPath = null;
    fsyncDirectory(path.dirname(file));
    return { file, state, changed: true, appendedBytes: offset - st.size, passes: passes.passes };
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EXDEV' || code === 'EBUSY') {
      throw new DenulFileError(
        'refused-other-filesystem',
        file,
        `${file}: the cleaned copy cannot be renamed over it (${code}: a mount point or another filesystem); left it as it is. Use --same-inode`,
        error,
      );
    }
    if (code === 'ENOSPC') {
      throw new DenulFileError(
        'refused-no-space',
        file,
        `${file}: no space left in ${path.dirname(file)} for the cleaned copy; free space or use --same-inode (needs no extra space)`,
        error,
      );
    }
    throw error;
  } finally {
    if (outFd !== null) fs.closeSync(outFd);
    fs.closeSync(inFd);
    if (tempPath !== null) fs.rmSync(tempPath, { force: true });
  }
}

/**
 * Rewrites the file inside its own inode: cleaned bytes are written back behind the read
 * position (they are never longer than what was read), then the file is cut to its new length.
 * Writers holding the file open (O_APPEND) and other hard links keep seeing the same file.
 */
async function sameInodeMode(file: string, options: InPlaceOptions): Promise<InPlaceReport> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch (error) {
    throw fileErrorFrom(error, file, 'opening it for writing');
  }
  try {
    const st = fs.fstatSync(fd);
    options.onStart?.(st.size);
    const scan = await findFirstRemoval(fd, options);
    if (scan.removed === 0) {
      return { file, state: scan, changed: false, appendedBytes: 0, passes: 1 };
    }
    const firstNul = scan.firstNulOffset;
    const state = stateFrom(options.mode, firstNul);
    const passes = { passes: 0 };
    let offset = firstNul;
    let outOffset = firstNul;
    for (;;) {
      ({ offset, outOffset } = await catchUp(file, fd, fd, offset, outOffset, state, options, passes));
      const before = fs.fstatSync(fd);
      if (before.size !== offset) continue;
      // The window between this last look and the cut is the only moment an append can be lost.
      fs.ftruncateSync(fd, outOffset);
      fs.futimesSync(fd, st.atimeMs / 1000, before.mtimeMs / 1000);
      break;
    }
    fs.fsyncSync(fd);
    return { file, state, changed: true, appendedBytes: offset - st.size, passes: passes.passes };
  } finally {
    fs.closeSync(fd);
  }
}

/** Cleans one file in place; see the README's "In-place safety model". */
export async function cleanInPlace(file: string, options: InPlaceOptions): Promise<InPlaceReport> {
  for (let attempt = 0; ; attempt++) {
    const lst = preflight(file, options.sameInode);
    try {
      return options.sameInode ? await sameInodeMode(file, options) : await renameMode(file, lst, options);
    } catch (error) {
      if (error instanceof TruncatedDuringRun) {
        if (attempt + 1 >= MAX_RESTARTS) {
          throw new DenulFileError(
            'truncated-while-cleaning',
            file,
            `${file}: was truncated or rewritten while being cleaned, ${MAX_RESTARTS} times; left it as it is`,
          );
        }
        options.warn(`${file}: was truncated while being cleaned (copytruncate rotation?); starting over`);
        continue;
      }
      if (error instanceof InterruptedError) throw error;
      if (error instanceof DenulFileError) throw error;
      throw fileErrorFrom(error, file, 'cleaning it in place');
    }
  }
}
