/**
 * Sends signed messages to the peer from inside the router's network namespace (`ip netns exec NS
 * node peer-send-main`), for a `run` or CLI that lives outside it (a socket's namespace is the one it
 * was made in). One request per stdin line, `{"id", "url", "headers", "body"}`; one answer per
 * stdout line, `{"id", "text"}` (text null unless the peer answered 2xx). Exits when stdin closes,
 * so it never outlives its parent.
 */
import { createInterface } from 'node:readline';
import { fetchSender } from './password-sync.js';

for await (const line of createInterface({ input: process.stdin })) {
  let request: { id: number; url: string; headers: Record<string, string>; body: string };
  try {
    request = JSON.parse(line);
  } catch {
    continue;
  }
  void fetchSender(request.url, request.headers, request.body).then((text) => {
    process.stdout.write(`${JSON.stringify({ id: request.id, text: text ?? null })}\n`);
  });
}
