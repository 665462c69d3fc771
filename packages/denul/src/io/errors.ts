/** Why a file was not cleaned; stable strings that tests and scripts can match. */
export type DenulErrorCode =
  | 'not-found'
  | 'is-directory'
  | 'permission-denied'
  | 'io-error'
  | 'refused-symlink'
  | 'refused-not-regular'
  | 'refused-hard-links'
  | 'refused-other-filesystem'
  | 'refused-directory-not-writable'
  | 'refused-owner'
  | 'refused-attributes'
  | 'refused-no-space'
  | 'truncated-while-cleaning'
  | 'replaced-while-cleaning'
  | 'keeps-growing';

/** A failure tied to one input file: the message names the file and says what to do. */
export class DenulFileError extends Error {
  override readonly name = 'DenulFileError';
  constructor(
    readonly code: DenulErrorCode,
    readonly file: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** The reader of our standard output went away (`denul big.log | head`): stop quietly, like tr. */
export class BrokenPipeError extends Error {
  override readonly name = 'BrokenPipeError';
  constructor() {
    super('standard output was closed by its reader');
  }
}

/** A signal asked us to stop; in-place work has been rolled back before this is thrown. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/** Invalid command line or option value: exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}

/** Turns a Node system error about `file` into a DenulFileError with a message an operator can act on. */
export function fileErrorFrom(error: unknown, file: string, doing: string): DenulFileError {
  if (error instanceof DenulFileError) return error;
  const code = errnoCode(error);
  switch (code) {
    case 'ENOENT':
      return new DenulFileError('not-found', file, `${file}: no such file or directory`, error);
    case 'EISDIR':
      return new DenulFileError('is-directory', file, `${file}: is a directory`, error);
    case 'EACCES':
    case 'EPERM':
      return new DenulFileError(
        'permission-denied',
        file,
        `${file}: permission denied while ${doing}`,
        error,
      );
    default: {
      const detail = error instanceof Error ? error.message : String(error);
      return new DenulFileError('io-error', file, `${file}: ${doing} failed: ${detail}`, error);
    }
  }
}

export { errnoCode };
