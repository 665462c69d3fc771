import { configErrorFromZod, mergeLayers, type PlainObject, readJsonConfigFile } from 'opskit/config';
import { ConfigError } from 'opskit/exit';
import { type Config, type ConfigInput, configSchema } from './schema.js';

// One error type for config problems in every tool: `FILE: KEY: MESSAGE`, exit 2.
export { ConfigError };

/**
 * Lists the command line adds to instead of replacing: pins and allow files
 * from the file and from flags both apply.
 */
export const APPENDED_KEYS: ReadonlySet<string> = new Set(['os.static', 'allow.files', 'allow.entries']);

/**
 * Objects merge key by key; arrays and scalars from `over` replace those of
 * `base`, except the lists in `append`, which are concatenated.
 */
export const mergeConfig = mergeLayers;

function check(input: unknown, source: string): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) throw configErrorFromZod(configSchema, result.error, source);
  return result.data;
}

/** Reads a JSON config file; a missing file or bad JSON is a ConfigError naming the file. */
export async function readConfigFile(file: string): Promise<PlainObject> {
  return readJsonConfigFile(file);
}

/**
 * The effective config: schema defaults, then the file, then command-line
 * values (which replace the file's, except the lists in APPENDED_KEYS). Each layer is checked, so an error names
 * the layer (file or command line) that brought the bad value.
 */
export async function loadConfig(options: { file?: string; overrides?: ConfigInput }): Promise<Config> {
  let merged: PlainObject = {};
  if (options.file !== undefined) {
    merged = await readConfigFile(options.file);
    check(merged, options.file);
  }
  if (options.overrides !== undefined)
    merged = mergeLayers(merged, options.overrides as PlainObject, APPENDED_KEYS);
  return check(merged, 'command line');
}

/** Parses an in-memory config (tests, embedding). Throws ConfigError. */
export function parseConfig(input: ConfigInput, source = 'config'): Config {
  return check(input, source);
}
