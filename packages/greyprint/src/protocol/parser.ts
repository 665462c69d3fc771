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
 * discarded without buffering, so the connection stays in step with the client.
 *
 * Values that are valid UTF-8 are decoded as UTF-8 (SMTPUTF8 addresses); any
 * other line is decoded as latin1, which maps each byte to one character, so two
 * different byte strings never collapse into the same greylist key.
 */
export class PolicyParser {
  private readonly limits: ParserLimits;
  /** Pieces of the current unfinished line (only when it spans chunks). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current line is over the limit: drop bytes until its newline. */
  private skippingLine = false;
  private attributes = new Map<string, string>();
  private attributeCount = 0;
  private requestBytes = 0;
  private error: PolicyRequestError | undefined;
  private latin1 = false;

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
    const { maxLineBytes, maxRequestBytes } = this.limits;
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) {
        const restBytes = end - pos;
        this.countBytes(restBytes, maxRequestBytes);
        if (!this.skippingLine) {
          if (this.pendingBytes + restBytes > maxLineBytes) {
            this.fail(
              new PolicyRequestError(
                'line_too_long',
                `attribute line longer than ${maxLineBytes} bytes`,
                undefined,
                maxLineBytes,
              ),
            );
            this.skippingLine = true;
            this.pending = [];
            this.pendingBytes = 0;
          } else {
            this.pending.push(chunk.subarray(pos));
            this.pendingBytes += restBytes;
          }
        }
        return;
      }
      this.countBytes(nl - pos + 1, maxRequestBytes);
      if (this.skippingLine) {
        this.skippingLine = false;
        pos = nl + 1;
        continue;
      }
      let line: Buffer;
      if (this.pendingBytes > 0) {
        this.pending.push(chunk.subarray(pos, nl));
        line = Buffer.concat(this.pending, this.pendingBytes + (nl - pos));
        this.pending = [];
        this.pendingBytes = 0;
      } else {
        line = chunk.subarray(pos, nl);
      }
      pos = nl + 1;
      let lineEnd = line.length;
      // Postfix sends bare LF; a CR before it comes from hand-typed tests (telnet, nc -C).
      if (lineEnd > 0 && line[lineEnd - 1] === CR) lineEnd--;
      if (lineEnd === 0) {
        this.endRequest();
      } else if (lineEnd > maxLineBytes) {
        this.fail(
          new PolicyRequestError(
            'line_too_long',
            `attribute line longer than ${maxLineBytes} bytes`,
            undefined,
            maxLineBytes,
          ),
        );
      } else {
        this.addLine(line, lineEnd);
      }
    }
  }

  private countBytes(n: number, max: number): void {
    this.requestBytes += n;
    if (this.requestBytes > max && this.error === undefined) {
      this.fail(
        new PolicyRequestError('request_too_large', `request larger than ${max} bytes`, undefined, max),
      );
    }
  }

  private fail(error: PolicyRequestError): void {
    // The first fault names the request; later ones are consequences.
    if (this.error === undefined) this.error = error;
  }

  private addLine(line: Buffer, lineEnd: number): void {
    if (this.error !== undefined) return;
    if (++this.attributeCount > this.limits.maxAttributes) {
      this.fail(
        new PolicyRequestError(
          'too_many_attributes',
          `more than ${this.limits.maxAttributes} attributes in one request`,
          undefined,
          this.limits.maxAttributes,
        ),
      );
      return;
    }
    const eq = line.indexOf(EQ);
    if (eq <= 0 || eq >= lineEnd) {
      this.fail(new PolicyRequestError('malformed_line', 'attribute line without name=value'));
      return;
    }
    const name = line.toString('latin1', 0, eq);
    const nul = line.indexOf(NUL);
    if (nul !== -1 && nul < lineEnd) {
      this.fail(new PolicyRequestError('nul_byte', `NUL byte in attribute ${name}`, name));
      return;
    }
    let encoding: 'utf8' | 'latin1' = 'utf8';
    if (!isUtf8(line.subarray(0, lineEnd))) {
      encoding = 'latin1';
      this.latin1 = true;
    }
    this.attributes.set(name, line.toString(encoding, eq + 1, lineEnd));
  }

  private endRequest(): void {
    const attributes = this.attributes;
    let error = this.error;
    const latin1 = this.latin1;
    this.attributes = new Map();
    this.attributeCount = 0;
    this.requestBytes = 0;
    this.error = undefined;
    this.latin1 = false;
    if (error === undefined) {
      const request = attributes.get('request');
      if (request === undefined) {
        error = new PolicyRequestError('missing_request', 'request without request=smtpd_access_policy');
      } else if (request !== 'smtpd_access_policy') {
        error = new PolicyRequestError(
          'wrong_request',
          `unsupported request=${request.slice(0, 64)} (expected smtpd_access_policy)`,
          'request',
        );
      } else {
        this.onMessage({ kind: 'request', request: toRequest(request, attributes, latin1) });
        return;
      }
    }
    this.onMessage({ kind: 'error', error });
  }
}

function toRequest(request: string, a: Map<string, string>, latin1: boolean): PolicyRequest {
  return {
    request,
    protocolState: (a.get('protocol_state') ?? '').toUpperCase(),
    clientAddress: a.get('client_address') ?? '',
    clientName: a.get('client_name') ?? 'unknown',
    reverseClientName: a.get('reverse_client_name') ?? 'unknown',
    heloName: a.get('helo_name') ?? '',
    sender: a.get('sender') ?? '',
    recipient: a.get('recipient') ?? '',
    instance: a.get('instance') ?? '',
    queueId: a.get('queue_id') ?? '',
    attributes: a,
    latin1,
  };
}

/**
 * Parser for replies (`action=...` then an empty line), used by the `check`
 * client and tests. Bounded like the request parser.
 */
export class PolicyReplyParser {
  private buffered = '';
  private action: string | undefined;

  constructor(
    private readonly onReply: (action: string) => void,
    private readonly maxBytes = 8192,
  ) {}

  feed(chunk: Buffer): void {
    this.buffered += chunk.toString('utf8');
    if (this.buffered.length > this.maxBytes) throw new Error(`reply longer than ${this.maxBytes} bytes`);
    for (;;) {
      const nl = this.buffered.indexOf('\n');
      if (nl === -1) return;
      const line = this.buffered.slice(0, nl).replace(/\r$/, '');
      this.buffered = this.buffered.slice(nl + 1);
      if (line === '') {
        if (this.action !== undefined) this.onReply(this.action);
        this.action = undefined;
      } else if (line.startsWith('action=')) {
        this.action = line.slice('action='.length);
      }
    }
  }
}
