import { execFileSync } from 'node:child_process';

/**
 * Network namespaces created by one test file, named with the gr prefix and
 * the test's pid, and deleted by name (never anything else) in `after`.
 */
export class NetnsLab {
  readonly created: string[] = [];
  constructor(readonly prefix = `gr${process.pid}`) {}

  name(suffix: string): string {
    return `${this.prefix}-${suffix}`;
  }

  add(suffix: string): string {
    const ns = this.name(suffix);
    ip('netns', 'add', ns);
    this.created.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** Runs a command inside a namespace; throws with stderr on failure. */
  exec(ns: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Exit status of a command inside a namespace (0 = success). */
  status(ns: string, ...args: string[]): number {
    try {
      this.exec(ns, ...args);
      return 0;
    } catch (error) {
      return (error as { status?: number }).status ?? 1;
    }
  }

  cleanup(): void {
    for (const ns of this.created.splice(0).reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone; nothing else to clean.
      }
    }
  }
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A veth pair between two namespaces. */
export function vethBetween(nsA: string, nameA: string, nsB: string, nameB: string): void {
  ip('-n', nsA, 'link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB);
  ip('-n', nsA, 'link', 'set', 'dev', nameA, 'up');
  ip('-n', nsB, 'link', 'set', 'dev', nameB, 'up');
}
