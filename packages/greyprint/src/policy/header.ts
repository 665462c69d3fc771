import type { OsLabel } from '../os/label.js';
import { formatOsLabel } from '../os/parse-label.js';

/**
 * Header value made safe for a mail header: printable ASCII only (anything else
 * becomes `?`, runs of white space one space), cut to `maxLength` characters.
 * Labels come from p0f's database or the operator, never from the SMTP client,
 * but a header is still no place for control characters or folding.
 */
export function sanitizeHeaderValue(text: string, maxLength: number): string {
  let out = '';
  let space = false;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) {
      space = out.length > 0;
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += code > 0x20 && code < 0x7f ? ch : '?';
    if (out.length >= maxLength) break;
  }
  return out.slice(0, maxLength).trimEnd() || 'unknown';
}

/** Longest reply text: it follows Postfix's own words in one SMTP reply line (512 octets, RFC 5321). */
export const REPLY_TEXT_MAX = 256;

const PRINTABLE_REPLY = new RegExp(`^[\\x20-\\x7e]{1,${REPLY_TEXT_MAX}}$`);

/**
 * A reply text safe for Postfix and the SMTP reply it becomes: printable ASCII (anything else
 * `?`, runs of white space one space), at most REPLY_TEXT_MAX characters. Request data reaches
 * the greylist text through `{recipient_domain}` and, with keyByDomain, `{client}`.
 */
export function sanitizeReplyText(text: string, maxLength = REPLY_TEXT_MAX): string {
  // The usual text (the operator's, with an ordinary domain) passes unchanged.
  if (maxLength === REPLY_TEXT_MAX && PRINTABLE_REPLY.test(text) && !text.includes('  ')) return text;
  return sanitizeHeaderValue(text, maxLength);
}

/** Why a Windows client counts as a mail server, for the header's qualifier. */
export type MailServerEvidence = 'Server edition' | 'verified rDNS';

/**
 * `PREPEND X-P0f-OS: Windows 7 or 8`, in p0f's own wording; `unknown` when no
 * source knew. A Windows client that the desktop test judged a mail server gets
 * ` (mail server: verified rDNS)` after p0f's words, so the SpamAssassin and
 * rspamd rules score only what the greylist rules call desktop Windows. The
 * qualifier is never cut: the label gives way to the length bound first.
 * With a secret, ` [gp:SECRET]` follows, for header_checks to strip (keeping
 * the header) while they drop every X-P0f-OS without it.
 */
export function osHeaderAction(
  name: string,
  label: OsLabel | undefined,
  maxLength: number,
  secret?: string,
  mailServer?: MailServerEvidence,
): string {
  const qualifier = mailServer === undefined ? '' : ` (mail server: ${mailServer})`;
  const value =
    sanitizeHeaderValue(formatOsLabel(label), Math.max(1, maxLength - qualifier.length)) + qualifier;
  return secret === undefined ? `PREPEND ${name}: ${value}` : `PREPEND ${name}: ${value} [gp:${secret}]`;
}
