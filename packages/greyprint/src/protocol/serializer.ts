/** Characters that would end the reply early or confuse Postfix's attribute reader. */
const UNSAFE = /[\r\n\0]/g;
const HAS_UNSAFE = /[\r\n\0]/;

/** One policy reply on the wire: `action=<text>` and the empty line that ends it. */
export function serializeReply(action: string): string {
  const safe = HAS_UNSAFE.test(action) ? action.replace(UNSAFE, ' ') : action;
  return `action=${safe}\n\n`;
}

/** A request as Postfix would send it; for the `check` client and tests. */
export function serializeRequest(attributes: Readonly<Record<string, string>>): string {
  let out = '';
  for (const [name, value] of Object.entries(attributes)) {
    out += `${name}=${value.replace(UNSAFE, ' ')}\n`;
  }
  return `${out}\n`;
}
