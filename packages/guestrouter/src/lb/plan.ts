import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Operation } from '../plan/operations.js';
import type { DesiredLb } from './desired.js';
import { renderHaproxyConfig } from './haproxy-config.js';

/** Where `run` keeps haproxy's files for a state directory. */
export function haproxyDir(stateDir: string): string {
  return join(stateDir, 'haproxy');
}

/**
 * The haproxy configuration as a typed plan operation: create, update or
 * delete of STATEDIR/haproxy/haproxy.cfg compared with what is on disk. `run`
 * carries it out (write, check, reload); plan and apply only show it.
 */
export async function haproxyOperation(
  lb: DesiredLb,
  stateDir: string,
  checkIntervalMs: number,
): Promise<Operation | undefined> {
  const dir = haproxyDir(stateDir);
  const path = join(dir, 'haproxy.cfg');
  const have = await readFile(path, 'utf8').catch(() => undefined);
  const object = { kind: 'service-config' as const, service: 'haproxy', path };
  if (lb.frontends.length === 0) {
    return have === undefined
      ? undefined
      : { action: 'delete', object, reason: 'no load balancer rule is served (run stops haproxy)' };
  }
  const want = renderHaproxyConfig(lb, { statsSocket: join(dir, 'stats.sock'), checkIntervalMs });
  if (have === want) return undefined;
  const summary = `${lb.frontends.length} frontends, ${lb.frontends.reduce((n, f) => n + f.backends.length, 0)} backends`;
  return have === undefined
    ? {
        action: 'create',
        object,
        reason: 'load balancer rules to serve (run starts haproxy)',
        detail: summary,
      }
    : {
        action: 'update',
        object,
        reason: 'the load balancer rules changed (run reloads haproxy)',
        detail: summary,
      };
}
