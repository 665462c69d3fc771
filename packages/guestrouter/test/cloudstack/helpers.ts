/** Shared helpers for the CloudStack client tests: a client pointed at a simulator, with fast retries. */
import { CloudStackClient, type CloudStackClientOptions } from '../../src/cloudstack/client.js';
import type { CloudStackConfig } from '../../src/cloudstack/config.js';
import type { SimulatorHandle } from '../simulator/server.js';

export interface RecordedWarning {
  obj: object;
  msg: string | undefined;
}

export function clientFor(
  sim: Pick<SimulatorHandle, 'url' | 'apiKey' | 'secretKey'>,
  config: Partial<CloudStackConfig> = {},
  options: CloudStackClientOptions = {},
): { client: CloudStackClient; warnings: RecordedWarning[] } {
  const warnings: RecordedWarning[] = [];
  const client = new CloudStackClient(
    {
      url: sim.url,
      apiKey: sim.apiKey,
      secretKey: sim.secretKey,
      verifyTls: true,
      timeoutMs: 5000,
      retries: 3,
      pageSize: 500,
      ...config,
    },
    {
      retryBaseMs: 10,
      retryMaxMs: 40,
      logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
      ...options,
    },
  );
  return { client, warnings };
}

/** Runs fn and returns the error it rejects with (fails the test when it resolves). */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail, it succeeded');
}
