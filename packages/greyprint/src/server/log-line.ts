import { type Logger, pino } from 'pino';

/** Writes one log line of fixed shape: the fields of `fields` (undefined ones left out) and the message. */
export type LineWriter = (fields: object, msg: string) => void;

type PinoInternals = Record<symbol, unknown>;

/**
 * The per-decision log line (one per request at the default level, info) costs
 * pino about 9 us: its serializer walks the fields one by one, escapes and
 * concatenates each. JSON.stringify does the same work in about a third of
 * that. This returns a writer that produces the very line the logger would
 * (same level number, time, bindings, field order, message key, end of line)
 * with one JSON.stringify, and hands it to the logger's own destination.
 *
 * It reads pino's logger state through pino.symbols, which pino exports but
 * does not promise to keep stable; so greyprint pins pino to one exact version
 * (package.json), and the byte-for-byte differential test in
 * test/unit/log-line.test.ts is the gate for moving that pin. It declines, returning
 * undefined so the caller logs through the logger as usual, whenever the logger
 * does anything the fast line would not reproduce: a log formatter, a mixin, a
 * message prefix, a nested key, redaction, a stream-write hook, a destination
 * that wants per-line metadata (multistream, pretty), or a serializer for one
 * of `fieldNames`.
 */
export function fastLineWriter(
  logger: Logger,
  level: 'info' | 'warn',
  fieldNames: readonly string[],
): LineWriter | undefined {
  const s = pino.symbols;
  const l = logger as unknown as PinoInternals;
  const stream = l[s.streamSym] as ({ write?: unknown } & PinoInternals) | undefined;
  const formatters = l[s.formattersSym] as { log?: unknown } | undefined;
  const hooks = l[s.hooksSym] as { streamWrite?: unknown } | undefined;
  const serializers = (l[s.serializersSym] ?? {}) as Record<string, unknown>;
  const stringifiers = (l[s.stringifiersSym] ?? {}) as object;
  const lsCache = l[s.lsCacheSym] as Record<number, string> | undefined;
  const time = l[s.timeSym];
  const chindings = l[s.chindingsSym];
  const end = l[s.endSym];
  const messageKey = l[s.messageKeySym];
  const num = logger.levels.values[level];
  if (
    stream === undefined ||
    typeof stream.write !== 'function' ||
    stream[s.needsMetadataGsym] === true ||
    formatters?.log !== undefined ||
    hooks?.streamWrite !== undefined ||
    l[s.mixinSym] ||
    // present at run time, missing from pino's type declarations
    l[(s as unknown as Record<string, symbol>).msgPrefixSym as symbol] ||
    l[s.nestedKeySym] ||
    Object.getOwnPropertySymbols(stringifiers).length > 0 ||
    Object.keys(stringifiers).length > 0 ||
    fieldNames.some((f) => serializers[f] !== undefined) ||
    num === undefined ||
    typeof lsCache?.[num] !== 'string' ||
    typeof time !== 'function' ||
    typeof chindings !== 'string' ||
    typeof end !== 'string' ||
    typeof messageKey !== 'string'
  ) {
    return undefined;
  }
  const head = lsCache[num] as string;
  const write = (stream.write as (line: string) => unknown).bind(stream);
  const timeOf = time as (this: Logger) => string;
  const msgKey = `,${JSON.stringify(messageKey)}:`;
  return (fields, msg) => {
    const body = JSON.stringify(fields);
    const props = body.length > 2 ? `,${body.slice(1, -1)}` : '';
    write(`${head}${timeOf.call(logger)}${chindings}${props}${msgKey}${JSON.stringify(msg)}${end}`);
  };
}
