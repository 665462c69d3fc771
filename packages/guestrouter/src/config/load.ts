import { configErrorFromZod, loadLayeredConfig, type PlainObject, readJsonConfigFile } from 'opskit/config';
import { ConfigError } from 'opskit/exit';
import { cloudStackEnvValues } from '../cloudstack/config.js';
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

/**
 * The config's layers, lowest first as the operator contract orders them: the file, the environment
 * (one layer per variable, so an error names the variable), the command line. The schema's
 * defaults sit under all of them.
 */
export function configLayers(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  overrides: ConfigOverrides,
): { source: string; values: PlainObject | undefined }[] {
  const layers: { source: string; values: PlainObject | undefined }[] = [];
  if (file !== undefined) layers.push({ source: file, values: readJsonConfigFile(file) });
  for (const e of cloudStackEnvValues(env))
    layers.push({ source: e.variable, values: { cloudstack: { [e.key]: e.value } } });
  layers.push({ source: COMMAND_LINE, values: { ...overrides } });
  return layers;
}

/**
 * Reads the config: the file, then the environment (`CLOUDSTACK_API_URL`, ...), then the
 * command-line overrides, merged and checked by the one schema; an error names the layer that
 * brought the bad value (`FILE: KEY: MESSAGE`, the variable's name for the environment). `env`
 * is explicit so only the CLI reads the process environment.
 */
export function loadConfig(
  file: string | undefined,
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = {},
): GuestrouterConfig {
  try {
    return loadLayeredConfig(configSchema, configLayers(file, env, overrides));
  } catch (error) {
    if (error instanceof ConfigError && !(error instanceof GuestrouterConfigError))
      throw asGuestrouterError(error);
    throw error;
  }
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
