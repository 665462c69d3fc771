import type { OsLabel } from '../label.js';
import type { P0fResponse } from './messages.js';

/**
 * The p0f API answers with a name and a flavor but not the class that its
 * signature file gives each label (`label = s:win:Windows:XP`). The class is
 * derived here from the name, with the classes p0f 3.09b's own database uses:
 * every `Windows ...` name is `win`; the Unix family (Linux, the BSDs, Mac OS X,
 * iOS, Solaris, HP-UX, ...) is `unix`; everything else (Blackberry, Nintendo,
 * NeXTSTEP, a name a newer database adds) is `other`. The class is only a hint
 * for rules: "desktop Windows" is decided by the rule set from name, flavor and
 * the other evidence in the policy request.
 */
const UNIX_NAMES: readonly string[] = [
  'Linux',
  'FreeBSD',
  'OpenBSD',
  'NetBSD',
  'DragonFly',
  'Mac OS X',
  'MacOS X',
  'macOS',
  'iOS',
  'Solaris',
  'SunOS',
  'HP-UX',
  'AIX',
  'IRIX',
  'Tru64',
  'OpenVMS',
  'BaiduSpider',
  'p0f',
];

export function classForOsName(name: string): 'win' | 'unix' | 'other' {
  if (/^windows\b/i.test(name)) return 'win';
  const lower = name.toLowerCase();
  if (UNIX_NAMES.some((unix) => lower === unix.toLowerCase() || lower.startsWith(`${unix.toLowerCase()} `))) {
    return 'unix';
  }
  return 'other';
}

/**
 * The OS label for a p0f answer, or undefined when p0f knows nothing useful:
 * no match, a bad query, or a host p0f has seen without matching its SYN
 * (status OK but an empty os_name, e.g. only HTTP traffic was seen).
 */
export function labelFromResponse(response: P0fResponse): OsLabel | undefined {
  if (response.status !== 'ok' || response.osName === '') return undefined;
  return {
    class: classForOsName(response.osName),
    name: response.osName,
    flavor: response.osFlavor,
    ...(response.distance >= 0 ? { distance: response.distance } : {}),
    fuzzy: response.matchQuality !== 0,
    source: 'p0f',
  };
}
