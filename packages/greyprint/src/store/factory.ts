import { MemoryStore } from './memory.js';
import type { GreylistStore } from './types.js';

export interface StoreOptions {
  /** SQLite file path, or `:memory:` for a store that lives only as long as the process. */
  readonly path: string;
}

/**
 * Opens the configured store. Until the SQLite store lands this serves every
 * path from memory; the SQLite implementation replaces this body.
 */
export async function openStore(options: StoreOptions): Promise<GreylistStore> {
  void options;
  return new MemoryStore();
}
