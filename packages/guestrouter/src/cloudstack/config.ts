/**
 * Where the CloudStack API is and how to talk to it. The three environment
 * variables are the ones cloudmonkey and the Terraform provider read, so an
 * operator's existing shell setup works unchanged.
 */
import { z } from 'zod';
import { CloudStackConfigError } from './errors.js';

export interface CloudStackConfig {
  /** Full API endpoint, e.g. `https://cloud.example.com/client/api`. */
  url: string;
  apiKey: string;
  secretKey: string;
  /** Verify the server's TLS certificate (default true). */
  verifyTls: boolean;
  /** Per-attempt timeout for one HTTP request, milliseconds (default 30000). */
  timeoutMs: number;
  /** Extra attempts for transient failures (default 3, so at most 4 attempts). */
  retries: number;
  /** `pagesize` for list calls (default 500, CloudStack's default `default.page.size` limit). */
  pageSize: number;
}

export const CLOUDSTACK_ENV = {
  url: 'CLOUDSTACK_API_URL',
  apiKey: 'CLOUDSTACK_API_KEY',
  secretKey: 'CLOUDSTACK_SECRET_KEY',
} as const;

export const CLOUDSTACK_DEFAULTS = {
  verifyTls: true,
  timeoutMs: 30_000,
  retries: 3,
  pageSize: 500,
} as const;

/*
 * One definition of each setting, its limits and its messages: the config file's `cloudstack`
 * object (every key optional, checked when the file is read) and the client's settings after the
 * environment is laid over it (url and keys required, defaults filled) are both built from these.
 */
const urlField = z
  .string({ required_error: 'is required' })
  .url('must be an absolute URL such as https://cloud.example.com/client/api')
  .refine((u) => /^https?:\/\//i.test(u), 'must start with http:// or https://');
const keyField = z.string({ required_error: 'is required' }).min(1, 'must not be empty');
const verifyTlsField = z.boolean({ invalid_type_error: 'must be true or false' });
const timeoutMsField = z
  .number({ invalid_type_error: 'must be a number of milliseconds' })
  .int('must be a whole number of milliseconds')
  .min(100, 'must be at least 100 ms')
  .max(600_000, 'must be at most 600000 ms');
const retriesField = z
  .number({ invalid_type_error: 'must be a number' })
  .int('must be a whole number')
  .min(0, 'must be 0 or more')
  .max(10, 'must be at most 10');
const pageSizeField = z
  .number({ invalid_type_error: 'must be a number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(10_000, 'must be at most 10000');

/** The `cloudstack` object of the config file: every key optional (the environment may give it). */
export const cloudStackFileSchema = z
  .object({
    url: urlField.optional(),
    apiKey: keyField.optional(),
    secretKey: keyField.optional(),
    verifyTls: verifyTlsField.optional(),
    timeoutMs: timeoutMsField.optional(),
    retries: retriesField.optional(),
    pageSize: pageSizeField.optional(),
  })
  .strict();

const cloudStackConfigSchema = z.object({
  url: urlField,
  apiKey: keyField,
  secretKey: keyField,
  verifyTls: verifyTlsField.default(CLOUDSTACK_DEFAULTS.verifyTls),
  timeoutMs: timeoutMsField.default(CLOUDSTACK_DEFAULTS.timeoutMs),
  retries: retriesField.default(CLOUDSTACK_DEFAULTS.retries),
  pageSize: pageSizeField.default(CLOUDSTACK_DEFAULTS.pageSize),
});

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** One environment variable that sets a `cloudstack` key (a blank variable counts as unset). */
export interface CloudStackEnvValue {
  readonly variable: (typeof CLOUDSTACK_ENV)[keyof typeof CLOUDSTACK_ENV];
  readonly key: keyof typeof CLOUDSTACK_ENV;
  readonly value: string;
}

/** The CloudStack settings the environment gives, one entry per variable that is set. */
export function cloudStackEnvValues(env: NodeJS.ProcessEnv): CloudStackEnvValue[] {
  const out: CloudStackEnvValue[] = [];
  for (const key of Object.keys(CLOUDSTACK_ENV) as (keyof typeof CLOUDSTACK_ENV)[]) {
    const value = nonEmpty(env[CLOUDSTACK_ENV[key]]);
    if (value !== undefined) out.push({ variable: CLOUDSTACK_ENV[key], key, value });
  }
  return out;
}

/**
 * The client's settings from the config's `cloudstack` object, after the environment was laid over
 * it (guestrouter's config loader does that before parsing). Throws CloudStackConfigError naming
 * every missing variable/key at once, so one run tells the operator everything to fix.
 */
export function cloudStackClientConfig(settings: Partial<CloudStackConfig>): CloudStackConfig {
  const merged = {
    ...settings,
    url: nonEmpty(settings.url),
    apiKey: nonEmpty(settings.apiKey),
    secretKey: nonEmpty(settings.secretKey),
  };
  const missing = (['url', 'apiKey', 'secretKey'] as const)
    .filter((key) => merged[key] === undefined)
    .map((key) => `${CLOUDSTACK_ENV[key]} (or cloudstack.${key} in the config file)`);
  if (missing.length > 0) {
    throw new CloudStackConfigError(
      `CloudStack API settings missing: ${missing.join(', ')}. Set the environment variable(s) or the config file key(s).`,
      missing,
    );
  }
  const parsed = cloudStackConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const envName = key in CLOUDSTACK_ENV ? ` (${CLOUDSTACK_ENV[key as keyof typeof CLOUDSTACK_ENV]})` : '';
      return `${key}${envName} ${issue.message}`;
    });
    throw new CloudStackConfigError(`invalid CloudStack API settings: ${problems.join('; ')}`, []);
  }
  return parsed.data;
}

/**
 * Builds the client configuration for library callers (tests, benches) that hold no config file:
 * environment variables override `fromFile`, which overrides the defaults.
 */
export function cloudStackConfigFromEnv(
  env: NodeJS.ProcessEnv,
  fromFile: Partial<CloudStackConfig> = {},
): CloudStackConfig {
  const fromEnv = Object.fromEntries(cloudStackEnvValues(env).map((e) => [e.key, e.value]));
  return cloudStackClientConfig({ ...fromFile, ...fromEnv });
}
