import { configErrorFromZod, readJsonConfigFile } from 'opskit/config';
import type { ConfigError } from 'opskit/exit';
import { GuestrouterConfigError } from '../errors.js';
import { configSchema, type GuestrouterConfig } from './schema.js';

/** Command-line options that override the file. */
export interface ConfigOverrides {
  trunk?: string;
  uplink?: string;
  netns?: string;
  zoneId?: string;
  logFormat?: 'json' | 'pretty';
}

/** Where a value came from, for the `FILE: KEY: MESSAGE` line. */
const COMMAND_LINE = 'command line';

function asGuestrouterError(error: ConfigError): GuestrouterConfigError {
  return new GuestrouterConfigError(error.detail, error.file, error.key);
}

/** Validates a parsed object (from a file or built in code). */
export function parseConfig(input: unknown, file?: string): GuestrouterConfig {
  const result = configSchema.safeParse(input);
  if (!result.success)
    throw asGuestrouterError(configErrorFromZod(configSchema, result.error, file ?? 'config'));
  return result.data;
}

/** Reads a JSON config file, then lays the command-line overrides over it. */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): GuestrouterConfig {
  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    try {
      raw = readJsonConfigFile(file);
    } catch (error) {
      throw asGuestrouterError(error as ConfigError);
    }
    // The file is checked on its own first, so an error in it names the file, not the command line.
    parseConfig(raw, file);
  }
  const merged: Record<string, unknown> = { ...raw };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  return parseConfig(merged, file === undefined ? COMMAND_LINE : `${file} with the command line`);
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
        file ?? COMMAND_LINE,
        role,
      );
    }
  }
  return { trunk: config.trunk as string, uplink: config.uplink as string };
}
