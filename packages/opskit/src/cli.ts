import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT, type ExitCode, exitCodeOf } from './exit.js';

export interface ProgramInfo {
  readonly name: string;
  readonly version: string;
  readonly description: string;
}

/**
 * A commander program with the contract's behaviour: `-V, --version`, the
 * global options listed in every command's `--help`, and usage errors
 * (unknown flag, missing argument, bad value) exiting 2 instead of
 * commander's 1. Subcommands made with `.command()` inherit all of it.
 */
export function createProgram(info: ProgramInfo): Command {
  return new Command(info.name)
    .description(info.description)
    .version(info.version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for this command')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

/** Adds an `Examples:` block to a command's help; every command shows at least one. */
export function withExamples(command: Command, examples: readonly string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
}

/**
 * Parses argv and runs the chosen action. Returns the exit code instead of
 * exiting, so the caller can flush logs first: 0 for help and version, 2
 * for a usage error commander reported, otherwise what the action's error
 * stands for (ConfigError and UsageError 2, anything else 1).
 */
export async function runProgram(
  program: Command,
  argv: readonly string[],
  report: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
): Promise<ExitCode> {
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return EXIT.ok;
      // commander printed its own message already.
      return EXIT.usage;
    }
    report(`${program.name()}: ${(error as Error).message}`);
    return exitCodeOf(error);
  }
}

/**
 * The `version` field of the package.json at `relativePath` from the calling
 * module (`import.meta.url`); the same path works from src/ (tsx) and dist/.
 */
export function packageVersion(moduleUrl: string, relativePath = '../package.json'): string {
  const text = readFileSync(new URL(relativePath, moduleUrl), 'utf8');
  const version = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`no version in ${relativePath}`);
  return version;
}
