/**
 * Sends one signed password message to the peer from inside the router's network namespace
 * (`ip netns exec NS node peer-send-main`): reads `{url, headers, body}` on stdin, exits 0 on a 2xx
 * answer, 1 otherwise. A socket's namespace is the one it was made in, so `run` outside the
 * namespace sends through this.
 */
import { fetchSender } from './password-sync.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const { url, headers, body } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
  url: string;
  headers: Record<string, string>;
  body: string;
};
process.exitCode = (await fetchSender(url, headers, body)) ? 0 : 1;
