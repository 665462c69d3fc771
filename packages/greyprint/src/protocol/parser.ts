import { isUtf8 } from 'node:buffer';
import {
  DEFAULT_LIMITS,
  type ParsedMessage,
  type ParserLimits,
  type PolicyRequest,
  PolicyRequestError,
} from './messages.js';

const LF = 0x0a;
const CR = 0x0d;
const EQ = 0x3d;
const NUL = 0x00;

/**
 * Incremental parser for policy requests. Feed it chunks exactly as they come off
 * the socket, split anywhere; it calls `onMessage` once per request (ended by an
 * empty line), in order. A request that breaks a limit or the format is reported
 * once, as an error message, when its empty line arrives: the rest of it is
 * discarded without buffering, so the connection stays in step with the client
 * and memory stays bounded by `maxRequestBytes` per connection.
 *
 * Bytes are only scanned for newlines while they arrive (no allocation per
 * line); a complete request is decoded in one go. Values that are valid UTF-8
 * are decoded as UTF-8 (SMTPUTF8 addresses); a request that is not valid UTF-8
 * is decoded line by line, and each invalid line as latin1, which maps each
 * byte to one character, so two different byte strings never collapse into the
 * same greylist key.
 */
export class PolicyParser {
  private readonly limits: ParserLimits;
  /** Chunks (or parts) of the current request, while it spans chunks and is still wanted. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes of the current request so far. */
  private requestBytes = 0;
  /** Bytes of the current line so far (without its newline). */
  private lineBytes = 0;
  /** Lines of the current request so far. */
  private lineCount = 0;
  /** The byte before the current position when it lies in an earlier chunk (CR of a split CRLF). */
  private lastByte = -1;
  /** Set once the request broke a limit: its bytes are dropped until its end. */
  private error: PolicyRequestError | undefined;

