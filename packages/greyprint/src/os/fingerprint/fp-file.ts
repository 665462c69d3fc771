import { findMatch } from './match.js';
import { layoutKey, MAX_TCP_OPTIONS, TcpOption } from './options.js';
import { Quirk } from './quirks.js';
import type { SignatureRecord, TcpSignature, WindowType } from './signature.js';

/** A signature file that p0f would refuse; names the file and line like p0f does. */
export class SignatureFileError extends Error {
  override readonly name = 'SignatureFileError';
  readonly code = 'bad_signature_file';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** Thrown by the line parsers; the file reader adds the file name and line. */
class LineError extends Error {}

/** The parsed database: the TCP SYN (`request`) and SYN+ACK (`response`) signatures, in file order. */
export interface SignatureDatabase {
  readonly file: string;
  readonly classes: readonly string[];
  readonly request: readonly SignatureRecord[];
  readonly response: readonly SignatureRecord[];
  /** `request` grouped by option layout, each group in file order: what the matcher searches. */
  readonly requestByLayout: ReadonlyMap<string, readonly SignatureRecord[]>;
  readonly responseByLayout: ReadonlyMap<string, readonly SignatureRecord[]>;
  /** Signatures of the sections greyprint reads but does not match (`[mtu]`, `[http:*]`). */
  readonly otherSignatures: number;
}

type Section = { kind: 'none' } | { kind: 'mtu' } | { kind: 'tcp' | 'http'; toServer: boolean };
type State = 'need-section' | 'need-label' | 'need-sys' | 'need-sig';

interface Label {
  generic: boolean;
  osClass: string | undefined;
  name: string;
  flavor: string | undefined;
  id: number;
}

/** Characters p0f allows in names besides letters and digits (config.h NAME_CHARS). */
const NAME_CHARS = ' ./-_!?()';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9]$/.test(c);
const isNameChar = (c: string | undefined): boolean =>
  c !== undefined && (isAlnum(c) || NAME_CHARS.includes(c));

/**
 * Reads a p0f 3 `.fp` file (the grammar of p0f's readfp.c and tcp_register_sig):
 * `classes`, `[tcp:request]`, `[tcp:response]`, `[mtu]`, `[http:*]` sections,
 * `label`, `sys`, `sig`, `ua_os`. TCP signatures are parsed and checked like p0f
 * does, including its refusal of a signature an earlier one already covers;
 * `[mtu]` and `[http:*]` signatures are accepted but not interpreted. Any error
 * throws SignatureFileError with the line number.
 */
