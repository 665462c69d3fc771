/**
 * Envelope sender reduced to what stays the same across retries, as postgrey
 * does (its `do_sender_substitutions`), plus SRS which postgrey leaves alone:
 *
 * - lower case (postgrey lower-cases the whole key);
 * - SRS: `SRS0=hash=tt=orig.domain=orig.local@forwarder` becomes
 *   `orig.local@orig.domain`; `SRS1=hash=fwd==hash=tt=orig.domain=orig.local@...`
 *   likewise (the hash and timestamp change with every forward);
 * - BATV: `prvs=tag=local@`, `prvs=local=tag@` (the older order) and `btv1==tag==local@`
 *   become `local@` (postgrey picks the part that does not look like a 10-character tag);
 * - `+extension` removed from the local part (VERP, sub-addressing);
 * - every all-digit word in the local part becomes `#` (postgrey: VERP counters),
 *   a word being a run of letters, digits and `_` as in Perl's `\b`.
 *
 * The null sender stays empty.
 */
export function normalizeSender(sender: string): string {
  const lower = sender.toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at === -1) return lower;
  let local = lower.slice(0, at);
  let domain = lower.slice(at + 1);

  const srs = reduceSrs(local);
  if (srs !== undefined) {
    local = srs.local;
    domain = srs.domain;
  }
  local = reduceBatv(local);
  const plus = local.indexOf('+');
  if (plus !== -1) local = local.slice(0, plus);
  local = local.replace(/(?<![\p{L}\p{N}_])\d+(?![\p{L}\p{N}_])/gu, '#');
  return `${local}@${domain}`;
}

function reduceSrs(local: string): { local: string; domain: string } | undefined {
  let fields: string[];
  if (local.startsWith('srs0=') || local.startsWith('srs0+') || local.startsWith('srs0-')) {
    // SRS0=HHH=TT=domain=local (the local part may itself contain '=')
    fields = local.slice(5).split('=');
    if (fields.length < 4) return undefined;
    const domain = fields[2] ?? '';
    const origLocal = fields.slice(3).join('=');
    return domain && origLocal ? { local: origLocal, domain } : undefined;
  }
  if (local.startsWith('srs1=') || local.startsWith('srs1+') || local.startsWith('srs1-')) {
    // SRS1=HHH=forwarder==HHH=TT=domain=local
    const inner = local.indexOf('==');
    if (inner === -1) return undefined;
    fields = local.slice(inner + 2).split('=');
    if (fields.length < 4) return undefined;
    const domain = fields[2] ?? '';
    const origLocal = fields.slice(3).join('=');
    return domain && origLocal ? { local: origLocal, domain } : undefined;
  }
  return undefined;
}

const BATV_TAG = /^[0-9a-z]{10}/;

function reduceBatv(local: string): string {
  if (local.startsWith('prvs=')) {
    const parts = local.split('=');
    if (parts.length !== 3) return local;
    const a = parts[1] ?? '';
    const b = parts[2] ?? '';
    if (BATV_TAG.test(a) && !BATV_TAG.test(b)) return b;
    if (BATV_TAG.test(b) && !BATV_TAG.test(a)) return a;
    return b;
  }
  if (local.startsWith('btv1==')) {
    // btv1==TAG==local
    const rest = local.slice(6);
    const sep = rest.indexOf('==');
    return sep === -1 ? local : rest.slice(sep + 2);
  }
  return local;
}

export function normalizeRecipient(recipient: string): string {
  return recipient.toLowerCase();
}