  constructor(
    private readonly onMessage: (message: ParsedMessage) => void,
    limits: Partial<ParserLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True while part of a request has arrived and its ending empty line has not. */
  get inRequest(): boolean {
    return this.requestBytes > 0;
  }

  feed(chunk: Buffer): void {
    const { maxLineBytes, maxRequestBytes, maxAttributes } = this.limits;
    const end = chunk.length;
    /** Where the current request starts in this chunk (0 when it began in an earlier chunk). */
    let requestStart = 0;
    let pos = 0;
    while (pos < end) {
      const nl = chunk.indexOf(LF, pos);
      const stop = nl === -1 ? end : nl;
      this.lineBytes += stop - pos;
      this.requestBytes += stop - pos + (nl === -1 ? 0 : 1);
      if (this.error === undefined) {
        if (this.lineBytes > maxLineBytes + 1) {
          // +1 leaves room for the CR of a CRLF line end.
          this.fail(
            new PolicyRequestError(
              'line_too_long',
              `attribute line longer than ${maxLineBytes} bytes`,
              undefined,
              maxLineBytes,
            ),
          );
        } else if (this.requestBytes > maxRequestBytes) {
          this.fail(
            new PolicyRequestError(
              'request_too_large',
              `request larger than ${maxRequestBytes} bytes`,
              undefined,
              maxRequestBytes,
            ),
          );
        }
      }
      if (nl === -1) {
        this.lastByte = chunk[end - 1] ?? this.lastByte;
        break;
      }
      const before = nl > pos ? chunk[nl - 1] : this.lastByte;
      const emptyLine = this.lineBytes === 0 || (this.lineBytes === 1 && before === CR);
      this.lastByte = LF;
      this.lineBytes = 0;
      pos = nl + 1;
      if (!emptyLine) {
        if (++this.lineCount > maxAttributes && this.error === undefined) {
          this.fail(
            new PolicyRequestError(
              'too_many_attributes',
              `more than ${maxAttributes} attributes in one request`,
              undefined,
              maxAttributes,
            ),
          );
        }
        continue;
      }
      // End of a request: the block is everything before this empty line.
      let block: Buffer | undefined;
      if (this.error === undefined) {
        if (this.heldBytes === 0) block = chunk.subarray(requestStart, pos);
        else {
          this.held.push(chunk.subarray(0, pos));
          block = Buffer.concat(this.held, this.heldBytes + pos);
        }
      }
      const error = this.error;
      this.held = [];
      this.heldBytes = 0;
      this.requestBytes = 0;
      this.lineCount = 0;
      this.error = undefined;
      requestStart = pos;
      this.onMessage(error !== undefined ? { kind: 'error', error } : decodeRequest(block as Buffer));
    }
    // Keep the unfinished request's bytes, unless it already failed.
    if (this.error === undefined && requestStart < end) {
      // Copy: the socket may reuse its buffer, and a small request must not pin a large chunk.
      const rest = Buffer.from(chunk.subarray(requestStart));
      this.held.push(rest);
      this.heldBytes += rest.length;
    }
  }

  private fail(error: PolicyRequestError): void {
    this.error = error;
    this.held = [];
    this.heldBytes = 0;
  }
}

/** Decodes one complete request block (its lines and the ending empty line). */
function decodeRequest(block: Buffer): ParsedMessage {
  const nulAt = block.indexOf(NUL);
  if (nulAt !== -1) {
    const lineStart = block.lastIndexOf(LF, nulAt) + 1;
    const eq = block.indexOf(EQ, lineStart);
    const name = eq !== -1 && eq < nulAt ? block.toString('latin1', lineStart, eq) : undefined;
    return {
      kind: 'error',
      error: new PolicyRequestError('nul_byte', `NUL byte in attribute ${name ?? '(name)'}`, name),
    };
  }
  const fields = new RequestFields();
  let texts: string[];
  let latin1 = false;
  if (isUtf8(block)) {
    texts = [block.toString('utf8')];
  } else {
    // Rare: decode line by line so that only the invalid lines fall back to latin1.
    texts = [];
    let pos = 0;
    while (pos < block.length) {
      let nl = block.indexOf(LF, pos);
      if (nl === -1) nl = block.length;
      const line = block.subarray(pos, nl);
      const utf8 = isUtf8(line);
      if (!utf8) latin1 = true;
      texts.push(line.toString(utf8 ? 'utf8' : 'latin1'));
      pos = nl + 1;
    }
  }
  for (const text of texts) {
    const err = scanLines(text, fields);
    if (err !== undefined) return { kind: 'error', error: err };
  }
  const request = fields.request;
  if (request === undefined) {
    return {
      kind: 'error',
      error: new PolicyRequestError('missing_request', 'request without request=smtpd_access_policy'),
    };
  }
  if (request !== 'smtpd_access_policy') {
    return {
      kind: 'error',
      error: new PolicyRequestError(
        'wrong_request',
        `unsupported request=${request.slice(0, 64)} (expected smtpd_access_policy)`,
        'request',
      ),
    };
  }
  return { kind: 'request', request: new DecodedRequest(request, fields, texts, latin1) };
}

/** The attributes greyprint reads, picked out while the lines are checked (last value wins). */
class RequestFields {
  request: string | undefined = undefined;
  protocolState: string | undefined = undefined;
  clientAddress: string | undefined = undefined;
  clientName: string | undefined = undefined;
  reverseClientName: string | undefined = undefined;
  heloName: string | undefined = undefined;
  sender: string | undefined = undefined;
  recipient: string | undefined = undefined;
  instance: string | undefined = undefined;
  queueId: string | undefined = undefined;
}

/**
 * Checks the `name=value` lines of `text` (empty lines skipped) and keeps the values of the
 * attributes greyprint reads. Names are matched in place, by length and then by content, so
 * that the thirty-odd attributes Postfix sends cost no string or map entry each: the full
 * attribute map is only built if someone asks for it (DecodedRequest.attributes).
 */
function scanLines(text: string, f: RequestFields): PolicyRequestError | undefined {
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = len;
    let lineEnd = nl;
    // Postfix sends bare LF; a CR before it comes from hand-typed tests (telnet, nc -C).
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === CR) lineEnd--;
    if (lineEnd > pos) {
      const eq = text.indexOf('=', pos);
      if (eq <= pos || eq >= lineEnd) {
        return new PolicyRequestError('malformed_line', 'attribute line without name=value');
      }
      switch (eq - pos) {
        case 6:
          if (text.startsWith('sender', pos)) f.sender = text.slice(eq + 1, lineEnd);
          break;
        case 7:
          if (text.startsWith('request', pos)) f.request = text.slice(eq + 1, lineEnd);
          break;
        case 8:
          if (text.startsWith('instance', pos)) f.instance = text.slice(eq + 1, lineEnd);
          else if (text.startsWith('queue_id', pos)) f.queueId = text.slice(eq + 1, lineEnd);
          break;
        case 9:
          if (text.startsWith('recipient', pos)) f.recipient = text.slice(eq + 1, lineEnd);
          else if (text.startsWith('helo_name', pos)) f.heloName = text.slice(eq + 1, lineEnd);
          break;
        case 11:
          if (text.startsWith('client_name', pos)) f.clientName = text.slice(eq + 1, lineEnd);
          break;
        case 14:
          if (text.startsWith('client_address', pos)) f.clientAddress = text.slice(eq + 1, lineEnd);
          else if (text.startsWith('protocol_state', pos)) f.protocolState = text.slice(eq + 1, lineEnd);
          break;
        case 19:
          if (text.startsWith('reverse_client_name', pos)) f.reverseClientName = text.slice(eq + 1, lineEnd);
          break;
      }
    }
    pos = nl + 1;
  }
  return undefined;
}

