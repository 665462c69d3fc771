import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makePrivateDir } from '../services/private-dir.js';
import { EMPTY_STATE, type EventState } from './state.js';

/**
 * The event state on disk (STATEDIR/extension/events.json), so a restarted router serves what the
 * events told it without waiting for CloudStack to repeat them. Written to a temporary file and
 * renamed: a crash leaves the old or the new state, never half of one.
 */
export class EventStore {
  constructor(readonly file: string) {}

  /** The saved state; none saved yet is the empty state. A file that is not ours is an error, never overwritten. */
  async load(): Promise<EventState> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`${this.file}: not JSON (${(error as Error).message}); move it away to start empty`);
    }
    if (typeof parsed !== 'object' || parsed === null || (parsed as { version?: unknown }).version !== 1) {
      throw new Error(`${this.file}: not a guestrouter event state (version 1); move it away to start empty`);
    }
    return { ...EMPTY_STATE, ...(parsed as EventState) };
  }

  async save(state: EventState): Promise<void> {
    await makePrivateDir(dirname(this.file));
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
