import { readFileSync } from 'node:fs';
import { type ZodError, type ZodIssue, type ZodTypeAny, z } from 'zod';
import { ConfigError } from './exit.js';

export type PlainObject = Record<string, unknown>;

export const isPlainObject = (v: unknown): v is PlainObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** One key-path style for every tool: `a.b[0].c`; the empty path is `(top level)`. */
export function formatKeyPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out || '(top level)';
}

/** The keys an object schema accepts at `path`, looking through defaults, optionals and effects. */
export function keysAt(schema: ZodTypeAny, path: readonly (string | number)[]): string[] {
  let node: ZodTypeAny = schema;
  for (let depth = 0; depth <= path.length; depth++) {
    node = unwrap(node);
    if (depth < path.length && typeof path[depth] === 'number') {
      if (!(node instanceof z.ZodArray)) return [];
      node = node.element as ZodTypeAny;
      continue;
    }
    if (!(node instanceof z.ZodObject)) return [];
    const shape = node.shape as Record<string, ZodTypeAny>;
    if (depth === path.length) return Object.keys(shape);
    const next = shape[String(path[depth])];
    if (next === undefined) return [];
    node = next;
  }
  return [];
}

function unwrap(node: ZodTypeAny): ZodTypeAny {
  for (;;) {
    if (node instanceof z.ZodDefault || node instanceof z.ZodOptional || node instanceof z.ZodNullable)
      node = node._def.innerType;
    else if (node instanceof z.ZodEffects) node = node._def.schema;
    else return node;
  }
}

/** A typo in a key is the likeliest config mistake: name it and list what would be accepted. */
function describeIssue(schema: ZodTypeAny, issue: ZodIssue): { key: string; detail: string } {
  if (issue.code === 'unrecognized_keys') {
    const allowed = keysAt(schema, issue.path);
    const unknown = issue.keys.map((k) => `"${k}"`).join(', ');
    const hint = allowed.length > 0 ? ` (allowed here: ${allowed.join(', ')})` : '';
    return { key: formatKeyPath(issue.path), detail: `unknown key ${unknown}${hint}` };
  }
  return { key: formatKeyPath(issue.path), detail: issue.message };
}

/** The first issue of a failed parse as a ConfigError; the count of the others is appended. */
export function configErrorFromZod(schema: ZodTypeAny, error: ZodError, source: string): ConfigError {
  const first = error.issues[0];
  if (first === undefined) return new ConfigError('invalid', source);
  const { key, detail } = describeIssue(schema, first);
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return new ConfigError(`${detail}${more}`, source, key);
}

/** Validates `input` against `schema`; a failure is a ConfigError naming `source` and the key. */
export function parseConfig<S extends ZodTypeAny>(schema: S, input: unknown, source: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw configErrorFromZod(schema, result.error, source);
  return result.data;
}

/** Reads a JSON config file whose top level is an object; any problem is a ConfigError naming the file. */
export function readJsonConfigFile(file: string): PlainObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read: ${(error as Error).message}`, file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`not valid JSON: ${(error as Error).message}`, file);
  }
  if (!isPlainObject(parsed)) throw new ConfigError('the top level must be a JSON object', file);
  return parsed;
}

/**
 * Objects merge key by key; arrays and scalars from `over` replace those of
 * `base`, except the lists whose dotted path is in `append`, which are
 * concatenated. `undefined` in `over` leaves the base value.
 */
export function mergeLayers(
  base: PlainObject,
  over: PlainObject,
  append: ReadonlySet<string> = new Set(),
  prefix = '',
): PlainObject {
  const out: PlainObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (isPlainObject(current) && isPlainObject(value)) out[key] = mergeLayers(current, value, append, path);
    else if (append.has(path) && Array.isArray(current) && Array.isArray(value))
      out[key] = [...current, ...value];
    else out[key] = value;
  }
  return out;
}

/**
 * Layers a config from its sources, lowest first (the file, then the
 * environment, then the command line), validating after each so an error
 * names the layer that brought the bad value.
 */
export function loadLayeredConfig<S extends ZodTypeAny>(
  schema: S,
  layers: readonly { source: string; values: PlainObject | undefined }[],
  append: ReadonlySet<string> = new Set(),
): z.output<S> {
  let merged: PlainObject = {};
  let result: z.output<S> = parseConfig(schema, merged, 'defaults');
  for (const layer of layers) {
    if (layer.values === undefined) continue;
    merged = mergeLayers(merged, layer.values, append);
    result = parseConfig(schema, merged, layer.source);
  }
  return result;
}

/** The value at a dotted path of a parsed config, or undefined. */
function valueAt(config: unknown, dotted: string): unknown {
  let node: unknown = config;
  for (const part of dotted.split('.')) {
    if (!isPlainObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * The restart-only keys (dotted paths) whose value differs between two
 * configs: a daemon reloading on SIGHUP keeps the old value for these and
 * warns about each.
 */
export function changedRestartOnlyKeys(
  before: unknown,
  after: unknown,
  restartOnly: readonly string[],
): string[] {
  return restartOnly.filter(
    (key) => JSON.stringify(valueAt(before, key)) !== JSON.stringify(valueAt(after, key)),
  );
}

/** The default of each leaf of an object schema, by dotted path, for `--help` texts. */
export function schemaDefaults(schema: ZodTypeAny): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (node: ZodTypeAny, prefix: string): void => {
    if (node instanceof z.ZodDefault && prefix !== '') out.set(prefix, node._def.defaultValue());
    const inner = unwrap(node);
    if (!(inner instanceof z.ZodObject)) return;
    for (const [key, child] of Object.entries(inner.shape as Record<string, ZodTypeAny>))
      walk(child, prefix === '' ? key : `${prefix}.${key}`);
  };
  walk(schema, '');
  return out;
}
