import { readFile, rename, writeFile } from 'node:fs/promises';
import { type AllowEntry, AllowList, parseAllowLine, parseAllowText } from './allowlist.js';

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

async function readOrEmpty(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
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

/** Appends `KIND VALUE` unless present; returns false when it was already there. Validates first. */
export async function addAllowEntry(file: string, kind: string, value: string): Promise<boolean> {
  const entry = parseAllowLine(`${kind} ${value}`, 'command line');
  if (entry === undefined) return false;
  const text = await readOrEmpty(file);
  if (parseAllowText(text, file).some((e) => sameEntry(e, entry.kind, entry.value))) return false;
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  await writeAtomically(file, `${text}${sep}${entry.kind} ${entry.value}\n`);
  return true;
}

/** Removes every line holding `KIND VALUE` (comments kept); returns how many were removed. */
export async function removeAllowEntry(file: string, kind: string, value: string): Promise<number> {
  const text = await readOrEmpty(file);
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
