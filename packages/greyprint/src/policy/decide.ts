import type { AllowList } from '../allow/allowlist.js';
import type { Config } from '../config/schema.js';
import { type ParsedAddress, parseAddress } from '../net/cidr.js';
import type { OsResolution } from '../os/factory.js';
import type { OsLabel } from '../os/label.js';
import { formatOsLabel } from '../os/parse-label.js';
import type { PolicyRequest } from '../protocol/messages.js';
import type { GreylistStore, TripletKey } from '../store/types.js';
import { type GreylistOutcome, greylist } from './greylist.js';
import { osHeaderAction, REPLY_TEXT_MAX, sanitizeHeaderValue, sanitizeReplyText } from './header.js';
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
  /** For a first pass after greylisting: seconds from the first attempt to this one. */
  readonly delaySec?: number;
}

/** Everything the decision needs, swapped as a whole on reload. */
export interface PolicyState {
  readonly config: Config;
  readonly rules: RuleSet;
  readonly allow: AllowList;
  readonly isDynamicName: Matcher;
}

export interface PolicyDeps {
  readonly os: { resolve(address: string, parsed?: ParsedAddress): OsResolution | Promise<OsResolution> };
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
  if (header.enabled && (stage === header.stage || (stage === 'BDAT' && header.stage === 'DATA'))) {
    return decideHeader(req, state, deps);
  }
  return SKIP;
}

function decideHeader(
  req: PolicyRequest,
  state: PolicyState,
  deps: PolicyDeps,
): Decision | Promise<Decision> {
  const address = parseAddress(req.clientAddress);
  if (address === undefined) {
    return { action: DUNNO, verdict: 'bad_address', reason: 'client_address is not an IP address' };
  }
  const r = deps.os.resolve(req.clientAddress, address);
  if (r instanceof Promise) return r.then((res) => headerDecision(req, address, state, res));
  return headerDecision(req, address, state, r);
}

function headerDecision(
  req: PolicyRequest,
  address: ParsedAddress,
  state: PolicyState,
  r: OsResolution,
): Decision {
  const h = state.config.header;
  // The same desktop test as at RCPT, so the header says "mail server" exactly
  // when the rules let the client through as one.
  const { mailServer } = deriveFacts(factsOf(req, address, r.label), state.isDynamicName);
  const d: Decision = {
    action: osHeaderAction(h.name, r.label, h.maxLength, h.secret, mailServer),
    verdict: 'header',
    os: r.label,
    ...(mailServer === undefined ? {} : { reason: `mail server: ${mailServer}` }),
  };
  return r.fault === undefined ? d : { ...d, osFault: r.fault };
}

function decideRcpt(req: PolicyRequest, state: PolicyState, deps: PolicyDeps): Decision | Promise<Decision> {
  const address = parseAddress(req.clientAddress);
  if (address === undefined) {
    return { action: DUNNO, verdict: 'bad_address', reason: 'client_address is not an IP address' };
  }
  if (state.allow.size > 0) {
    const hit = state.allow.check({
      address,
      clientName: req.clientName,
      sender: req.sender,
      recipient: req.recipient,
    });
    if (hit !== undefined) {
      return { action: DUNNO, verdict: 'allow', reason: `${hit.kind} ${hit.value} (${hit.origin})` };
    }
  }
  const r = deps.os.resolve(req.clientAddress, address);
  if (r instanceof Promise) {
    return r.then((res) => applyRules(req, state, deps, factsOf(req, address, res.label), res.fault));
  }
  return applyRules(req, state, deps, factsOf(req, address, r.label), r.fault);
}

