/**
 * The head of one HTTP/1.x request, as far as the meta data server needs it:
 * the request line and whether the header block is well-formed. The server
 * answers one request per connection and closes it (`Connection: close`), so
 * it never reads a body, never pipelines and never keeps a connection alive;
 * what it must get right is where the head ends, what the request line says
 * and that anything else is refused with a 4xx.
 */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: '1.0' | '1.1';
}

export type HeadParse =
  | { readonly kind: 'complete'; readonly head: RequestHead }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly status: 400 | 431; readonly why: string };

/** The most a request head may take; longer ones get 431 (the VR's web servers allow 8 KiB too). */
export const MAX_REQUEST_HEAD = 8192;

const REQUEST_LINE = /^([A-Z]{1,16}) ([\x21-\x7e]{1,4096}) HTTP\/1\.([01])$/;
const HEADER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/;
const CONTENT_LENGTH = /^content-length:/i;
const TRANSFER_ENCODING = /^transfer-encoding:/i;

/**
 * Parses what has arrived on a connection so far (latin-1: the head is
 * ASCII). Lines end in CRLF or a bare LF, as RFC 9112 lets a server accept.
 * A request that announces a body (a non-zero Content-Length or any
 * Transfer-Encoding) is refused: no request here has one, and refusing it
 * leaves no unread bytes to be mistaken for a next request. Pure.
 */
export function parseRequestHead(received: Buffer): HeadParse {
  const text = received.toString('latin1');
  const end = headEnd(text);
  if (end === -1) {
    return received.length > MAX_REQUEST_HEAD
      ? { kind: 'error', status: 431, why: 'request head too large' }
      : { kind: 'incomplete' };
  }
  if (end > MAX_REQUEST_HEAD) return { kind: 'error', status: 431, why: 'request head too large' };
  const lines = text.slice(0, end).split(/\r?\n/);
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (m === null) return { kind: 'error', status: 400, why: 'bad request line' };
  for (const line of lines.slice(1)) {
    if (!HEADER_LINE.test(line)) return { kind: 'error', status: 400, why: 'bad header line' };
    if (TRANSFER_ENCODING.test(line)) return { kind: 'error', status: 400, why: 'request with a body' };
    if (CONTENT_LENGTH.test(line) && !/^content-length:[\t ]*0[\t ]*$/i.test(line)) {
      return { kind: 'error', status: 400, why: 'request with a body' };
    }
  }
  return {
    kind: 'complete',
    head: { method: m[1] as string, target: m[2] as string, version: m[3] === '0' ? '1.0' : '1.1' },
  };
}

/** Index of the blank line that ends the head (CRLF CRLF, or bare LFs), -1 if not there yet. */
function headEnd(text: string): number {
  const crlf = text.indexOf('\r\n\r\n');
  const lf = text.indexOf('\n\n');
  if (crlf === -1) return lf;
  if (lf === -1) return crlf;
  return Math.min(crlf, lf);
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/**
 * One whole response as a single buffer (one write, one segment for small
 * answers): status line, the headers, `Connection: close`, and the body
 * unless the request was HEAD.
 */
export function responseBytes(
  status: number,
  body: string | Buffer,
  options: { head?: boolean; extraHeaders?: string } = {},
): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head =
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${payload.length}\r\n` +
    `${options.extraHeaders ?? ''}Connection: close\r\n\r\n`;
  if (options.head === true) return Buffer.from(head, 'latin1');
  const out = Buffer.allocUnsafe(head.length + payload.length);
  out.write(head, 0, 'latin1');
  payload.copy(out, head.length);
  return out;
}
