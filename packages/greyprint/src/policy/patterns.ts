/**
 * Text patterns in rules and allow-lists: `/regex/flags` is a regular expression;
 * anything else is a case-insensitive glob over the whole text (`*` any run,
 * `?` one character).
 */
export type Matcher = (text: string) => boolean;

export class PatternError extends Error {
  override readonly name = 'PatternError';
  constructor(
    readonly pattern: string,
    message: string,
  ) {
    super(message);
  }
}

export function compilePattern(pattern: string): Matcher {
  if (pattern.length >= 2 && pattern.startsWith('/')) {
    const end = pattern.lastIndexOf('/');
    if (end > 0) {
      const flags = pattern.slice(end + 1);
      if (/^[imsu]*$/.test(flags)) {
        let re: RegExp;
        try {
          re = new RegExp(pattern.slice(1, end), flags);
        } catch (err) {
          throw new PatternError(pattern, `invalid regular expression ${pattern}: ${(err as Error).message}`);
        }
        return (text) => re.test(text);
      }
    }
  }
  if (!pattern.includes('*') && !pattern.includes('?')) {
    const lower = pattern.toLowerCase();
    return (text) => text.toLowerCase() === lower;
  }
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`, 'is');
  return (text) => re.test(text);
}

/** True when any of the patterns matches. */
export function anyMatcher(patterns: readonly string[]): Matcher {
  const ms = patterns.map(compilePattern);
  return (text) => ms.some((m) => m(text));
}
