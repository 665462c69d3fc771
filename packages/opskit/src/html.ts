/**
 * Text for HTML element content and attribute values: names on the status pages come from SMTP
 * clients and from CloudStack and must stay text.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside a `<script type="application/json">`: no `<` can close the element early. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A table with escaped cells; numbers right-aligned. `id` and `data-*` make it testable. */
export function table(
  id: string,
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body =
    rows.length === 0
      ? `<tr><td colspan="${head.length}" class="empty">none</td></tr>`
      : rows
          .map(
            (r) =>
              `<tr>${r
                .map((c) =>
                  typeof c === 'number' ? `<td class="num">${c}</td>` : `<td>${escapeHtml(c)}</td>`,
                )
                .join('')}</tr>`,
          )
          .join('\n');
  return `<table id="${escapeHtml(id)}"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

/** The status pages' shared look: plain tables, readable without JavaScript. */
export const PAGE_STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.empty{color:#888}
.bad{color:#b00;font-weight:bold}.ok{color:#070}.muted{color:#666}.grid{display:flex;flex-wrap:wrap;gap:2em}`;
