import type { OsLabel } from './label.js';

/** OS names of more than one word, longest first, so that `Mac OS X 10.x` keeps its name whole. */
const MULTI_WORD_NAMES = ['Mac OS X', 'Mac OS', 'Windows NT', 'HP-UX', 'Nintendo 3DS'];
const UNIX_NAMES = new Set(
  [
    'linux',
    'freebsd',
    'openbsd',
    'netbsd',
    'dragonfly',
    'mac os x',
    'mac os',
    'ios',
    'android',
    'solaris',
    'sunos',
    'hp-ux',
    'aix',
    'unix',
  ].map((n) => n.toLowerCase()),
);

export class OsLabelError extends Error {
  override readonly name = 'OsLabelError';
  constructor(
    readonly label: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a label as an operator writes it: either p0f's wording (`Windows 7 or 8`,
 * `Linux 3.11 and newer`, `Mac OS X 10.x`) or p0f's signature-label form
 * `class:name:flavor` (`win:Windows:XP`). The class follows p0f: `win` for
 * Windows, `unix` for Unix-likes, `other` for everything else.
 */
export function parseOsLabel(text: string, source = 'static'): OsLabel {
  const trimmed = text.trim();
  if (trimmed === '') throw new OsLabelError(text, 'empty OS label');
  const parts = trimmed.split(':');
  if (parts.length === 3 || (parts.length === 4 && (parts[0] === 's' || parts[0] === 'g'))) {
    const [cls, name, flavor] = parts.length === 4 ? parts.slice(1) : parts;
    if (!cls || !name) throw new OsLabelError(text, `OS label "${text}" needs class:name:flavor`);
    return { class: cls, name, flavor: flavor ?? '', fuzzy: parts[0] === 'g', source };
  }
  let name: string | undefined;
  for (const candidate of MULTI_WORD_NAMES) {
    if (trimmed.toLowerCase().startsWith(candidate.toLowerCase())) {
      const next = trimmed.charAt(candidate.length);
      if (next === '' || next === ' ') {
        name = trimmed.slice(0, candidate.length);
        break;
      }
    }
  }
  if (name === undefined) {
    const space = trimmed.indexOf(' ');
    name = space === -1 ? trimmed : trimmed.slice(0, space);
  }
  const flavor = trimmed.slice(name.length).trim();
  return { class: classOf(name), name, flavor, fuzzy: false, source };
}

function classOf(name: string): string {
  const lower = name.toLowerCase();
  if (lower.startsWith('windows')) return 'win';
  if (UNIX_NAMES.has(lower)) return 'unix';
  return 'other';
}

/** p0f's own wording of a label, as it goes into the X-P0f-OS header. */
export function formatOsLabel(label: OsLabel | undefined): string {
  if (label === undefined) return 'unknown';
  return label.flavor ? `${label.name} ${label.flavor}` : label.name;
}
