import { SERVABLE_KEY, type VmRecord } from './records.js';

/** What the HTTP server sends; `result` is for logs and metrics. */
export interface MetaAnswer {
  readonly status: number;
  readonly body: string | Buffer;
  readonly result: 'served' | 'not-found' | 'not-ready' | 'bad-request' | 'forbidden' | 'method';
}

/**
 * The keys the Virtual Router also answers directly under `/latest/` (its
 * nginx configuration has one location per key; the apache one had one rewrite
 * per key written).
 */
const LEGACY_KEYS = new Set([
  'availability-zone',
  'cloud-identifier',
  'instance-id',
  'local-hostname',
  'local-ipv4',
  'public-hostname',
  'public-ipv4',
  'public-keys',
  'service-offering',
  'vm-id',
]);

const answer = (status: number, body: string | Buffer, result: MetaAnswer['result']): MetaAnswer => ({
  status,
  body,
  result,
});

const NOT_FOUND = answer(404, '404 Not Found\n', 'not-found');

/**
 * Routes one request on port 80 the way the Virtual Router's web server does
 * (paths `/latest/user-data`, `/latest/meta-data/` and `/latest/meta-data/KEY`,
 * each also with or without a trailing slash; `/latest/KEY` for the classic
 * keys). `vm` is the record of the client, or undefined when the client is not
 * a VM NIC of a served network (or failed the identity check): like the
 * Virtual Router, which has no directory for such an address, it gets 404.
 * Pure: no path ever reaches a file system; anything that is not a known name
 * is 404, anything that looks like path tricks is 400.
 */
export function routeMetadata(method: string, rawUrl: string, vm: VmRecord | undefined): MetaAnswer {
  if (method !== 'GET' && method !== 'HEAD') return answer(405, '405 Method Not Allowed\n', 'method');
  const query = rawUrl.indexOf('?');
  const path = query === -1 ? rawUrl : rawUrl.slice(0, query);
  // Encoded bytes, dot segments, empty segments and controls are refused outright: every name served
  // is plain ASCII, so there is nothing such a path could legitimately mean.
  if (!path.startsWith('/') || /%|\\|\/\/|\/\.\.?(\/|$)|[^\x21-\x7e]/.test(path)) {
    return answer(400, '400 Bad Request\n', 'bad-request');
  }
  if (path === '/' || path === '/latest' || path === '/latest/') {
    // Directories with listing off, as on the Virtual Router.
    return answer(403, '403 Forbidden\n', 'forbidden');
  }
  const m = /^\/latest\/([^/]+)(?:\/(.*))?$/.exec(path);
  if (m === null) return NOT_FOUND;
  const top = m[1] ?? '';
  const rest = m[2];
  let key: string | undefined;
  if (top === 'user-data') {
    if (rest !== undefined && rest !== '') return NOT_FOUND;
    if (vm === undefined) return NOT_FOUND;
    if (vm.userData === undefined) return notReady();
    return vm.userData === null ? NOT_FOUND : answer(200, vm.userData, 'served');
  }
  if (top === 'meta-data') {
    if (rest === undefined || rest === '') {
      if (vm === undefined) return NOT_FOUND;
      if (vm.userData === undefined) return notReady();
      return answer(200, vm.metaData.map(([k]) => `${k}\n`).join(''), 'served');
    }
    key = rest.endsWith('/') ? rest.slice(0, -1) : rest;
  } else if (LEGACY_KEYS.has(top) && (rest === undefined || rest === '')) {
    key = top;
  } else {
    return NOT_FOUND;
  }
  if (!SERVABLE_KEY.test(key) || vm === undefined) return NOT_FOUND;
  if (vm.userData === undefined) return notReady();
  const entry = vm.metaData.find(([k]) => k === key);
  return entry === undefined ? NOT_FOUND : answer(200, entry[1], 'served');
}

/**
 * The VM is known but its user data has not been fetched yet: answering 404
 * would tell cloud-init "no user data" for good, so say "try again" instead;
 * cloud-init keeps polling `instance-id` until the service is ready.
 */
function notReady(): MetaAnswer {
  return answer(503, '503 Service Unavailable\n', 'not-ready');
}
