import { readFile } from 'node:fs/promises';
import type { ZodError } from 'zod';
import { type Config, type ConfigInput, configSchema } from './schema.js';

/** A config problem with what the operator needs to fix it: the file and the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    /** The config file, or `command line`. */
    readonly file: string,
    /** Dotted key path, e.g. `greylist.delaySec` or `rules[0].when.client[1]`. */
    readonly key?: string,
  ) {
    super(message);
  }
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Lists the command line adds to instead of replacing: pins and allow files
 * from the file and from flags both apply.
 */
export const APPENDED_KEYS: ReadonlySet<string> = new Set(['os.static', 'allow.files', 'allow.entries']);

/**
 * Objects merge key by key; arrays and scalars from `over` replace those of
 * `base`, except the lists in `append`, which are concatenated.
 */
export function mergeConfig(
  base: Plain,
  over: Plain,
  append: ReadonlySet<string> = new Set(),
  prefix = '',
): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    const path = prefix === '' ? k : `${prefix}.${k}`;
    if (isPlain(b) && isPlain(v)) out[k] = mergeConfig(b, v, append, path);
    else if (append.has(path) && Array.isArray(b) && Array.isArray(v)) out[k] = [...b, ...v];
    else out[k] = v;
  }
  return out;
}

export function formatKey(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(top level)';
}

function firstIssue(err: ZodError, source: string): ConfigError {
  const issue = err.issues[0];
  const key = issue ? formatKey(issue.path) : undefined;
  const extra = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more)` : '';
  return new ConfigError(
    `${source}: ${key ?? '(top level)'}: ${issue?.message ?? 'invalid'}${extra}`,
    source,
    key,
  );
}

/** Reads a JSON config file; a missing file or bad JSON is a ConfigError naming the file. */
export async function readConfigFile(file: string): Promise<Plain> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`, file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`, file);
  }
  if (!isPlain(parsed)) throw new ConfigError(`${file}: the top level must be a JSON object`, file);
  return parsed;
}

/**
 * The effective config: schema defaults, then the file, then command-line
 * values (which replace the file's, except the lists in APPENDED_KEYS). Each layer is checked, so an error names the layer (file or command
 * line) that brought the bad value.
 */
export async function loadConfig(options: { file?: string; overrides?: ConfigInput }): Promise<Config> {
  let merged: Plain = {};
  if (options.file !== undefined) {
    merged = await readConfigFile(options.file);
    const r = configSchema.safeParse(merged);
    if (!r.success) throw firstIssue(r.error, options.file);
  }
  if (options.overrides !== undefined)
    merged = mergeConfig(merged, options.overrides as Plain, APPENDED_KEYS);
  const r = configSchema.safeParse(merged);
  if (!r.success) throw firstIssue(r.error, 'command line');
  return r.data;
}

/** Parses an in-memory config (tests, embedding). Throws ConfigError. */
export function parseConfig(input: ConfigInput, source = 'config'): Config {
  const r = configSchema.safeParse(input);
  if (!r.success) throw firstIssue(r.error, source);
  return r.data;
}