/** Adds the `name=value` lines of already checked text to the map (empty lines skipped). */
function addLines(text: string, attributes: Map<string, string>): void {
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = len;
    let lineEnd = nl;
    if (lineEnd > pos && text.charCodeAt(lineEnd - 1) === CR) lineEnd--;
    if (lineEnd > pos) {
      const eq = text.indexOf('=', pos);
      attributes.set(text.slice(pos, eq), text.slice(eq + 1, lineEnd));
    }
    pos = nl + 1;
  }
}

/** A valid request; `attributes`, which few callers need, is built from the text on first use. */
class DecodedRequest implements PolicyRequest {
  readonly protocolState: string;
  readonly clientAddress: string;
  readonly clientName: string;
  readonly reverseClientName: string;
  readonly heloName: string;
  readonly sender: string;
  readonly recipient: string;
  readonly instance: string;
  readonly queueId: string;
  private attributeMap: Map<string, string> | undefined;

  constructor(
    readonly request: string,
    f: RequestFields,
    private readonly texts: readonly string[],
    readonly latin1: boolean,
  ) {
    this.protocolState = (f.protocolState ?? '').toUpperCase();
    this.clientAddress = f.clientAddress ?? '';
    this.clientName = f.clientName ?? 'unknown';
    this.reverseClientName = f.reverseClientName ?? 'unknown';
    this.heloName = f.heloName ?? '';
    this.sender = f.sender ?? '';
    this.recipient = f.recipient ?? '';
    this.instance = f.instance ?? '';
    this.queueId = f.queueId ?? '';
  }

  get attributes(): ReadonlyMap<string, string> {
    if (this.attributeMap === undefined) {
      this.attributeMap = new Map();
      for (const text of this.texts) addLines(text, this.attributeMap);
    }
    return this.attributeMap;
  }
}

/**
 * Parser for replies (`action=...` then an empty line), used by the `check`
 * client and tests. Bounded like the request parser.
 */
export class PolicyReplyParser {
  // Bytes, not text: a multibyte character split across two chunks must be
  // decoded only once its line is complete.
  private buffered: Buffer = Buffer.alloc(0);
  private action: string | undefined;

  constructor(
    private readonly onReply: (action: string) => void,
    private readonly maxBytes = 8192,
  ) {}

  feed(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let start = 0;
    for (;;) {
      const nl = this.buffered.indexOf(0x0a, start);
      if (nl === -1) break;
      const end = nl > start && this.buffered[nl - 1] === 0x0d ? nl - 1 : nl;
      this.handleLine(this.buffered.toString('utf8', start, end));
      start = nl + 1;
    }
    this.buffered = this.buffered.subarray(start);
    if (this.buffered.length > this.maxBytes) throw new Error(`reply longer than ${this.maxBytes} bytes`);
  }

  private handleLine(line: string): void {
    if (line === '') {
      if (this.action !== undefined) this.onReply(this.action);
      this.action = undefined;
    } else if (line.startsWith('action=')) {
      this.action = line.slice('action='.length);
    }
  }
}