function factsOf(req: PolicyRequest, address: ParsedAddress, os: OsLabel | undefined): ClientFacts {
  return {
    os,
    address,
    clientName: req.clientName,
    reverseClientName: req.reverseClientName,
    helo: req.heloName,
    sender: req.sender.toLowerCase(),
    recipient: req.recipient.toLowerCase(),
  };
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
  if (match.action === 'accept') {
    return { action: DUNNO, verdict: 'accept', rule: match.rule, os: facts.os, osFault };
  }
  if (match.action === 'tag') {
    const h = state.config.header;
    const value = sanitizeHeaderValue(match.tag ?? `rule=${match.rule}`, h.maxLength);
    return {
      action: `PREPEND ${h.tagName}: ${value}`,
      verdict: 'tag',
      rule: match.rule,
      os: facts.os,
      osFault,
    };
  }
  const g = state.config.greylist;
  const verifiedName = derived.fcrdns && !derived.dynamicName ? facts.clientName : undefined;
  const key = tripletKey(clientKey(facts.address, verifiedName, g), req.sender, req.recipient);
  const pending = new GreylistReply(state, match.rule, facts.os, derived.desktopWindows, key, osFault);
  return greylist(deps.store, key, deps.now(), g).then(
    (outcome) => pending.decision(outcome),
    (err: unknown) => {
      throw new StoreFault(err);
    },
  );
}

/** What a greylist answer needs once the store has spoken (a class, not a closure: cheap per request). */
class GreylistReply {
  constructor(
    private readonly state: PolicyState,
    private readonly rule: string,
    private readonly os: OsLabel | undefined,
    private readonly desktopWindows: boolean,
    private readonly key: TripletKey,
    private readonly osFault: string | undefined,
  ) {}

  decision(outcome: GreylistOutcome): Decision {
    const { rule, os, key, osFault } = this;
    if (outcome.pass) {
      const delaySec = outcome.reason === 'passed' ? outcome.waitedSec : undefined;
      return {
        action: DUNNO,
        verdict: 'pass',
        rule,
        os,
        osFault,
        triplet: key,
        reason: outcome.reason,
        delaySec,
      };
    }
    const g = this.state.config.greylist;
    const template = templateFor(g.text);
    const raw = template.render({
      retry: String(outcome.retryIn),
      delay: String(g.delaySec),
      os: this.desktopWindows ? 'desktop Windows' : formatOsLabel(os),
      rule,
      client: key.client,
      recipient_domain: key.recipient.slice(key.recipient.lastIndexOf('@') + 1),
    });
    // Request data ({client}, {recipient_domain}) can carry any byte and 4 KB: such texts are
    // sanitised. The default text holds only the operator's words, numbers and the OS label,
    // so it costs one length check.
    const text = template.trusted && raw.length <= REPLY_TEXT_MAX ? raw : sanitizeReplyText(raw);
    return {
      action: `${g.action} ${text}`,
      verdict: 'greylist',
      rule,
      os,
      osFault,
      triplet: key,
      reason: outcome.reason,
    };
  }
}

interface Template {
  render(values: Readonly<Record<string, string>>): string;
  /** No request data in it and only printable ASCII in the operator's parts. */
  readonly trusted: boolean;
}
const templates = new Map<string, Template>();
/**
 * Placeholders whose values are not known to be printable and short: the request's (the
 * client's name, the recipient) and rule names (any string in the config). `{os}` is p0f's
 * wording or an operator pin, both checked printable ASCII when read.
 */
const REQUEST_DATA = new Set(['{client}', '{recipient_domain}', '{rule}']);

/** Compiles `...{name}...` once per text; unknown placeholders stay as written. */
function templateFor(text: string): Template {
  let t = templates.get(text);
  if (t === undefined) {
    const parts = text.split(/(\{[a-z_]+\})/);
    t = {
      render: (values) => {
        let out = '';
        for (let i = 0; i < parts.length; i++) {
          const p = parts[i] ?? '';
          out += i % 2 === 1 ? (values[p.slice(1, -1)] ?? p) : p;
        }
        return out;
      },
      trusted: /^[\x20-\x7e]*$/.test(text) && !parts.some((p, i) => i % 2 === 1 && REQUEST_DATA.has(p)),
    };
    if (templates.size > 100) templates.clear();
    templates.set(text, t);
  }
  return t;
}
