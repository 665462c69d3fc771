import { cidrContains, type ParsedAddress, parseCidr } from '../net/cidr.js';
import { compilePattern } from '../policy/patterns.js';

/**
 * Allow-lists, postgrey's whitelists in one format: one entry per line,
 * `KIND VALUE`, `#` starts a comment.
 *
 *   client    192.0.2.0/24          client address in a CIDR block (or one address)
 *   sender    news@example.com      envelope sender, exact (after lower-casing)
 *   sender    example.com           any sender at this domain or a subdomain of it
 *   recipient postmaster@           this local part at any domain
 *   recipient abuse@example.net     exact recipient
 *   recipient example.net           any recipient at this domain or a subdomain
 *   rdns      *.outbound.example    verified reverse DNS name (client_name); glob or /regex/
 */
export const ALLOW_KINDS = ['client', 'sender', 'recipient', 'rdns'] as const;
export type AllowKind = (typeof ALLOW_KINDS)[number];

export interface AllowEntry {
  readonly kind: AllowKind;
  readonly value: string;
  /** Where it came from: `file:line` or `config`. */
  readonly origin: string;
}

export class AllowListError extends Error {
  override readonly name = 'AllowListError';
  constructor(
    readonly origin: string,
    readonly entry: string,
    message: string,
  ) {
    super(`${origin}: ${message}`);
  }
}

/** The line without its comment: from a `#` that starts the line or follows white space. */
function stripComment(line: string): string {
  const m = /(^|\s)#/.exec(line);
  return m === null ? line : line.slice(0, m.index);
}

/**
 * Why a value cannot be written to an allow file so that it reads back as the
 * same entry, or undefined when it can: white space ends the value, a leading
 * `#` makes the line a comment, control characters have no place in a line.
 */
export function unstorableReason(value: string): string | undefined {
  if (value === '') return 'the value is empty';
  if (/\s/.test(value)) return 'white space cannot be stored in an allow-list value';
  if (value.startsWith('#')) return 'a value starting with "#" would be read as a comment';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\x00-\x1f\x7f]/.test(value)) return 'control characters cannot be stored in an allow-list value';
  return undefined;
}

/** Parses one entry line; undefined for blank and comment lines. Throws AllowListError. */
export function parseAllowLine(line: string, origin: string): AllowEntry | undefined {
  const text = stripComment(line).trim();
  if (text === '') return undefined;
  const m = /^(\S+)\s+(\S+)$/.exec(text);
  if (m === null) throw new AllowListError(origin, line, `expected "KIND VALUE", got "${text}"`);
  const kind = (m[1] ?? '').toLowerCase();
  const value = m[2] ?? '';
  if (!(ALLOW_KINDS as readonly string[]).includes(kind)) {
    throw new AllowListError(origin, line, `unknown kind "${kind}" (one of ${ALLOW_KINDS.join(', ')})`);
  }
  try {
    if (kind === 'client') parseCidr(value);
    if (kind === 'rdns') compilePattern(value);
  } catch (err) {
    throw new AllowListError(origin, line, (err as Error).message);
  }
  return { kind: kind as AllowKind, value, origin };
}

export function parseAllowText(text: string, file: string): AllowEntry[] {
  const out: AllowEntry[] = [];
  text.split('\n').forEach((line, i) => {
    const e = parseAllowLine(line, `${file}:${i + 1}`);
    if (e !== undefined) out.push(e);
  });
  return out;
}

export interface AllowQuery {
  readonly address: ParsedAddress;
  readonly clientName: string;
  readonly sender: string;
  readonly recipient: string;
}

/** Which entry allowed the request. */
export interface AllowHit {
  readonly kind: AllowKind;
  readonly value: string;
  readonly origin: string;
}

const domainOf = (address: string): string => {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1);
};

function domainMatches(domain: string, entry: string): boolean {
  return domain === entry || domain.endsWith(`.${entry}`);
}

/** Compiled allow-lists; built anew on every reload, so lookups never see a half-loaded list. */
export class AllowList {
  private readonly clients: { cidr: ReturnType<typeof parseCidr>; entry: AllowEntry }[] = [];
  private readonly senderAddresses = new Map<string, AllowEntry>();
  private readonly senderDomains: AllowEntry[] = [];
  private readonly recipientAddresses = new Map<string, AllowEntry>();
  private readonly recipientLocals = new Map<string, AllowEntry>();
  private readonly recipientDomains: AllowEntry[] = [];
  private readonly names: { match: (s: string) => boolean; entry: AllowEntry }[] = [];

  constructor(readonly entries: readonly AllowEntry[]) {
    for (const e of entries) {
      const v = e.value.toLowerCase();
      switch (e.kind) {
        case 'client':
          this.clients.push({ cidr: parseCidr(e.value), entry: e });
          break;
        case 'sender':
          if (v.startsWith('@')) this.senderDomains.push({ ...e, value: v.slice(1) });
          else if (v.includes('@')) this.senderAddresses.set(v, e);
          else this.senderDomains.push({ ...e, value: v });
          break;
        case 'recipient':
          if (v.endsWith('@')) this.recipientLocals.set(v.slice(0, -1), e);
          else if (v.startsWith('@')) this.recipientDomains.push({ ...e, value: v.slice(1) });
          else if (v.includes('@')) this.recipientAddresses.set(v, e);
          else this.recipientDomains.push({ ...e, value: v });
          break;
        case 'rdns':
          this.names.push({ match: compilePattern(e.value), entry: e });
          break;
      }
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** The first entry that allows the request, or undefined. Sender and recipient are lower-cased here. */
  check(q: AllowQuery): AllowHit | undefined {
    for (const c of this.clients) if (cidrContains(c.cidr, q.address)) return c.entry;
    if (q.clientName !== 'unknown' && q.clientName !== '') {
      for (const n of this.names) if (n.match(q.clientName)) return n.entry;
    }
    if (this.senderAddresses.size > 0 || this.senderDomains.length > 0) {
      const sender = q.sender.toLowerCase();
      const hit = this.senderAddresses.get(sender);
      if (hit !== undefined) return hit;
      const domain = domainOf(sender);
      if (domain !== '') for (const d of this.senderDomains) if (domainMatches(domain, d.value)) return d;
    }
    if (this.recipientAddresses.size + this.recipientLocals.size + this.recipientDomains.length > 0) {
      const rcpt = q.recipient.toLowerCase();
      const hit = this.recipientAddresses.get(rcpt);
      if (hit !== undefined) return hit;
      const at = rcpt.lastIndexOf('@');
      if (at !== -1) {
        const local = this.recipientLocals.get(rcpt.slice(0, at));
        if (local !== undefined) return local;
        const domain = rcpt.slice(at + 1);
        for (const d of this.recipientDomains) if (domainMatches(domain, d.value)) return d;
      }
    }
    return undefined;
  }
}
