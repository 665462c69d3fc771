import type { Rule, RuleCondition } from '../config/schema.js';
import { cidrContains, type ParsedAddress, parseCidr } from '../net/cidr.js';
import type { OsLabel } from '../os/label.js';
import { anyMatcher, type Matcher } from './patterns.js';

/** What the rules see about one RCPT request. */
export interface ClientFacts {
  readonly os: OsLabel | undefined;
  readonly address: ParsedAddress;
  /** Postfix `client_name`: forward-confirmed, or `unknown`. */
  readonly clientName: string;
  readonly reverseClientName: string;
  readonly helo: string;
  /** Envelope sender as received (lower-cased), not the greylist-normalised form. */
  readonly sender: string;
  readonly recipient: string;
}

/** Facts derived once per request from the label and the names. */
export interface DerivedFacts {
  readonly fcrdns: boolean;
  readonly dynamicName: boolean;
  readonly windowsServer: boolean;
  readonly desktopWindows: boolean;
  /** Windows judged a mail server, and on which evidence; undefined otherwise. */
  readonly mailServer: 'Server edition' | 'verified rDNS' | undefined;
}

export type RuleAction = 'greylist' | 'accept' | 'tag';

export interface RuleMatch {
  readonly rule: string;
  readonly action: RuleAction;
  readonly tag?: string;
}

const SERVER_EDITION = /\bserver\b/i;

const isUnknownName = (name: string): boolean => name === '' || name === 'unknown';

/**
 * Derives the "desktop Windows" verdict from evidence in the request, because a
 * SYN cannot tell Windows Server from desktop Windows (see README): a label that
 * names a Server edition, or a verified reverse DNS name that does not look like a
 * dynamic pool, means a Windows mail server.
 */
export function deriveFacts(facts: ClientFacts, isDynamicName: Matcher): DerivedFacts {
  const fcrdns = !isUnknownName(facts.clientName);
  const nameForPool = fcrdns ? facts.clientName : facts.reverseClientName;
  const dynamicName = !isUnknownName(nameForPool) && isDynamicName(nameForPool);
  const os = facts.os;
  const isWindows = os !== undefined && (os.class === 'win' || /^windows\b/i.test(os.name));
  const windowsServer =
    isWindows && os !== undefined && (SERVER_EDITION.test(os.flavor) || SERVER_EDITION.test(os.name));
  const verifiedServerName = fcrdns && !isDynamicName(facts.clientName);
  const mailServer = !isWindows
    ? undefined
    : windowsServer
      ? 'Server edition'
      : verifiedServerName
        ? 'verified rDNS'
        : undefined;
  return {
    fcrdns,
    dynamicName,
    windowsServer,
    desktopWindows: isWindows && mailServer === undefined,
    mailServer,
  };
}

type Check = (f: ClientFacts, d: DerivedFacts) => boolean;

function compileCondition(when: RuleCondition): Check {
  const checks: Check[] = [];
  const text = (patterns: string[] | undefined, get: (f: ClientFacts) => string): void => {
    if (patterns === undefined) return;
    const m = anyMatcher(patterns);
    checks.push((f) => m(get(f)));
  };
  const flag = (want: boolean | undefined, get: (f: ClientFacts, d: DerivedFacts) => boolean): void => {
    if (want === undefined) return;
    checks.push((f, d) => get(f, d) === want);
  };
  if (when.osClass !== undefined) {
    const classes = new Set(when.osClass.map((c) => c.toLowerCase()));
    checks.push((f) => f.os !== undefined && classes.has(f.os.class.toLowerCase()));
  }
  if (when.osName !== undefined) {
    const m = anyMatcher(when.osName);
    checks.push((f) => f.os !== undefined && m(f.os.name));
  }
  if (when.osFlavor !== undefined) {
    const m = anyMatcher(when.osFlavor);
    checks.push((f) => f.os !== undefined && m(f.os.flavor));
  }
  if (when.ja4t !== undefined) {
    const m = anyMatcher(when.ja4t);
    checks.push((f) => f.os?.ja4t !== undefined && m(f.os.ja4t));
  }
  flag(when.osKnown, (f) => f.os !== undefined);
  flag(when.desktopWindows, (_f, d) => d.desktopWindows);
  flag(when.windowsServer, (_f, d) => d.windowsServer);
  flag(when.fcrdns, (_f, d) => d.fcrdns);
  flag(when.dynamicName, (_f, d) => d.dynamicName);
  if (when.client !== undefined) {
    const cidrs = when.client.map(parseCidr);
    checks.push((f) => cidrs.some((c) => cidrContains(c, f.address)));
  }
  text(when.clientName, (f) => f.clientName);
  text(when.reverseClientName, (f) => f.reverseClientName);
  text(when.helo, (f) => f.helo);
  text(when.sender, (f) => f.sender);
  text(when.recipient, (f) => f.recipient);
  return (f, d) => {
    for (const c of checks) if (!c(f, d)) return false;
    return true;
  };
}

export interface RuleSet {
  /** First matching rule; `accept` by the implicit rule `none` when nothing matches. */
  match(facts: ClientFacts, derived: DerivedFacts): RuleMatch;
}

export function compileRules(rules: readonly Rule[]): RuleSet {
  const compiled = rules.map((r) => ({
    check: compileCondition(r.when),
    result: { rule: r.name, action: r.action, ...(r.tag !== undefined ? { tag: r.tag } : {}) } as RuleMatch,
  }));
  const none: RuleMatch = { rule: 'none', action: 'accept' };
  return {
    match(facts, derived) {
      for (const r of compiled) if (r.check(facts, derived)) return r.result;
      return none;
    },
  };
}

/** Case-insensitive regular expressions for dynamic/residential names, as one matcher. */
export function compileDynamicPatterns(patterns: readonly string[]): Matcher {
  const res = patterns.map((p) => new RegExp(p, 'i'));
  return (name) => res.some((re) => re.test(name));
}
