/**
 * Exit codes every tool in this repository uses, and the errors that map to
 * them. A script can tell "fix your command or config" (2) from "the work
 * failed" (1) without parsing messages.
 */
export const EXIT = {
  ok: 0,
  /** The work failed at run time: a file, a socket, a dependency. */
  failure: 1,
  /** The command line or the configuration is wrong; nothing was done. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A bad flag, argument or combination of them. Exit 2. */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
  readonly exitCode: ExitCode = EXIT.usage;
}

/**
 * A configuration problem, said the one way every tool says it:
 * `FILE: KEY: MESSAGE` (KEY in `a.b[0].c` form). Exit 2.
 */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  readonly exitCode: ExitCode = EXIT.usage;
  constructor(
    /** What is wrong, without the file and key. */
    readonly detail: string,
    /** The config file, or `command line`, or `environment`. */
    readonly file: string,
    /** Key path in `a.b[0].c` form; absent for whole-file problems. */
    readonly key?: string,
  ) {
    super(key === undefined ? `${file}: ${detail}` : `${file}: ${key}: ${detail}`);
  }
}

/** The exit code an error stands for: its own when it carries one, else 1. */
export function exitCodeOf(error: unknown): ExitCode {
  const code = (error as { exitCode?: unknown } | null)?.exitCode;
  return code === EXIT.usage || code === EXIT.failure || code === EXIT.ok ? code : EXIT.failure;
}
