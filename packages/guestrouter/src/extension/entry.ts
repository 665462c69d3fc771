import { readFile } from 'node:fs/promises';
import { ENSURE_DEVICE } from './commands.js';
import { type Envelope, PayloadError, parseEnvelope, physicalDetail, toEvent } from './payload.js';
import { EVENTS_PATH } from './server.js';
import { signRequest } from './signing.js';

/**
 * `guestrouter extension COMMAND PAYLOAD_FILE [TIMEOUT]`: what CloudStack's management server runs.
 * It prints exactly one JSON object (CloudStack merges stderr into stdout and parses it) and exits 0
 * only when every router named in `guestrouter.url` acknowledged having applied the event.
 */
export interface EntryResult {
  readonly exitCode: 0 | 1;
  readonly output: Record<string, unknown>;
}

const fail = (message: string): EntryResult => ({ exitCode: 1, output: { status: 'error', message } });

function routerUrls(envelope: Envelope): string[] {
  const raw = physicalDetail(envelope, 'guestrouter.url');
  if (raw === undefined) {
    throw new PayloadError(
      'physical network detail guestrouter.url is not set (registerExtension ... details[0].key=guestrouter.url)',
    );
  }
  const urls = raw
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  for (const url of urls) {
    if (!/^https?:\/\/[^/]+\/?$/.test(url))
      throw new PayloadError(`guestrouter.url: "${url}" is not http(s)://HOST:PORT`);
  }
  return urls.map((u) => u.replace(/\/$/, ''));
}

async function post(
  url: string,
  path: string,
  body: string,
  secret: string,
  deadlineMs: number,
): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signRequest(secret, path, body) },
      body,
      signal: AbortSignal.timeout(Math.max(1, deadlineMs - Date.now())),
    });
    const text = await response.text();
    let reply: { status?: unknown; message?: unknown } = {};
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      return `${url}: HTTP ${response.status}, not a guestrouter answer: ${text.slice(0, 200)}`;
    }
    if (response.ok && reply.status === 'success') return undefined;
    return `${url}: ${typeof reply.message === 'string' ? reply.message : `HTTP ${response.status}`}`;
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return `${url}: no answer within the timeout`;
    return `${url}: router unreachable (${e.cause?.code ?? e.cause?.message ?? e.message})`;
  }
}

export async function runExtension(
  command: string,
  payloadFile: string,
  timeoutSeconds: number,
): Promise<EntryResult> {
  const started = Date.now();
  let body: string;
  try {
    body = await readFile(payloadFile, 'utf8');
  } catch (error) {
    return fail(`cannot read the payload file: ${(error as Error).message}`);
  }
  try {
    const envelope = parseEnvelope(body, payloadFile);
    const urls = routerUrls(envelope);
    if (command === ENSURE_DEVICE) {
      // Stored by CloudStack as the network's extension details and handed back with every command.
      return { exitCode: 0, output: { 'guestrouter.url': urls.join(',') } };
    }
    // Checked here first so a bad event fails at once with the same message the router would give.
    toEvent(command, envelope);
    const secret = physicalDetail(envelope, 'guestrouter.secret');
    if (secret === undefined) throw new PayloadError('physical network detail guestrouter.secret is not set');
    // Keep a second for printing the answer inside CloudStack's timeout.
    const deadline = started + Math.max(1000, timeoutSeconds * 1000 - 1000);
    const path = `${EVENTS_PATH}${encodeURIComponent(command)}`;
    // Every router of an HA pair gets every event: both must hold the same state to take over.
    const failures = (await Promise.all(urls.map((u) => post(u, path, body, secret, deadline)))).filter(
      (f): f is string => f !== undefined,
    );
    if (failures.length > 0) return fail(`${command}: ${failures.join('; ')}`);
    return {
      exitCode: 0,
      output: { status: 'success', message: `${command} applied by ${urls.length} router(s)` },
    };
  } catch (error) {
    if (error instanceof PayloadError) return fail(error.message);
    throw error;
  }
}