export function parseSignatureFile(text: string, file = '<signatures>'): SignatureDatabase {
  const classes: string[] = [];
  const names = new Map<string, string>();
  const request: SignatureRecord[] = [];
  const response: SignatureRecord[] = [];
  const byLayout = [new Map<string, SignatureRecord[]>(), new Map<string, SignatureRecord[]>()] as const;
  let otherSignatures = 0;
  let section: Section = { kind: 'none' };
  let state: State = 'need-section';
  let label: Label | undefined;
  let labelCount = 0;
  let sys: string[] = [];

  const nameOf = (name: string): string => {
    const key = name.toLowerCase();
    const known = names.get(key);
    if (known !== undefined) return known;
    names.set(key, name);
    return name;
  };
  const classIndex = (name: string): string | undefined =>
    classes.find((c) => c.toLowerCase() === name.toLowerCase());

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] ?? '').replace(/^[ \t]+/, '').replace(/[ \t\r]+$/, '');
    if (line === '' || line.startsWith(';')) continue;
    try {
      if (line.startsWith('[')) {
        section = parseSection(line);
        state = 'need-label';
        continue;
      }
      const m = /^([A-Za-z_]+)[ \t]*=[ \t]*(.*)$/.exec(line);
      if (!m) throw new LineError('unexpected statement (expected [section] or name = value)');
      const key = m[1] as string;
      const value = m[2] as string;
      switch (key) {
        case 'classes':
          if (state !== 'need-section')
            throw new LineError("misplaced 'classes' (must come before any section)");
          for (const c of parseClasses(value)) classes.push(c);
          break;
        case 'ua_os':
          if (state !== 'need-label' || section.kind !== 'http' || !section.toServer) {
            throw new LineError("misplaced 'ua_os' (only at the start of [http:request])");
          }
          break;
        case 'label': {
          if (state !== 'need-label' && state !== 'need-sig') throw new LineError("misplaced 'label'");
          if (section.kind === 'mtu') {
            if (value === '') throw new LineError('empty MTU label');
            state = 'need-sig';
            break;
          }
          labelCount++;
          label = parseLabel(value, classIndex, nameOf, labelCount);
          sys = [];
          state = label.osClass === undefined ? 'need-sys' : 'need-sig';
          break;
        }
        case 'sys':
          if (state !== 'need-sys') throw new LineError("misplaced 'sys' (only after an application label)");
          sys = parseSys(value, classIndex, nameOf);
          state = 'need-sig';
          break;
        case 'sig': {
          if (state !== 'need-sig') throw new LineError("misplaced 'sig' (needs a label before it)");
          if (section.kind !== 'tcp' || label === undefined) {
            otherSignatures++;
            break;
          }
          const sig = parseTcpSignature(value);
          const dir = section.toServer ? 0 : 1;
          const group = byLayout[dir].get(sig.layoutKey);
          const covered = findMatch(group, { ...sig, ts1: 0, totalHeader: 0 }, true);
          if (covered.record !== undefined) {
            throw new LineError(`signature is already covered by line ${covered.record.line}`);
          }
          const record: SignatureRecord = {
            sig,
            generic: label.generic,
            osClass: label.osClass,
            name: label.name,
            flavor: label.flavor,
            labelId: label.id,
            line: lineNo,
            sys,
            text: value,
          };
          (section.toServer ? request : response).push(record);
          if (group) group.push(record);
          else byLayout[dir].set(sig.layoutKey, [record]);
          break;
        }
        default:
          throw new LineError(`unrecognized field '${key}'`);
      }
    } catch (err) {
      if (err instanceof LineError) throw new SignatureFileError(file, lineNo, err.message);
      throw err;
    }
  }
  return {
    file,
    classes,
    request,
    response,
    requestByLayout: byLayout[0],
    responseByLayout: byLayout[1],
    otherSignatures,
  };
}

function parseSection(line: string): Section {
  if (line === '[mtu]') return { kind: 'mtu' };
  const m = /^\[([^:\]]*):(.*)\]$/.exec(line);
  if (!m) throw new LineError('malformed section identifier');
  const module = m[1];
  if (module !== 'tcp' && module !== 'http')
    throw new LineError(`unrecognized fingerprinting module '${module}'`);
  if (m[2] === 'request') return { kind: module, toServer: true };
  if (m[2] === 'response') return { kind: module, toServer: false };
  throw new LineError('unrecognized traffic direction (request or response)');
}

function parseClasses(value: string): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const c = raw.replace(/^[ \t]+/, '');
    if (c === '' && raw === '') continue;
    if (!/^[A-Za-z0-9]+$/.test(c)) throw new LineError(`malformed class entry '${raw}'`);
    out.push(c);
  }
  return out;
}

function parseLabel(
  value: string,
  classIndex: (c: string) => string | undefined,
  nameOf: (n: string) => string,
  id: number,
): Label {
  const type = value[0];
  if ((type !== 'g' && type !== 's') || value[1] !== ':') {
    throw new LineError('malformed label (expected s: or g: then class:name:flavor)');
  }
  let pos = 2;
  const classStart = pos;
  while (isAlnum(value[pos]) || value[pos] === '!') pos++;
  if (pos === classStart || value[pos] !== ':') throw new LineError('malformed class in label');
  const cls = value.slice(classStart, pos);
  let osClass: string | undefined;
  if (cls !== '!') {
    osClass = classIndex(cls);
    if (osClass === undefined) throw new LineError(`unknown class '${cls}' (not in 'classes')`);
  }
  pos++;
  const nameStart = pos;
  while (isNameChar(value[pos])) pos++;
  if (pos === nameStart || value[pos] !== ':') throw new LineError('malformed name in label');
  const name = nameOf(value.slice(nameStart, pos));
  const flavor = value.slice(pos + 1);
  return { generic: type === 'g', osClass, name, flavor: flavor === '' ? undefined : flavor, id };
}

