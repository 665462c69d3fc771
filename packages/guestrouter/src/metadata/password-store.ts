import { randomInt } from 'node:crypto';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from 'opskit/atomic-write';
import { makePrivateDir } from '../services/private-dir.js';

/** What a VM id may look like to become a file name: CloudStack's UUIDs and numeric ids. */
const VM_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export class PasswordStoreError extends Error {
  readonly code = 'password-store';
}

/** Letters and digits that cannot be mistaken for each other when typed from a screen. */
const ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password: 20 characters from 56 is about 116 bits. */
export function generatePassword(length = 20): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/**
 * Pending passwords, one file per VM id (mode 0600 in a 0700 directory under
 * the state directory), so `password reset` and `deploy` hand a password to a
 * running `run` without talking to it, and a restart of `run` loses nothing.
 * A password is deleted when its VM acknowledges it, or when older than the
 * time to live. Files are written to a temporary name and renamed, so a reader
 * never sees half a password.
 */
export class PasswordStore {
  constructor(
    readonly dir: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private file(vmId: string): string {
    if (!VM_ID.test(vmId)) throw new PasswordStoreError(`not a VM id: ${JSON.stringify(vmId)}`);
    return join(this.dir, vmId);
  }

  async put(vmId: string, password: string): Promise<void> {
    if (password === '' || /[\r\n]/.test(password)) {
      throw new PasswordStoreError('a password must be one non-empty line');
    }
    const file = this.file(vmId);
    await makePrivateDir(this.dir);
    writeFileAtomic(file, password, { mode: 0o600 });
  }

  /** The pending password of a VM; an expired one is deleted and not returned. */
  async get(vmId: string): Promise<string | undefined> {
    const file = this.file(vmId);
    try {
      const info = await stat(file);
      if (this.now() - info.mtimeMs > this.ttlMs) {
        await unlink(file).catch(() => undefined);
        return undefined;
      }
      return await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(vmId: string): Promise<void> {
    await unlink(this.file(vmId)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** Deletes expired passwords; returns how many are still pending. */
  async sweep(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    let pending = 0;
    for (const name of names) {
      if (!VM_ID.test(name)) continue;
      if ((await this.get(name)) !== undefined) pending++;
    }
    return pending;
  }
}
