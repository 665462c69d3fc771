import type { OsLabel } from '../label.js';

interface Entry {
  readonly label: OsLabel | undefined;
  readonly expiresAt: number;
}

/**
 * Recent p0f answers by address. Bounded: the oldest entry goes first when
 * full (a Map keeps insertion order), so a flood of new addresses cannot grow
 * memory. "No match" is kept too, for a shorter time, so a burst of RCPTs
 * from one unknown client asks p0f once.
 */
export class LabelCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `{ hit: false }` when absent or expired; a hit may carry an undefined label (cached no-match). */
  get(address: string): { hit: true; label: OsLabel | undefined } | { hit: false } {
    const entry = this.entries.get(address);
    if (!entry) return { hit: false };
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(address);
      return { hit: false };
    }
    return { hit: true, label: entry.label };
  }

  set(address: string, label: OsLabel | undefined, ttlMs: number): void {
    if (ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(address);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(address, { label, expiresAt: this.now() + ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