function parseSys(
  value: string,
  classIndex: (c: string) => string | undefined,
  nameOf: (n: string) => string,
): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    let entry = raw.replace(/^[ \t]+/, '');
    if (entry === '') continue;
    const isClass = entry.startsWith('@');
    if (isClass) entry = entry.slice(1);
    if (entry === '' || ![...entry].every(isNameChar)) throw new LineError(`malformed sys entry '${raw}'`);
    if (isClass) {
      const c = classIndex(entry);
      if (c === undefined) throw new LineError(`unknown class '${entry}' in sys`);
      out.push(`@${c}`);
    } else {
      out.push(nameOf(entry));
    }
  }
  return out;
}

/** A cursor over one signature value, reading p0f's fields. */
class Reader {
  pos = 0;
  constructor(readonly text: string) {}
  peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }
  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }
  /** Digits up to the next non-digit (p0f's atol: none reads as 0). */
  number(): number {
    const start = this.pos;
    while (isDigit(this.peek())) this.pos++;
    const digits = this.text.slice(start, this.pos);
    return digits === '' ? 0 : Number(digits);
  }
  expect(c: string, what: string): void {
    if (this.peek() !== c) throw new LineError(`malformed signature: ${what}`);
    this.pos++;
  }
}

const OPTION_WORDS: readonly (readonly [string, number])[] = [
  ['nop', TcpOption.NOP],
  ['mss', TcpOption.MSS],
  ['ws', TcpOption.WS],
  ['sok', TcpOption.SOK],
  ['sack', TcpOption.SACK],
  ['ts', TcpOption.TS],
];

const QUIRK_WORDS: readonly (readonly [string, number, 4 | 6 | undefined])[] = [
  ['df', Quirk.DF, 4],
  ['id+', Quirk.NZ_ID, 4],
  ['id-', Quirk.ZERO_ID, 4],
  ['ecn', Quirk.ECN, undefined],
  ['0+', Quirk.NZ_MBZ, 4],
  ['flow', Quirk.FLOW, 6],
  ['seq-', Quirk.ZERO_SEQ, undefined],
  ['ack+', Quirk.NZ_ACK, undefined],
  ['ack-', Quirk.ZERO_ACK, undefined],
  ['uptr+', Quirk.NZ_URG, undefined],
  ['urgf+', Quirk.URG, undefined],
  ['pushf+', Quirk.PUSH, undefined],
  ['ts1-', Quirk.OPT_ZERO_TS1, undefined],
  ['ts2+', Quirk.OPT_NZ_TS2, undefined],
  ['opt+', Quirk.OPT_EOL_NZ, undefined],
  ['exws', Quirk.OPT_EXWS, undefined],
  ['bad', Quirk.OPT_BAD, undefined],
];

/**
 * One TCP signature, `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`,
 * with p0f's checks and ranges.
 */
