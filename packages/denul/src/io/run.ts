import fs from 'node:fs';
import { createNulKernel } from '../core/nul-kernel.js';
import type { DenulOptions } from '../core/options.js';
import { type FileOutcome, formatOutcome, formatTotal, outcomeJson } from '../core/report.js';
import { createNulState, type NulState } from '../core/state.js';
import { nothingMoreToRemove, type StripEngine } from '../core/strip.js';
import { BrokenPipeError, DenulFileError, fileErrorFrom, InterruptedError } from './errors.js';
import { writeAll } from './fd-io.js';
import { type HoleSeeker, loadHoleSeeker, mayHaveHoles } from './holes.js';
import { Interrupts } from './interrupts.js';
import { type Progress, startProgress } from './progress.js';
import { pump } from './pump.js';

const STDIN = '-';

/**
 * In-place cleaning pulls in crypto, child_process and the mount table reader; loading them only
 * for -i keeps them out of the start-up of plain streaming, where start-up is a fair part of the
 * run time on a few hundred MiB.
 */
const inPlaceModule = () => import('./in-place.js');

/** The process surroundings, passed in so the runner does not reach for globals. */
export interface RunEnvironment {
  stdinFd: number;
  stdoutFd: number;
  /** Error and warning lines (without the `denul: ` prefix). */
  error: (message: string) => void;
  stderrIsTty: boolean;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

interface Source {
  fd: number;
  position: number | null;
  size: number | null;
  /** A regular file with holes, to be skipped rather than read (null: read everything). */
  holes: HoleSeeker | null;
  /** Called with the bytes the pump consumed, when done with the source. */
  close: (bytesRead: number) => void;
}

/**
 * Standard input is read at its own offset, which it may share with other processes. When it is
 * a regular file with holes (`denul < sparse.img`), it is read with pread from that offset so
 * that holes can be skipped, and the offset is moved past what was consumed at the end, where a
 * plain read would have left it.
 */
function stdinSource(env: RunEnvironment, skipHoles: boolean): Source {
  const plain: Source = { fd: env.stdinFd, position: null, size: null, holes: null, close: () => {} };
  if (!skipHoles) return plain;
  let st: fs.Stats;
  try {
    st = fs.fstatSync(env.stdinFd);
  } catch {
    return plain;
  }
  const holes = mayHaveHoles(st) ? loadHoleSeeker() : null;
  if (holes === null) return plain;
  const start = holes.offset(env.stdinFd);
  return {
    fd: env.stdinFd,
    position: start,
    size: null,
    holes,
    close: (bytesRead) => holes.moveTo(env.stdinFd, start + bytesRead),
  };
}

function openSource(file: string, env: RunEnvironment, skipHoles: boolean): Source {
  if (file === STDIN) return stdinSource(env, skipHoles);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    throw fileErrorFrom(error, file, 'opening it');
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new DenulFileError('is-directory', file, `${file}: is a directory`);
    const regular = st.isFile();
    return {
      fd,
      position: regular ? 0 : null,
      size: regular ? st.size : null,
      holes: skipHoles && mayHaveHoles(st) ? loadHoleSeeker() : null,
      close: () => fs.closeSync(fd),
    };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** Runs denul over every input; returns the exit status. */
export async function runDenul(options: DenulOptions, env: RunEnvironment): Promise<number> {
  const files = options.files.length === 0 ? [STDIN] : options.files;
  // The one chunk buffer lives in the SIMD kernel's memory, so the kernel works where reads land.
  const kernel = options.strategy === 'js' ? null : createNulKernel(options.chunkSize);
  const buffer = kernel?.buffer ?? Buffer.allocUnsafe(options.chunkSize);
  const engine: StripEngine = { kernel, strategy: options.strategy };
  const interrupts = new Interrupts();
  // Signal handlers only where cleanup matters: a handler would keep Ctrl-C from ending a
  // read that waits on a quiet pipe.
  if (options.inPlace) interrupts.install();
  const outcomes: FileOutcome[] = [];
  let failed = false;
  let nulFound = false;
  const reporting = options.count || options.check;
  const report = async (line: string) => {
    const bytes = Buffer.from(`${line}\n`);
    await writeAll(env.stdoutFd, bytes, 0, bytes.length, null);
  };
  const progressFor = (label: string, size: number | null): Progress =>
    startProgress(label, size ?? 0, options.progress && env.stderrIsTty, options.progressMinBytes);

  try {
    for (const file of files) {
      let progress: Progress | null = null;
      try {
        let outcome: FileOutcome;
        if (options.inPlace) {
          const { cleanInPlace } = await inPlaceModule();
          const result = await cleanInPlace(file, {
            mode: options.mode,
            buffer,
            engine,
            sameInode: options.sameInode,
            onStart: (size) => {
              progress = progressFor(file, size);
            },
            afterChunk: (done, state) => {
              // --same-inode cannot be rolled back half way: it finishes, then the signal is honoured.
              if (!options.sameInode) interrupts.check();
              progress?.update(done, state.removed);
            },
            warn: env.error,
          });
          outcome = { ...result };
          interrupts.check();
        } else {
          outcome = await streamOne(file, options, env, buffer, engine, (size) => {
            progress = progressFor(file === STDIN ? 'stdin' : file, size);
            return progress;
          });
        }
        (progress as Progress | null)?.finish();
        outcomes.push(outcome);
        if (outcome.state.removed > 0) nulFound = true;
        if (reporting && (options.count || outcome.state.removed > 0) && !options.quiet) {
          await report(options.json ? outcomeJson(outcome) : formatOutcome(outcome, options.inPlace));
        }
      } catch (error) {
        (progress as Progress | null)?.finish();
        if (error instanceof BrokenPipeError || error instanceof InterruptedError) throw error;
        const fileError = error instanceof DenulFileError ? error : fileErrorFrom(error, file, 'reading it');
        env.error(fileError.message);
        failed = true;
      }
    }
    if (options.count && !options.json && !options.quiet && outcomes.length > 1)
      await report(formatTotal(outcomes));
  } catch (error) {
    if (error instanceof BrokenPipeError) return EXIT_FAILURE;
    if (error instanceof InterruptedError) await interrupts.reraise(error.signal);
    throw error;
  } finally {
    interrupts.uninstall();
  }
  if (options.check) {
    // Like cmp and grep: 1 means "found", so a file we could not read is 2 ("could not tell").
    if (failed) return EXIT_USAGE;
    return nulFound ? EXIT_FAILURE : EXIT_OK;
  }
  return failed ? EXIT_FAILURE : EXIT_OK;
}

async function streamOne(
  file: string,
  options: DenulOptions,
  env: RunEnvironment,
  buffer: Buffer,
  engine: StripEngine,
  onStart: (size: number | null) => Progress,
): Promise<FileOutcome> {
  const source = openSource(file, env, options.skipHoles);
  const state: NulState = createNulState(options.mode);
  try {
    const progress = onStart(source.size);
    const countOnly = options.count || options.check;
    const checkOnly = options.check && !options.count;
    const result = await pump({
      inputFd: source.fd,
      inputPosition: source.position,
      sink: countOnly ? null : { fd: env.stdoutFd, position: null },
      state,
      buffer,
      engine,
      // --check needs one NUL; in leading mode nothing after the first non-NUL byte can count.
      stopWhen: (s) => (checkOnly && s.removed > 0) || (countOnly && nothingMoreToRemove(s)),
      afterChunk: (s) => progress.update(s.bytesIn, s.removed),
      holes: source.holes,
    });
    return { file, state, partial: !result.complete && checkOnly && state.removed > 0 };
  } finally {
    // bytesIn: what the pump consumed, also when it stopped on an error.
    source.close(state.bytesIn);
  }
}
