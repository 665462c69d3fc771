import { readFileSync } from 'node:fs';
import type { SignatureDatabase, SynVerdict } from '../../src/os/fingerprint/index.js';
import { classifySyn, parseIpPacket } from '../../src/os/fingerprint/index.js';

export const LABELLED_CSV = '/work/shared/data/fingerprints/labeled-syns-normalized.csv';

export interface LabelledSyn {
  readonly source: string;
  readonly labelOs: string;
  readonly detail: string;
  readonly ttl: number | undefined;
  readonly df: boolean;
  readonly ipIdZero: boolean;
  readonly win: number;
  readonly mss: number | undefined;
  readonly wscale: number | undefined;
  readonly layout: readonly string[];
  /** p0f 3.09b's raw signature of this SYN, as recorded with the data (rows with a TTL). */
  readonly p0fRawSig: string;
  readonly p0fOs: string;
}

/** RFC 4180 lines: quoted fields may hold commas. */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function readLabelledSyns(path = LABELLED_CSV): LabelledSyn[] {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const head = splitCsvLine(lines[0] ?? '');
  return lines.slice(1).map((line) => {
    const f = splitCsvLine(line);
    const get = (name: string): string => f[head.indexOf(name)] ?? '';
    const num = (name: string): number | undefined =>
      get(name) === '' || get(name) === '*' ? undefined : Number(get(name));
    return {
      source: get('source'),
      labelOs: get('label_os'),
      detail: get('label_detail'),
      ttl: num('ttl_observed'),
      df: get('df') === '1',
      ipIdZero: get('ipid_zero') === '1',
      win: Number(get('win')),
      mss: num('mss'),
      wscale: num('wscale'),
      layout: get('olayout') === '' ? [] : get('olayout').split(','),
      p0fRawSig: get('p0f309b_raw_sig'),
      p0fOs: get('p0f309b_os'),
    };
  });
}

/**
 * The IPv4 SYN the row describes (TTL as observed; an unrecorded ID is taken as
 * non-zero; a wildcard window scale as 8). `eol,eol` in the data is one EOL and
 * its padding. Undefined for rows without a TTL: the class would hang on a guess.
 */
export function synPacketOf(row: LabelledSyn, port: number): Uint8Array | undefined {
  if (row.ttl === undefined) return undefined;
  const opts: number[] = [];
  for (const name of row.layout) {
    switch (name) {
      case 'mss':
        opts.push(2, 4, ((row.mss ?? 0) >> 8) & 0xff, (row.mss ?? 0) & 0xff);
        break;
      case 'nop':
        opts.push(1);
        break;
      case 'ws':
        opts.push(3, 3, row.wscale ?? 8);
        break;
      case 'sok':
        opts.push(4, 2);
        break;
      case 'ts':
        opts.push(8, 10, 0, 0, 0, 1, 0, 0, 0, 0);
        break;
      case 'eol':
        opts.push(0);
        break;
      default:
        throw new Error(`unknown option ${name} in the labelled data`);
    }
  }
  while (opts.length % 4 !== 0) opts.push(0);
  const tcpLen = 20 + opts.length;
  const b = new Uint8Array(20 + tcpLen);
  b[0] = 0x45;
  b[2] = (20 + tcpLen) >> 8;
  b[3] = (20 + tcpLen) & 0xff;
  if (!row.ipIdZero) {
    b[4] = 0x12;
    b[5] = 0x34;
  }
  b[6] = row.df ? 0x40 : 0;
  b[8] = row.ttl;
  b[9] = 6;
  b.set([192, 0, 2, 7, 192, 0, 2, 25], 12);
  b[20] = port >> 8;
  b[21] = port & 0xff;
  b[23] = 25;
  b[27] = 1; // seq 1
  b[32] = (tcpLen / 4) << 4;
  b[33] = 0x02;
  b[34] = row.win >> 8;
  b[35] = row.win & 0xff;
  b.set(opts, 40);
  return b;
}

/** The OS family a label belongs to, for the accuracy table. */
export function familyOf(labelOs: string): string | undefined {
  if (labelOs === '') return undefined;
  if (labelOs === 'Windows') return 'Windows';
  if (labelOs === 'Linux' || labelOs === 'Chrome OS') return 'Linux';
  if (labelOs === 'Android') return 'Android';
  if (['macOS', 'Mac OS', 'iOS', 'Apple TV OS'].includes(labelOs)) return 'Apple';
  if (['FreeBSD', 'OpenBSD', 'Unix'].includes(labelOs)) return 'BSD, Unix';
  return 'other';
}

export interface FamilyScore {
  family: string;
  syns: number;
  named: number;
  classedWin: number;
}

export interface Accuracy {
  families: FamilyScore[];
  /** Of the SYNs classed `win`, the share labelled Windows. */
  winPrecision: number;
  /** Of the Windows-labelled SYNs, the share classed `win`. */
  winRecall: number;
  evaluated: number;
  skippedNoTtl: number;
}

export function measure(db: SignatureDatabase, rows: readonly LabelledSyn[]): Accuracy {
  const byFamily = new Map<string, FamilyScore>();
  let skipped = 0;
  let evaluated = 0;
  for (const [i, row] of rows.entries()) {
    const family = familyOf(row.labelOs);
    if (family === undefined) continue;
    const v = verdictOf(db, row, i);
    if (v === undefined) {
      skipped++;
      continue;
    }
    evaluated++;
    let s = byFamily.get(family);
    if (s === undefined) {
      s = { family, syns: 0, named: 0, classedWin: 0 };
      byFamily.set(family, s);
    }
    s.syns++;
    if (v.os !== '???') s.named++;
    if (v.osClass === 'win') s.classedWin++;
  }
  const families = [...byFamily.values()].sort((a, b) => b.syns - a.syns);
  const win = byFamily.get('Windows');
  const allWin = families.reduce((n, f) => n + f.classedWin, 0);
  return {
    families,
    winPrecision: allWin === 0 ? 0 : (win?.classedWin ?? 0) / allWin,
    winRecall: win === undefined || win.syns === 0 ? 0 : win.classedWin / win.syns,
    evaluated,
    skippedNoTtl: skipped,
  };
}

export function verdictOf(db: SignatureDatabase, row: LabelledSyn, i: number): SynVerdict | undefined {
  const bytes = synPacketOf(row, 10000 + i);
  if (bytes === undefined) return undefined;
  const r = parseIpPacket(bytes);
  if (!('packet' in r)) throw new Error(`row ${i}: built packet does not parse (${r.skip})`);
  return classifySyn(db, r.packet);
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The table the README shows: per family, named and classed `win`, for two databases side by side. */
export function accuracyTable(a: Accuracy, b: Accuracy, nameA: string, nameB: string): string {
  const lines = [
    `| family | SYNs | named (${nameA}) | named (${nameB}) | class win (${nameA}) | class win (${nameB}) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const f of a.families) {
    const g = b.families.find((x) => x.family === f.family);
    lines.push(
      `| ${f.family} | ${f.syns} | ${pct(f.named / f.syns)} | ${pct((g?.named ?? 0) / f.syns)} | ${pct(f.classedWin / f.syns)} | ${pct((g?.classedWin ?? 0) / f.syns)} |`,
    );
  }
  lines.push(
    `| **win precision** | | | | ${pct(a.winPrecision)} | ${pct(b.winPrecision)} |`,
    `| **win recall** | | | | ${pct(a.winRecall)} | ${pct(b.winRecall)} |`,
  );
  return lines.join('\n');
}
