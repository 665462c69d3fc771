import type { RawSshKeyPair } from '../cloudstack/messages.js';
import type { VmNic } from '../inventory/types.js';

/** Public key text by owner and key pair name (a name is unique per account, or per project). */
export type KeyPairIndex = ReadonlyMap<string, string>;

const accountKey = (domainId: string, account: string, name: string) => `a\0${domainId}\0${account}\0${name}`;
const projectKey = (projectId: string, name: string) => `p\0${projectId}\0${name}`;

/** listSSHKeyPairs items to an index; items without a public key (older versions) are left out. Pure. */
export function indexKeyPairs(items: readonly RawSshKeyPair[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const item of items) {
    const key = item.publickey?.trim();
    if (key === undefined || key === '') continue;
    if (item.projectid !== undefined) index.set(projectKey(item.projectid, item.name), key);
    if (item.domainid !== undefined && item.account !== undefined)
      index.set(accountKey(item.domainid, item.account, item.name), key);
  }
  return index;
}

/**
 * What the Virtual Router serves as `public-keys` for a VM: the keys of its
 * key pairs, one per line, in the VM's order; a key given with the NIC
 * (`publicKeys`, from a source that hands the text itself) wins. A key pair
 * that cannot be found under the VM's owner is left out; undefined when none
 * is found, so the key is not listed. Pure.
 */
export function publicKeysFor(nic: VmNic, index: KeyPairIndex): string | undefined {
  const given = nic.publicKeys?.map((k) => k.trim()).filter((k) => k !== '');
  if (given !== undefined && given.length > 0) return given.join('\n');
  const owner = nic.owner ?? {};
  const keys: string[] = [];
  for (const name of nic.keyPairs ?? []) {
    const found =
      owner.projectId !== undefined
        ? index.get(projectKey(owner.projectId, name))
        : owner.domainId !== undefined && owner.account !== undefined
          ? index.get(accountKey(owner.domainId, owner.account, name))
          : undefined;
    if (found !== undefined && !keys.includes(found)) keys.push(found);
  }
  return keys.length === 0 ? undefined : keys.join('\n');
}

/**
 * The key pairs `run` knows, read with listSSHKeyPairs once per cycle, and
 * only while a served VM names a key pair. A failed read keeps the last index
 * (keys rarely change; a VM must not lose its keys to one API error).
 */
export class KeyPairDirectory {
  private index: Map<string, string> = new Map();

  constructor(private readonly fetchAll: () => Promise<RawSshKeyPair[]>) {}

  get current(): KeyPairIndex {
    return this.index;
  }

  async refresh(nics: readonly VmNic[]): Promise<{ readonly keys: number; readonly error?: string }> {
    if (!nics.some((n) => (n.keyPairs?.length ?? 0) > 0)) {
      this.index = new Map();
      return { keys: 0 };
    }
    try {
      this.index = indexKeyPairs(await this.fetchAll());
      return { keys: this.index.size };
    } catch (error) {
      return { keys: this.index.size, error: (error as Error).message };
    }
  }
}
