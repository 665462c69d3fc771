/**
 * Registered domain of a host name, by a small heuristic instead of the Public
 * Suffix List (not shipped here): the last two labels, or three when the
 * second-level label is a generic registry label under a country code
 * (`co.uk`, `com.au`, `ne.jp` ...). Used only to key greylisting of mail
 * servers with forward-confirmed names, where a wrong guess merely widens or
 * narrows the key to the same operator's hosts.
 */
const GENERIC_SECOND_LEVEL = new Set([
  'ac',
  'co',
  'com',
  'edu',
  'gov',
  'gob',
  'govt',
  'ltd',
  'me',
  'mil',
  'ne',
  'net',
  'nic',
  'or',
  'org',
  'plc',
  'sch',
]);

export function registeredDomain(hostname: string): string {
  const labels = hostname.toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  if (labels.length <= 2) return labels.join('.');
  const tld = labels[labels.length - 1] ?? '';
  const second = labels[labels.length - 2] ?? '';
  const take = tld.length === 2 && GENERIC_SECOND_LEVEL.has(second) ? 3 : 2;
  return labels.slice(-take).join('.');
}
