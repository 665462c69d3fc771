import { type Cidr, CidrTable, type ParsedAddress, parseAddress, parseCidr } from '../net/cidr.js';
import type { OsLabel, OsSource } from './label.js';
import { parseOsLabel } from './parse-label.js';

export class StaticEntryError extends Error {
  override readonly name = 'StaticEntryError';
  constructor(
    readonly entry: string,
    message: string,
  ) {
    super(message);
  }
}

/** Parses `CIDR = LABEL` (spaces optional), e.g. `192.0.2.0/24 = Windows 7 or 8`. */
export function parseStaticEntry(entry: string): { cidr: Cidr; label: OsLabel } {
  const eq = entry.indexOf('=');
  if (eq === -1) throw new StaticEntryError(entry, `"${entry}" is not CIDR=LABEL`);
  // The label reaches reply texts and headers as it is written here.
  if (!/^[\x20-\x7e]*$/.test(entry.slice(eq + 1))) {
    throw new StaticEntryError(entry, `"${entry}": the OS label must be printable ASCII`);
  }
  try {
    return { cidr: parseCidr(entry.slice(0, eq)), label: parseOsLabel(entry.slice(eq + 1), 'static') };
  } catch (err) {
    throw new StaticEntryError(entry, `"${entry}": ${(err as Error).message}`);
  }
}

/**
 * OS labels pinned by the operator, longest prefix wins. Answers synchronously
 * (`lookupSync`) so the decision path skips timers when only pins are configured.
 */
export class StaticOsSource implements OsSource {
  readonly name = 'static';
  private readonly table = new CidrTable<OsLabel>();

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const { cidr, label } = parseStaticEntry(e);
      this.table.add(cidr, label);
    }
  }

  get size(): number {
    return this.table.size;
  }

  /** `parsed` saves parsing the address again when the caller already did. */
  lookupSync(address: string, parsed?: ParsedAddress): OsLabel | undefined {
    if (this.table.size === 0) return undefined;
    const addr = parsed ?? parseAddress(address);
    return addr === undefined ? undefined : this.table.lookup(addr);
  }

  async lookup(address: string): Promise<OsLabel | undefined> {
    return this.lookupSync(address);
  }

  async close(): Promise<void> {}
}
