import { readFile, rename, writeFile } from 'node:fs/promises';
import {
  type AllowEntry,
  AllowList,
  AllowListError,
  parseAllowLine,
  parseAllowText,
  unstorableReason,
} from './allowlist.js';

/**
 * Loads every allow file plus the inline entries. A missing file counts as
 * empty (the operator may not have created it yet); a bad line is an error
 * naming the file and line, so a reload keeps the old list instead.
 */
export async function loadAllowList(
  files: readonly string[],
  inline: readonly string[],
): Promise<{ list: AllowList; missing: string[] }> {
  const entries: AllowEntry[] = [];
  const missing: string[] = [];
  inline.forEach((line, i) => {
    const e = parseAllowLine(line, `config allow.entries[${i}]`);
    if (e !== undefined) entries.push(e);
  });
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        missing.push(file);
        continue;
      }
      throw err;
    }
    entries.push(...parseAllowText(text, file));
  }
  return { list: new AllowList(entries), missing };
}

/** An allow file that the editing commands will not create (a mistyped path must not pass silently). */
export class AllowFileMissingError extends Error {
  override readonly name = 'AllowFileMissingError';
  constructor(readonly file: string) {
    super(`allow file ${file} does not exist; create it first (touch ${file}) or pass --file`);
  }
}

async function readExisting(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AllowFileMissingError(file);
    throw err;
  }
}

/** Writes through a temporary file and rename, so a reader never sees half a file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
}

const sameEntry = (a: AllowEntry, kind: string, value: string): boolean =>
  a.kind === kind && a.value.toLowerCase() === value.toLowerCase();

/**
 * Appends `KIND VALUE` unless present; returns false when it was already there. Validates first,
 * and refuses (AllowListError) a value that would not read back from the file as itself.
 */
export async function addAllowEntry(file: string, kind: string, value: string): Promise<boolean> {
  const why = unstorableReason(value);
  if (why !== undefined) throw new AllowListError('command line', value, `cannot store "${value}": ${why}`);
  const entry = parseAllowLine(`${kind} ${value}`, 'command line');
  if (entry?.value !== value) {
    throw new AllowListError(
      'command line',
      value,
      `cannot store "${value}": it would not read back unchanged`,
    );
  }
  const text = await readExisting(file);
  if (parseAllowText(text, file).some((e) => sameEntry(e, entry.kind, entry.value))) return false;
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  await writeAtomically(file, `${text}${sep}${entry.kind} ${entry.value}\n`);
  return true;
}

/** Removes every line holding `KIND VALUE` (comments kept); returns how many were removed. */
export async function removeAllowEntry(file: string, kind: string, value: string): Promise<number> {
  const text = await readExisting(file);
  let removed = 0;
  const kept = text.split('\n').filter((line, i) => {
    const e = parseAllowLine(line, `${file}:${i + 1}`);
    if (e !== undefined && sameEntry(e, kind.toLowerCase(), value)) {
      removed++;
      return false;
    }
    return true;
  });
  if (removed > 0) await writeAtomically(file, kept.join('\n'));
  return removed;
}
