import fs from 'node:fs';
import tty from 'node:tty';
import type { Command } from 'commander';
import { DEFAULT_OPTIONS, type DenulOptions, parseByteSize, validateOptions } from './core/options.js';
import type { StripStrategy } from './core/strip.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runDenul } from './io/run.js';

const EXAMPLES = `
Examples:
  denul < app.log > app.clean.log        like: tr -d '\\000' < app.log > app.clean.log
  denul --count /var/log/app/*.log       how many NUL bytes, in how many runs, per file (writes nothing)
  denul --check /var/log/app.log         exit 1 if the file holds NUL bytes (for monitoring)
  denul -i --count /var/log/app.log      clean in place (temp file + rename) and report what was removed
  denul -i --leading-only app.log        remove only the NUL block copytruncate rotation left at the start
  denul -i --same-inode app.log          rewrite inside the same inode (writers that keep it open, hard links)

Exit status: 0 success (--check: no NUL bytes), 1 failure (--check: NUL bytes found),
2 usage error (--check: a file could not be read).
In-place: the writer of a log keeps writing to the old inode after the rename; make it reopen
its log (SIGHUP, logrotate postrotate) or use --same-inode. See the README.`;

const USAGE_HINT = '(run denul --help for usage)';

type Commander = typeof import('commander');
type Opskit = typeof import('opskit/cli');

function buildProgram(
  { InvalidArgumentError, Option }: Commander,
  { createProgram, packageVersion }: Opskit,
): Command {
  const sizeOption = (value: string): number => {
    const parsed = parseByteSize(value);
    if (typeof parsed === 'string') throw new InvalidArgumentError(parsed);
    return parsed;
  };
  return (
    createProgram({
      name: 'denul',
      version: packageVersion(import.meta.url),
      description:
        'Remove NUL bytes (^@) from files or standard input, streaming (any file size), or safely in place.',
    })
      .argument('[file...]', 'files to read; none or "-" reads standard input', [])
      .option('-i, --in-place', 'replace each file by its cleaned copy (temp file, fsync, rename)', false)
      .option(
        '--same-inode',
        'with -i: rewrite the file inside its own inode instead of renaming (keeps open writers and hard links)',
        false,
      )
      .option('--count', 'report NUL bytes and runs per file; without -i nothing is written', false)
      // -c means --config in the other tools of this repository; kept as a warned alias for scripts.
      .addOption(new Option('-c', 'deprecated spelling of --count').hideHelp())
      .option('--check', 'write nothing; exit 1 when any file holds NUL bytes, 0 otherwise', false)
      .option(
        '--leading-only',
        'remove only the NUL block at the start of each file (copytruncate leftovers)',
        false,
      )
      .option('--json', 'with --count or --check: one JSON object per file', false)
      .option('-q, --quiet', 'with --count or --check: print no report, only the exit status', false)
      .option('--no-progress', 'never show the progress line (shown on a terminal for files >= 64 MiB)')
      .addOption(
        new Option('--chunk-size <bytes>', 'bytes per read (testing and tuning)')
          .argParser(sizeOption)
          .default(DEFAULT_OPTIONS.chunkSize)
          .hideHelp(),
      )
      .addOption(
        new Option('--strategy <name>', 'how chunks are searched (measuring and testing)')
          .choices(['auto', 'js', 'wasm'])
          .default(DEFAULT_OPTIONS.strategy)
          .hideHelp(),
      )
      .addOption(
        new Option('--progress-min <bytes>', 'smallest file that gets a progress line')
          .argParser(sizeOption)
          .default(DEFAULT_OPTIONS.progressMinBytes)
          .hideHelp(),
      )
      .addOption(
        new Option('--read-holes', 'read the holes of sparse files instead of skipping them').hideHelp(),
      )
      .addHelpText('after', EXAMPLES)
      .showHelpAfterError(USAGE_HINT)
  );
}

interface ParsedFlags {
  c?: boolean;
  inPlace: boolean;
  sameInode: boolean;
  count: boolean;
  check: boolean;
  leadingOnly: boolean;
  json: boolean;
  quiet: boolean;
  progress: boolean;
  chunkSize: number;
  strategy: StripStrategy;
  progressMin: number;
  readHoles?: boolean;
}

function writeStderr(text: string): void {
  try {
    fs.writeSync(2, text);
  } catch {
    // Nowhere left to report to.
  }
}

function printError(message: string): void {
  writeStderr(`denul: ${message}\n`);
}

/**
 * Without any option (`denul < in > out`, `denul FILE...`: the tr replacement) every option has
 * its default, and commander is not loaded: importing it is a fair part of the start-up, which
 * counts on inputs of a few hundred MiB. Anything that starts with `-` goes through commander.
 */
function withoutOptions(argv: readonly string[]): DenulOptions | null {
  if (argv.some((arg) => arg.startsWith('-'))) return null;
  return { ...DEFAULT_OPTIONS, files: [...argv] };
}

async function parseOptions(argv: readonly string[]): Promise<DenulOptions | number> {
  const plain = withoutOptions(argv);
  if (plain !== null) return plain;
  const [commander, opskit] = await Promise.all([import('commander'), import('opskit/cli')]);
  const program = buildProgram(commander, opskit);
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof commander.CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
        ? EXIT_OK
        : EXIT_USAGE;
    }
    throw error;
  }
  const flags = program.opts<ParsedFlags>();
  if (flags.c === true) writeStderr('denul: -c is deprecated and will go; use --count\n');
  return {
    files: program.args,
    mode: flags.leadingOnly ? 'leading' : 'all',
    inPlace: flags.inPlace,
    sameInode: flags.sameInode,
    count: flags.count || flags.c === true,
    check: flags.check,
    json: flags.json,
    quiet: flags.quiet,
    progress: flags.progress,
    chunkSize: flags.chunkSize,
    strategy: flags.strategy,
    progressMinBytes: flags.progressMin,
    skipHoles: flags.readHoles !== true,
  };
}

export async function main(argv: readonly string[]): Promise<number> {
  const options = await parseOptions(argv);
  if (typeof options === 'number') return options;
  const problems = validateOptions(options);
  if (problems.length > 0) {
    for (const problem of problems) printError(problem);
    // The same hint line commander prints after its own usage errors, so both read alike.
    writeStderr(`${USAGE_HINT}\n`);
    return EXIT_USAGE;
  }
  try {
    return await runDenul(options, {
      stdinFd: 0,
      stdoutFd: 1,
      error: printError,
      stderrIsTty: tty.isatty(2),
    });
  } catch (error) {
    printError(error instanceof Error ? error.message : String(error));
    return EXIT_FAILURE;
  }
}
