import type { AllowList } from '../allow/allowlist.js';
import type { Config } from '../config/schema.js';
import { parseAddress } from '../net/cidr.js';
import type { OsResolution } from '../os/factory.js';
import type { OsLabel } from '../os/label.js';
import { formatOsLabel } from '../os/parse-label.js';
import type { PolicyRequest } from '../protocol/messages.js';
import type { GreylistStore, TripletKey } from '../store/types.js';
import { greylist } from './greylist.js';
import { osHeaderAction, sanitizeHeaderValue } from './header.js';
import type { Matcher } from './patterns.js';
import { type ClientFacts, deriveFacts, type RuleSet } from './rules.js';
import { clientKey, tripletKey } from './triplet.js';

/** What happened to one request; the server logs it as one line and counts it. */
export type Verdict =
  | 'greylist'
  | 'pass'
  | 'accept'
  | 'tag'
  | 'allow'
  | 'header'
  | 'skip'
  | 'bad_address'
  | 'bad_request'
  | 'failopen';

export interface Decision {
  /** The reply's action text. */
  readonly action: string;
  readonly verdict: Verdict;
  readonly rule?: string;
  readonly os?: OsLabel | undefined;
  readonly triplet?: TripletKey;
  /** Greylist outcome, allow-list entry, fault ... */
  readonly reason?: string;
  /** Set when the OS source failed: the answer still went out, with OS unknown. */
  readonly osFault?: string;
}

/** Everything the decision needs, swapped as a whole on reload. */
export interface PolicyState {
  readonly config: Config;
  readonly rules: RuleSet;
  readonly allow: AllowList;
  readonly isDynamicName: Matcher;
}

export interface PolicyDeps {
  readonly os: { resolve(address: string): OsResolution | Promise<OsResolution> };
  readonly store: GreylistStore;
  /** Unix seconds. */
  readonly now: () => number;
}

export const DUNNO = 'DUNNO';

/** A greylist store call failed; the request is answered DUNNO (fail open, reason `store`). */
export class StoreFault extends Error {
  override readonly name = 'StoreFault';
  constructor(readonly storeError: unknown) {
    super(`greylist store failed: ${storeError instanceof Error ? storeError.message : String(storeError)}`);
  }
}

const SKIP: Decision = { action: DUNNO, verdict: 'skip' };

/**
 * The decision for one request. Pure apart from the injected OS source and store;
 * errors propagate to the caller, which answers DUNNO (fail open).
 */
export function decide(
  req: PolicyRequest,
  state: PolicyState,
  deps: PolicyDeps,
): Decision | Promise<Decision> {
  const stage = req.protocolState;
  if (stage === 'RCPT') return decideRcpt(req, state, deps);
  const header = state.config.header;
  if (header.enabled && stage === header.stage) return decideHeader(req, state, deps);
  return SKIP;
}

function decideHeader(
  req: PolicyRequest,
  state: PolicyState,
  deps: PolicyDeps,
): Decision | Promise<Decision> {
  const h = state.config.header;
  if (parseAddress(req.clientAddress) === undefined) {
    return { action: DUNNO, verdict: 'bad_address', reason: 'client_address is not an IP address' };
  }
  const build = (r: OsResolution): Decision => ({
    action: osHeaderAction(h.name, r.label, h.maxLength),
    verdict: 'header',
    os: r.label,
    ...(r.fault !== undefined ? { osFault: r.fault } : {}),
  });
  const r = deps.os.resolve(req.clientAddress);
  return r instanceof Promise ? r.then(build) : build(r);
}

function decideRcpt(req: PolicyRequest, state: PolicyState, deps: PolicyDeps): Decision | Promise<Decision> {
  const address = parseAddress(req.clientAddress);
  if (address === undefined) {
    return { action: DUNNO, verdict: 'bad_address', reason: 'client_address is not an IP address' };
  }
  const hit =
    state.allow.size === 0
      ? undefined
      : state.allow.check({
          address,
          clientName: req.clientName,
          sender: req.sender,
          recipient: req.recipient,
        });
  if (hit !== undefined) {
    return { action: DUNNO, verdict: 'allow', reason: `${hit.kind} ${hit.value} (${hit.origin})` };
  }
  const facts = (os: OsLabel | undefined): ClientFacts => ({
    os,
    address,
    clientName: req.clientName,
    reverseClientName: req.reverseClientName,
    helo: req.heloName,
    sender: req.sender.toLowerCase(),
    recipient: req.recipient.toLowerCase(),
  });
  const r = deps.os.resolve(req.clientAddress);
  if (r instanceof Promise) return r.then((res) => applyRules(req, state, deps, facts(res.label), res.fault));
  return applyRules(req, state, deps, facts(r.label), r.fault);
}

function applyRules(
  req: PolicyRequest,
  state: PolicyState,
  deps: PolicyDeps,
  facts: ClientFacts,
  osFault: string | undefined,
): Decision | Promise<Decision> {
  const derived = deriveFacts(facts, state.isDynamicName);
  const match = state.rules.match(facts, derived);
  const base = {
    rule: match.rule,
    os: facts.os,
    ...(osFault !== undefined ? { osFault } : {}),
  };
  if (match.action === 'accept') return { ...base, action: DUNNO, verdict: 'accept' };
  if (match.action === 'tag') {
    const h = state.config.header;
    const value = sanitizeHeaderValue(match.tag ?? `rule=${match.rule}`, h.maxLength);
    return { ...base, action: `PREPEND ${h.tagName}: ${value}`, verdict: 'tag' };
  }
  const g = state.config.greylist;
  const verifiedName = derived.fcrdns && !derived.dynamicName ? facts.clientName : undefined;
  const key = tripletKey(clientKey(facts.address, verifiedName, g), req.sender, req.recipient);
  const outcome = greylist(deps.store, key, deps.now(), g).catch((err: unknown) => {
    throw new StoreFault(err);
  });
  return outcome.then((outcome): Decision => {
    if (outcome.pass)
      return { ...base, action: DUNNO, verdict: 'pass', triplet: key, reason: outcome.reason };
    const text = g.text
      .replaceAll('{retry}', String(outcome.retryIn))
      .replaceAll('{delay}', String(g.delaySec))
      .replaceAll('{os}', derived.desktopWindows ? 'desktop Windows' : formatOsLabel(facts.os))
      .replaceAll('{rule}', match.rule)
      .replaceAll('{client}', key.client)
      .replaceAll('{recipient_domain}', key.recipient.slice(key.recipient.lastIndexOf('@') + 1));
    return {
      ...base,
      action: `${g.action} ${text}`,
      verdict: 'greylist',
      triplet: key,
      reason: outcome.reason,
    };
  });
}
