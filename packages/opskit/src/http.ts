import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a read-only route answers. */
export interface RouteAnswer {
  readonly status?: number;
  readonly contentType: string;
  readonly body: string | Uint8Array;
}

export type RouteHandler = (
  request: IncomingMessage,
  query: URLSearchParams,
) => Promise<RouteAnswer> | RouteAnswer;

export interface HttpEndpoint {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** `HOST:PORT` or `[V6]:PORT` as the one way every tool names a listen address. */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535)
    throw new Error(`"${text}" is not HOST:PORT (port 0-65535; an IPv6 host in brackets)`);
  return { host: (match[1] ?? match[2]) as string, port };
}

/**
 * A read-only HTTP endpoint for `/metrics` and status pages: GET and HEAD
 * only (405 with Allow otherwise), any query string accepted (Prometheus
 * scrape configs add `params:`), 404 for unknown paths, 500 with the
 * message when a handler throws. Loopback by default: the caller decides
 * the address.
 */
export async function startHttpEndpoint(
  listen: { host: string; port: number },
  routes: ReadonlyMap<string, RouteHandler>,
): Promise<HttpEndpoint> {
  const server: Server = createServer((request, response) => {
    void answer(routes, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    host: bound.address,
    port: bound.port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(
  routes: ReadonlyMap<string, RouteHandler>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://endpoint');
  const handler = routes.get(url.pathname);
  if (handler === undefined) {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response
      .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      .end('method not allowed\n');
    return;
  }
  try {
    const result = await handler(request, url.searchParams);
    response.writeHead(result.status ?? 200, { 'content-type': result.contentType });
    response.end(request.method === 'HEAD' ? undefined : result.body);
  } catch (error) {
    response
      .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      .end(`${(error as Error).message}\n`);
  }
}

/** The `/metrics` route of a prom-client registry (typed structurally: no prom-client dependency here). */
export function metricsRoute(registry: { metrics(): Promise<string>; contentType: string }): RouteHandler {
  return async () => ({ contentType: registry.contentType, body: await registry.metrics() });
}
