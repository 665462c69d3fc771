import type { OsLabel, OsSource } from '../label.js';

export interface P0fSourceOptions {
  /** p0f's API socket (`p0f -s PATH`). */
  readonly socket: string;
  /** Longest wait for one answer before the OS counts as unknown. */
  readonly timeoutMs: number;
  /** API connections kept to p0f (p0f serves few at once: `-S`, default 20). */
  readonly poolSize: number;
  /** How long an answer is reused for the same address. */
  readonly cacheTtlSec: number;
}

/** OS labels from a running p0f v3 daemon. Placeholder until the API client lands: always unknown. */
export class P0fSource implements OsSource {
  readonly name = 'p0f';
  constructor(readonly options: P0fSourceOptions) {}
  async lookup(_address: string): Promise<OsLabel | undefined> {
    return undefined;
  }
  async close(): Promise<void> {}
}