export function parseTcpSignature(value: string): TcpSignature {
  const r = new Reader(value);
  let ipVersion: 4 | 6 | undefined;
  const ver = r.peek();
  if (ver === '4') ipVersion = 4;
  else if (ver === '6') ipVersion = 6;
  else if (ver !== '*') throw new LineError('unrecognized IP version (4, 6 or *)');
  r.pos++;
  r.expect(':', 'expected : after the IP version');

  // Initial TTL: `64`, `64+3` (TTL plus distance) or `64-` (random TTL).
  let ttl = r.number();
  let badTtl = false;
  const after = r.peek();
  if (after !== ':' && after !== '+' && after !== '-')
    throw new LineError('malformed signature: initial TTL');
  if (ttl < 1 || ttl > 255) throw new LineError('bogus initial TTL (1-255)');
  r.pos++;
  if (after === '-') {
    if (r.peek() !== ':') throw new LineError('malformed signature: initial TTL');
    badTtl = true;
    r.pos++;
  } else if (after === '+') {
    const add = r.number();
    if (r.peek() !== ':') throw new LineError('malformed signature: TTL distance');
    if (ttl + add > 255) throw new LineError('bogus initial TTL (1-255)');
    ttl += add;
    r.pos++;
  }

  const ipOptLen = r.number();
  r.expect(':', 'IP option length');
  if (ipOptLen > 255) throw new LineError('bogus IP option length (0-255)');

  let mss: number | undefined;
  if (r.startsWith('*:')) r.pos += 2;
  else {
    mss = r.number();
    r.expect(':', 'MSS');
    if (mss > 65535) throw new LineError('bogus MSS (0-65535)');
  }

  let winType: WindowType;
  let win: number;
  if (r.startsWith('*,')) {
    winType = 'any';
    win = 0;
    r.pos += 2;
  } else if (r.peek() === '%') {
    winType = 'mod';
    r.pos++;
    win = r.number();
    r.expect(',', 'window modulus');
    if (win < 2 || win > 65535) throw new LineError("bogus '%' value (2-65535)");
  } else if (r.startsWith('mss*') || r.startsWith('mtu*')) {
    winType = r.peek(1) === 's' ? 'mss' : 'mtu';
    r.pos += 4;
    win = r.number();
    r.expect(',', 'window multiplier');
    if (win < 1 || win > 1000) throw new LineError('bogus MSS/MTU multiplier (1-1000)');
  } else {
    winType = 'normal';
    win = r.number();
    r.expect(',', 'window size');
    if (win > 65535) throw new LineError('bogus window size (0-65535)');
  }

  let wscale: number | undefined;
  if (r.startsWith('*:')) r.pos += 2;
  else {
    wscale = r.number();
    r.expect(':', 'window scale');
    if (wscale > 255) throw new LineError('bogus window scale (0-255)');
  }

  const layout: number[] = [];
  let eolPad = 0;
  while (r.peek() !== ':') {
    if (r.peek() === undefined) throw new LineError('truncated options');
    if (layout.length >= MAX_TCP_OPTIONS)
      throw new LineError(`too many TCP options (at most ${MAX_TCP_OPTIONS})`);
    if (r.startsWith('eol')) {
      layout.push(TcpOption.EOL);
      r.pos += 3;
      if (r.peek() !== '+') throw new LineError('malformed EOL option (eol+N)');
      r.pos++;
      eolPad = r.number();
      if (r.peek() === undefined) throw new LineError('truncated options');
      if (r.peek() !== ':') throw new LineError('EOL must be the last option');
      if (eolPad > 255) throw new LineError('bogus EOL padding (0-255)');
    } else if (r.peek() === '?') {
      r.pos++;
      const kind = r.number();
      if (r.peek() !== ':' && r.peek() !== ',') throw new LineError("malformed '?' option");
      if (kind > 255) throw new LineError("bogus '?' option (0-255)");
      layout.push(kind);
    } else {
      const word = OPTION_WORDS.find(([w]) => r.startsWith(w));
      if (word === undefined) throw new LineError('unrecognized TCP option');
      layout.push(word[1]);
      r.pos += word[0].length;
    }
    if (r.peek() === ':') break;
    r.expect(',', 'TCP options');
  }
  r.pos++;

  let quirks = 0;
  while (r.peek() !== ':') {
    const q = QUIRK_WORDS.find(([w]) => r.startsWith(w));
    if (q === undefined) throw new LineError('unrecognized quirk');
    const [word, bit, only] = q;
    if (only === 4 && ipVersion === 6) throw new LineError(`'${word}' is not valid for IPv6`);
    if (only === 6 && ipVersion === 4) throw new LineError(`'${word}' is not valid for IPv4`);
    quirks |= bit;
    r.pos += word.length;
    if (r.peek() === ':') break;
    r.expect(',', 'quirks');
  }
  r.pos++;

  const rest = value.slice(r.pos);
  let payloadClass: 0 | 1 | undefined;
  if (rest === '0') payloadClass = 0;
  else if (rest === '+') payloadClass = 1;
  else if (rest !== '*') throw new LineError('malformed payload class (0, + or *)');

  return {
    ipVersion,
    ttl,
    badTtl,
    ipOptLen,
    mss,
    winType,
    win,
    wscale,
    layout,
    layoutKey: layoutKey(layout),
    eolPad,
    quirks,
    payloadClass,
  };
}
