import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Inventory } from '../inventory/types.js';
import { PayloadError, parseEnvelope, toEvent } from './payload.js';
import { RequestVerifier } from './signing.js';
import { applyEvent, type EventState, toInventory } from './state.js';
import type { EventStore } from './store.js';

/** Path prefix of the events; the command follows it. */
export const EVENTS_PATH = '/v1/events/';
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface CycleResult {
  readonly ok: boolean;
  readonly error?: string;
}

export interface ExtensionServerOptions {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  readonly store: EventStore;
  /** Runs one reconcile cycle that sees every event recorded before the call (the controller's cycleNow). */
  readonly applyNow: () => Promise<CycleResult>;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

/**
 * The router side of the Network Extension: verifies each signed event, records it (persisted before
 * anything else happens), runs a cycle of the one engine and answers only when that cycle ended, so
 * CloudStack's "success" means the router applied it.
 */
export class ExtensionServer {
  private state: EventState;
  private queue: Promise<unknown> = Promise.resolve();
  private server: Server | undefined;
  private readonly verifier: RequestVerifier;

  private constructor(
    private readonly options: ExtensionServerOptions,
    initial: EventState,
  ) {
    this.state = initial;
    this.verifier = new RequestVerifier(options.secret);
  }

  static async open(options: ExtensionServerOptions): Promise<ExtensionServer> {
    return new ExtensionServer(options, await options.store.load());
  }

  /** What the events say the router should serve, for the controller's fetchInventory. */
  inventory(): Inventory {
    return toInventory(this.state);
  }

  async listen(): Promise<number> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const tls = this.options.tls;
    this.server = tls
      ? createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler)
      : createHttpServer(handler);
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (code: number, status: 'success' | 'error', message: string) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ status, message })}\n`);
    };
    try {
      const path = req.url ?? '';
      if (req.method !== 'POST' || !path.startsWith(EVENTS_PATH)) {
        answer(404, 'error', `POST ${EVENTS_PATH}COMMAND only`);
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        answer(413, 'error', `body larger than ${MAX_BODY_BYTES} bytes`);
        return;
      }
      const verdict = this.verifier.verify(req.headers, path, body);
      if (!verdict.ok) {
        this.options.logger.warn({ event: 'extension-auth', err: verdict.reason }, 'event refused');
        answer(401, 'error', verdict.reason);
        return;
      }
      const command = decodeURIComponent(path.slice(EVENTS_PATH.length));
      const result = await this.record(command, body);
      answer(result.ok ? 200 : result.refused ? 422 : 500, result.ok ? 'success' : 'error', result.message);
    } catch (error) {
      answer(500, 'error', (error as Error).message);
    }
  }

  /** Events are recorded one at a time, in arrival order; each waits for the cycle that applies it. */
  private record(
    command: string,
    body: string,
  ): Promise<{ ok: boolean; refused?: boolean; message: string }> {
    const recorded = this.queue.then(async () => {
      const event = toEvent(command, parseEnvelope(body, command));
      const next = applyEvent(this.state, event);
      if (next !== this.state) {
        await this.options.store.save(next);
        this.state = next;
      }
      return event;
    });
    this.queue = recorded.catch(() => undefined);
    return recorded.then(
      async (event) => {
        const outcome = await this.options.applyNow();
        const networkId = event.fields.network_id;
        this.options.logger.info(
          { event: 'extension-event', command, networkId, ok: outcome.ok },
          outcome.ok ? 'event applied' : 'event recorded, cycle failed',
        );
        if (outcome.ok) return { ok: true, message: `${command} applied to network ${networkId}` };
        return { ok: false, message: `${command} recorded but the router's cycle failed: ${outcome.error}` };
      },
      (error: Error) => {
        if (!(error instanceof PayloadError)) throw error;
        this.options.logger.warn({ event: 'extension-refuse', command, err: error.message }, 'event refused');
        return { ok: false, refused: true, message: error.message };
      },
    );
  }
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooBig = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooBig ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
