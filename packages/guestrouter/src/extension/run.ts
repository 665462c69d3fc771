import { join } from 'node:path';
import type { GuestrouterConfig } from '../config/schema.js';
import { type CycleResult, ExtensionServer } from './server.js';
import { EventStore } from './store.js';

/** The events' file under stateDir. */
export function eventStateFile(config: GuestrouterConfig): string {
  return join(config.stateDir, 'extension', 'events.json');
}

/** Loads the persisted events and listens on extension.listen (config checked: listen implies secret). */
export async function openExtensionServer(
  config: GuestrouterConfig,
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void },
  applyNow: () => Promise<CycleResult>,
): Promise<ExtensionServer> {
  const listen = config.extension.listen as string;
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(colon + 1));
  const server = await ExtensionServer.open({
    host,
    port,
    secret: config.extension.secret as string,
    store: new EventStore(eventStateFile(config)),
    applyNow,
    logger,
    ...(config.extension.tls ? { tls: config.extension.tls } : {}),
  });
  const bound = await server.listen();
  logger.info(
    { event: 'extension', host, port: bound, tls: config.extension.tls !== undefined },
    'extension events listening',
  );
  return server;
}
