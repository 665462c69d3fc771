import { readFileSync } from 'node:fs';
import { type ZodError, type ZodIssue, type ZodTypeAny, z } from 'zod';
import { GuestrouterConfigError } from '../errors.js';
import { configSchema, type GuestrouterConfig, type GuestrouterConfigInput } from './schema.js';

/** Command-line options that override the file. */
export interface ConfigOverrides {
  trunk?: string;
  uplink?: string;
  netns?: string;
  zoneId?: string;
}

/** The keys an object schema accepts at `path`, looking through defaults and optionals. */
function keysAt(schema: ZodTypeAny, path: readonly (string | number)[]): string[] {
  let node: ZodTypeAny = schema;
  for (let depth = 0; depth <= path.length; depth++) {
    while (node instanceof z.ZodDefault || node instanceof z.ZodOptional) node = node._def.innerType;
    if (!(node instanceof z.ZodObject)) return [];
    const shape = node.shape as Record<string, ZodTypeAny>;
    if (depth === path.length) return Object.keys(shape);
    const next = shape[String(path[depth])];
    if (!next) return [];
    node = next;
  }
  return [];
}

/** A typo in a key is the likeliest config mistake: name the key and list the ones that would be accepted. */
function describeIssue(issue: ZodIssue): string {
  const where = issue.path.join('.') || '(top level)';
  if (issue.code !== 'unrecognized_keys') return `${where}: ${issue.message}`;
  const unknown = issue.keys.map((k) => `"${k}"`).join(', ');
  const allowed = keysAt(configSchema, issue.path).join(', ');
  return `${where}: unknown key ${unknown} (a typo? allowed here: ${allowed})`;
}

function describeZodError(error: ZodError, file: string | undefined): GuestrouterConfigError {
  const first = error.issues[0];
  const key = first ? first.path.join('.') : undefined;
  const where = file ? `${file}: ` : '';
  const lines = error.issues.map(describeIssue);
  return new GuestrouterConfigError(`${where}invalid configuration: ${lines.join('; ')}`, file, key);
}

/** Validates a parsed object (from a file or built in code). */
export function parseConfig(input: unknown, file?: string): GuestrouterConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw describeZodError(result.error, file);
  return result.data;
}

/** Reads a JSON config file; a missing file when none was asked for is not an error. */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): GuestrouterConfig {
  let raw: GuestrouterConfigInput = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new GuestrouterConfigError(`${file}: cannot read config file: ${(error as Error).message}`, file);
    }
    try {
      raw = JSON.parse(text) as GuestrouterConfigInput;
    } catch (error) {
      throw new GuestrouterConfigError(`${file}: not valid JSON: ${(error as Error).message}`, file);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new GuestrouterConfigError(`${file}: the config must be a JSON object`, file);
    }
  }
  const merged: Record<string, unknown> = { ...raw };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  return parseConfig(merged, file);
}

/** The interfaces are required to plan; named separately so the error says which and how to give it. */
export function requireInterfaces(
  config: GuestrouterConfig,
  file?: string,
): { trunk: string; uplink: string } {
  for (const role of ['trunk', 'uplink'] as const) {
    if (!config[role]) {
      throw new GuestrouterConfigError(
        `no ${role} interface: pass --${role} IFACE or set "${role}" in the config file`,
        file,
        role,
      );
    }
  }
  return { trunk: config.trunk as string, uplink: config.uplink as string };
}
