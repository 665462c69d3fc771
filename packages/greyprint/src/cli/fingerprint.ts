import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import {
  builtinSignatures,
  type EngineCounts,
  loadSignatureFile,
  PcapFormatError,
  PcapStreamReader,
  SignatureFileError,
  SynEngine,
  type SynVerdict,
} from '../os/fingerprint/index.js';

/** The JSON object `fingerprint --json` prints per SYN (stable field names). */
export function verdictJson(v: SynVerdict): Record<string, unknown> {
  return {
    client: v.client,
    port: v.port,
    server: v.server,
    server_port: v.serverPort,
    os: v.os,
    class: v.osClass ?? null,
    app: v.app,
    generic: v.generic,
    fuzzy: v.fuzzy,
    distance: v.distance,
    distance_bound: v.distanceBound,
    params: v.params,
    signature: v.signature,
    ja4t: v.ja4t,
    line: v.line ?? null,
  };
}

/** The text line: p0f's log fields (`os`, `dist`, `params`, `raw_sig`) plus JA4T. */
export function verdictText(v: SynVerdict): string {
  const dist = v.distanceBound ? `<= ${v.distance}` : String(v.distance);
  const client = v.client.includes(':') ? `[${v.client}]` : v.client;
  const server = v.server.includes(':') ? `[${v.server}]` : v.server;
  return `${client}:${v.port} -> ${server}:${v.serverPort} ${v.app ? 'app' : 'os'}=${v.os} dist=${dist} params=${v.params} raw_sig=${v.signature} ja4t=${v.ja4t}`;
}

/** Writes the lines gathered from one input chunk as one piece, waiting when stdout is full. */
class LineWriter {
  constructor(private readonly out: NodeJS.WritableStream) {}
  /** Takes the lines out of `lines`. */
  async take(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    lines.length = 0;
    if (!this.out.write(text)) await new Promise<void>((resolve) => this.out.once('drain', () => resolve()));
  }
}

/** Feeds one pcap stream through the engine; resolves with an error message or undefined. */
export async function fingerprintStream(
  input: Readable,
  engine: SynEngine,
  emit: (v: SynVerdict) => void,
  afterChunk?: () => Promise<void>,
): Promise<string | undefined> {
  const reader = new PcapStreamReader(
    (frame) => {
      const v = engine.frame(frame);
      if (v !== undefined) emit(v);
    },
    (reason) => engine.skip(reason),
  );
  try {
    for await (const chunk of input) {
      reader.push(chunk as Buffer);
      if (afterChunk !== undefined) await afterChunk();
    }
    reader.end();
    return undefined;
  } catch (err) {
    input.destroy();
    if (err instanceof PcapFormatError) return err.message;
    return (err as Error).message;
  }
}

export function formatCounts(c: EngineCounts): string {
  const skipped = Object.entries(c.skipped)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  return `${c.frames} frames, ${c.syns} SYNs classified, ${c.duplicateSyns} retransmitted SYNs, ${c.otherTcp} other TCP${skipped ? `, skipped: ${skipped}` : ''}`;
}

export function registerFingerprintCommand(program: Command): void {
  program
    .command('fingerprint')
    .description('classify the client SYNs of pcap files (or - for stdin) as p0f does, one line per SYN')
    .argument('<pcap...>', 'pcap files (Ethernet, Linux cooked, raw IP, loopback); - reads stdin')
    .option('-s, --signatures <file>', "p0f .fp signature file (default: greyprint's built-in set)")
    .option('--json', 'one JSON object per SYN')
    .option('-q, --quiet', 'no summary of counts on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  greyprint fingerprint --json capture.pcap\n' +
        "  tcpdump -i eth0 -w - 'tcp[tcpflags] & tcp-syn != 0' | greyprint fingerprint -\n" +
        "  greyprint fingerprint --signatures /etc/p0f/p0f.fp capture.pcap   # p0f 3.09b's verdicts\n" +
        '\nExit status: 0 all inputs read, 1 an input could not be read or is not pcap, 2 bad signature file.',
    )
    .action(async (files: string[], f: { signatures?: string; json?: boolean; quiet?: boolean }) => {
      let engine: SynEngine;
      try {
        engine = new SynEngine(
          f.signatures === undefined ? builtinSignatures() : loadSignatureFile(f.signatures),
        );
      } catch (err) {
        const msg =
          err instanceof SignatureFileError
            ? err.message
            : `cannot read signatures: ${(err as Error).message}`;
        process.stderr.write(`greyprint: ${msg}\n`);
        process.exit(2);
      }
      const out = new LineWriter(process.stdout);
      const pending: string[] = [];
      const emit = (v: SynVerdict): void => {
        pending.push(f.json ? JSON.stringify(verdictJson(v)) : verdictText(v));
      };
      let failed = false;
      for (const file of files) {
        const input: Readable = file === '-' ? process.stdin : createReadStream(file);
        // Lines are written between chunks, so a slow reader of stdout holds the input back.
        const drain = (): Promise<void> => out.take(pending);
        const error = await fingerprintStream(input, engine, emit, drain);
        await drain();
        if (error !== undefined) {
          failed = true;
          process.stderr.write(`greyprint: ${file}: ${error}\n`);
        }
      }
      if (!f.quiet) process.stderr.write(`${formatCounts(engine.counts)}\n`);
      process.exitCode = failed ? 1 : 0;
    });
}
