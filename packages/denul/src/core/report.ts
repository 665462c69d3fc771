import type { NulState } from './state.js';

/** What happened to one input, for the --count / --check report. */
export interface FileOutcome {
  file: string;
  state: NulState;
  /** In-place only: the file was replaced (false: nothing to remove, left untouched). */
  changed?: boolean;
  appendedBytes?: number;
  passes?: number;
  /** --check stopped at the first NUL: counts are a lower bound. */
  partial?: boolean;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Human report line for one file. */
export function formatOutcome(outcome: FileOutcome, inPlace: boolean): string {
  const { file, state } = outcome;
  if (outcome.partial) return `${file}: has NUL bytes (first at byte ${state.firstNulOffset})`;
  const what = `${plural(state.removed, 'NUL byte')} in ${plural(state.runs, 'run')}`;
  if (!inPlace) return `${file}: ${what} (${plural(state.bytesIn, 'byte')} read)`;
  if (!outcome.changed) return `${file}: no NUL bytes to remove, left untouched`;
  const appended = outcome.appendedBytes ?? 0;
  const carried = appended > 0 ? `, carried over ${plural(appended, 'appended byte')}` : '';
  return `${file}: removed ${what}, ${state.bytesIn} -> ${state.bytesOut} bytes${carried}`;
}

/** Machine report: one JSON object per file, stable field names. */
export function outcomeJson(outcome: FileOutcome): string {
  const { state } = outcome;
  return JSON.stringify({
    file: outcome.file,
    mode: state.mode,
    nulBytes: state.removed,
    runs: state.runs,
    firstNulOffset: state.firstNulOffset,
    bytesIn: state.bytesIn,
    bytesOut: state.bytesOut,
    complete: !outcome.partial,
    ...(outcome.changed === undefined ? {} : { changed: outcome.changed }),
    ...(outcome.appendedBytes === undefined ? {} : { appendedBytes: outcome.appendedBytes }),
  });
}

/** The closing line when several files were counted, like `wc`. */
export function formatTotal(outcomes: readonly FileOutcome[]): string {
  const removed = outcomes.reduce((sum, o) => sum + o.state.removed, 0);
  const runs = outcomes.reduce((sum, o) => sum + o.state.runs, 0);
  return `total: ${plural(removed, 'NUL byte')} in ${plural(runs, 'run')} in ${plural(outcomes.length, 'file')}`;
}
