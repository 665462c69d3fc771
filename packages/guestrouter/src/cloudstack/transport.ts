/**
 * The HTTP layer under the client: one GET, the status, and the body as a
 * stream of chunks. The default uses node:http/node:https directly so
 * `verifyTls: false` is a real `rejectUnauthorized: false` on the TLS socket
 * (Node's global fetch cannot take that option without the undici package).
 * A caller-supplied fetch is used as is, TLS included.
 */
import http from 'node:http';
import https from 'node:https';

export interface TransportAnswer {
  readonly status: number;
  /** The Location header of a redirect; redirects are never followed (the URL carries credentials). */
  readonly location?: string;
  readonly body: AsyncIterable<Uint8Array>;
}

export interface Transport {
  get(url: string, signal: AbortSignal): Promise<TransportAnswer>;
  close(): void;
}

const REQUEST_HEADERS = { accept: 'application/json', 'user-agent': 'guestrouter-cloudstack-client' };

export function nodeTransport(verifyTls: boolean): Transport {
  // Keep-alive saves a TCP (and TLS) handshake per page when listing thousands of items.
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: verifyTls });
  return {
    get(url, signal) {
      return new Promise<TransportAnswer>((resolve, reject) => {
        const target = new URL(url);
        const isHttps = target.protocol === 'https:';
        const options = { method: 'GET', headers: REQUEST_HEADERS, signal };
        const onResponse = (res: http.IncomingMessage) =>
          resolve({
            status: res.statusCode ?? 0,
            body: res,
            ...(res.headers.location === undefined ? {} : { location: res.headers.location }),
          });
        const req = isHttps
          ? https.request(target, { ...options, agent: httpsAgent }, onResponse)
          : http.request(target, { ...options, agent: httpAgent }, onResponse);
        req.on('error', reject);
        req.end();
      });
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

async function* webStreamChunks(stream: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> {
  if (stream === null) return;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

export function fetchTransport(fetchImpl: typeof fetch): Transport {
  return {
    async get(url, signal) {
      const res = await fetchImpl(url, {
        method: 'GET',
        headers: REQUEST_HEADERS,
        signal,
        redirect: 'manual',
      });
      const location = res.headers.get('location');
      return {
        status: res.status,
        body: webStreamChunks(res.body),
        ...(location === null ? {} : { location }),
      };
    },
    close() {},
  };
}
