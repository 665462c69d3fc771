import { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { DEFAULT_CAPTURE_FILTER } from '../os/capture/source.js';
import { loadSignatureFile } from '../os/fingerprint/index.js';
import { parseStaticEntry } from '../os/static.js';
import { compilePattern } from '../policy/patterns.js';

/**
 * The one place where every option lives, with its default (the rspamd/postgrey
 * way): the CLI flags, the JSON config file and `config check` all go through it.
 */

const cidrString = z.string().superRefine((v, ctx) => {
  try {
    parseCidr(v);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

const patternString = z.string().superRefine((v, ctx) => {
  try {
    compilePattern(v);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

const regexString = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v, 'i');
  } catch (err) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `invalid regular expression: ${(err as Error).message}`,
    });
  }
});

/** A `.fp` file, read now so that an error is a config error naming its line. */
const signatureFile = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    try {
      loadSignatureFile(v);
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    }
  });

const staticEntry = z.string().superRefine((v, ctx) => {
  try {
    parseStaticEntry(v);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

/** `HOST:PORT`, `[v6]:PORT` or `unix:/path`. */
export const listenString = z
  .string()
  .regex(
    /^(unix:\/.+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[^:\s]+:\d{1,5})$/,
    'expected HOST:PORT, [IPV6]:PORT or unix:/PATH',
  )
  // Checked here, not only when binding, so a bad port is a config error (exit 2) naming the key.
  .refine(
    (v) => v.startsWith('unix:') || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535,
    'port must be 0-65535',
  );

/** One line of reply text: Postfix ends a reply at a newline. */
const replyText = z.string().regex(/^[^\r\n\0]*$/, 'must be a single line');

const headerName = z
  .string()
  .regex(/^[\x21-\x39\x3b-\x7e]+$/, 'must be a header field name (printable ASCII, no colon)');

export const ruleConditionSchema = z
  .object({
    /** p0f class, case-insensitive: `win`, `unix`, `other`. */
    osClass: z.array(z.string()).optional(),
    osName: z.array(patternString).optional(),
    osFlavor: z.array(patternString).optional(),
    /** JA4T of the client's SYN (`64240_2-1-3-1-1-4_1460_8`); only the capture source knows it. */
    ja4t: z.array(patternString).optional(),
    /** true: an OS source answered; false: OS unknown (no answer, timeout). */
    osKnown: z.boolean().optional(),
    /** The seed's test: Windows, with no evidence of a mail server (see README). */
    desktopWindows: z.boolean().optional(),
    /** The label names a Windows Server edition. */
    windowsServer: z.boolean().optional(),
    client: z.array(cidrString).optional(),
    /** Forward-confirmed reverse DNS name (Postfix `client_name`). */
    clientName: z.array(patternString).optional(),
    /** Reverse DNS name without the forward check (Postfix `reverse_client_name`). */
    reverseClientName: z.array(patternString).optional(),
    /** true: `client_name` is not `unknown`. */
    fcrdns: z.boolean().optional(),
    /** true: the reverse DNS name looks like a dynamic/residential pool. */
    dynamicName: z.boolean().optional(),
    helo: z.array(patternString).optional(),
    sender: z.array(patternString).optional(),
    recipient: z.array(patternString).optional(),
  })
  .strict();

export const ruleSchema = z
  .object({
    name: z.string().min(1),
    when: ruleConditionSchema.default({}),
    action: z.enum(['greylist', 'accept', 'tag']),
    /** For `tag`: the header value text (the header name is `header.tagName`). */
    tag: replyText.optional(),
  })
  .strict();

/** The seed's policy: desktop Windows waits, everything else and unknown delivers now. */
export const DEFAULT_RULES: z.input<typeof ruleSchema>[] = [
  { name: 'desktop-windows', when: { desktopWindows: true }, action: 'greylist' },
  { name: 'default', when: {}, action: 'accept' },
];

/**
 * Reverse DNS names of dynamic/residential pools. Matched case-insensitively
 * against the name; a Windows client whose verified name matches none of these
 * counts as a mail server.
 */
export const DEFAULT_DYNAMIC_PATTERNS = [
  // pool words as a label or a dash/digit-separated part of one
  '(^|[.\\-\\d])(a?dsl|xdsl|vdsl|dyn|dynamic|dynip|pool|dhcp|cable|ppp|pppoe|dial|dialup|dialin|cpe|broadband|customer|cust|user|resident|residential|home|wifi|wlan|mobile|lte|ftth|fttx|fibra|fiber|catv)([.\\-\\d]|$)',
  // an embedded IPv4 address, dashed or dotted or mixed: 192-0-2-1, 1.2.0.192, 192x0x2x1
  '\\d{1,3}[.\\-_x]\\d{1,3}[.\\-_x]\\d{1,3}[.\\-_x]\\d{1,3}',
  // an embedded address in hex: c0000201
  '(^|[.\\-])[0-9a-f]{8}([.\\-]|$)',
  // three dashed numbers are enough (ISPs that leave out one octet)
  '\\d{1,3}-\\d{1,3}-\\d{1,3}',
  // a long digit run (decimal address): 3221225985.example.net
  '\\d{8,}',
];

export const configSchema = z
  .object({
    /** Where to listen: HOST:PORT or unix:/path; postgrey's port by default so greyprint drops in. */
    listen: z.array(listenString).min(1).default(['127.0.0.1:10023']),
    /** Mode of unix sockets, octal. */
    socketMode: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'expected an octal mode like 0660')
      .default('0660'),
    /** SQLite file, or `:memory:`. */
    db: z.string().min(1).default('/var/lib/greyprint/greyprint.sqlite'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Absent: pretty when stderr is a terminal, JSON lines otherwise (the operator contract). */
    logFormat: z.enum(['json', 'pretty']).optional(),
    /** HOST:PORT for Prometheus metrics at /metrics; off when unset. */
    metrics: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected HOST:PORT')
      .optional(),
    /**
     * Seconds a connection may stay silent between requests. Longer than Postfix's
     * smtpd_policy_service_max_idle (300 s) so Postfix, not we, closes idle ones.
     */
    idleTimeoutSec: z.number().positive().default(600),
    /**
     * Seconds from the first byte of a request to its end, in total (not reset by each byte, so
     * a client trickling one byte a second is closed too). Postfix sends a request in one write;
     * its own smtpd_policy_service_timeout is 100 s.
     */
    requestTimeoutSec: z.number().positive().default(100),
    /**
     * Policy connections open at once, over all listeners; past it new ones are closed at once
     * (logged once per burst, counted). Each Postfix smtpd process keeps at most one.
     */
    maxConnections: z.number().int().positive().default(4096),
    /** Longest time one answer may take; past it the answer is DUNNO (fail open). */
    deadlineMs: z.number().int().positive().default(1000),
    limits: z
      .object({
        maxLineBytes: z.number().int().min(64).default(4096),
        maxAttributes: z.number().int().min(8).default(100),
        maxRequestBytes: z.number().int().min(256).default(65536),
      })
      .strict()
      .default({}),
    greylist: z
      .object({
        /** Seconds from first sight before a retry is accepted (postgrey --delay). */
        delaySec: z.number().int().min(0).default(300),
        /** Seconds an unconfirmed triplet is kept after it was last seen (postgrey --retry-window: 2 days). */
        unconfirmedTtlSec: z
          .number()
          .int()
          .positive()
          .default(2 * 86400),
        /** Seconds a confirmed triplet is kept after it was last seen (postgrey --max-age: 35 days). */
        confirmedTtlSec: z
          .number()
          .int()
          .positive()
          .default(35 * 86400),
        /** A client is allowed without greylisting after this many confirmed triplets; 0 turns it off. */
        autoAllowClients: z.number().int().min(0).default(5),
        ipv4Prefix: z.number().int().min(0).max(32).default(24),
        ipv6Prefix: z.number().int().min(0).max(128).default(64),
        /**
         * Key clients with a forward-confirmed, non-dynamic reverse DNS name by its
         * registered domain instead of the network (pools that retry from other addresses).
         */
        keyByDomain: z.boolean().default(false),
        /** Seconds between background expiry runs. */
        expiryIntervalSec: z.number().int().positive().default(3600),
        /** Postfix action for a greylisted request. */
        action: z.enum(['DEFER_IF_PERMIT', 'DEFER']).default('DEFER_IF_PERMIT'),
        /**
         * Reply text; placeholders: {retry} seconds left, {delay}, {os}, {rule},
         * {client}, {recipient_domain}.
         */
        text: replyText.default('Greylisted by greyprint: {os} client, retry in {retry} seconds'),
      })
      .strict()
      .default({}),
    os: z
      .object({
        /** Operator pins, `CIDR = LABEL`; longest prefix wins and beats p0f. */
        static: z.array(staticEntry).default([]),
        /**
         * Which live sources are asked, in order; the first that knows the client wins
         * (pins always come first). Only configured sources take part.
         */
        order: z
          .array(z.enum(['capture', 'p0f']))
          .min(1)
          .refine((o) => new Set(o).size === o.length, 'each source at most once')
          .default(['capture', 'p0f']),
      })
      .strict()
      .default({}),
    capture: z
      .object({
        /** Interface to capture client SYNs on; unset means greyprint does not capture. */
        interface: z.string().min(1).optional(),
        /** BPF filter for the helper: the client SYNs worth classifying. */
        filter: z.string().min(1).default(DEFAULT_CAPTURE_FILTER),
        /** The capture helper (needs CAP_NET_RAW, e.g. through file capabilities; README). */
        command: z.string().min(1).default('tcpdump'),
        /** A p0f-grammar signature file; unset means greyprint's built-in set. */
        signatures: signatureFile.optional(),
        /** How long one SYN's verdict answers for its client address. */
        cacheTtlSec: z.number().positive().default(600),
        /** Longest wait of a lookup for a SYN not seen yet (while capture runs). */
        waitMs: z.number().int().min(0).max(1000).default(50),
      })
      .strict()
      .default({}),
    p0f: z
      .object({
        /** p0f's API socket (`p0f -s PATH`); unset means p0f is not asked. */
        socket: z.string().min(1).optional(),
        timeoutMs: z.number().int().positive().default(100),
        poolSize: z.number().int().min(1).max(20).default(4),
        cacheTtlSec: z.number().min(0).default(30),
      })
      .strict()
      .default({}),
    desktop: z
      .object({
        /** Regular expressions (case-insensitive) for dynamic/residential reverse DNS names. */
        dynamicNamePatterns: z.array(regexString).default(DEFAULT_DYNAMIC_PATTERNS),
      })
      .strict()
      .default({}),
    rules: z.array(ruleSchema).min(1).default(DEFAULT_RULES),
    allow: z
      .object({
        /**
         * Allow-list files, `KIND VALUE` per line (kinds: client, sender, recipient, rdns).
         * The default is where `greyprint allow add` writes; a missing file counts as empty.
         */
        files: z.array(z.string().min(1)).default(['/etc/greyprint/allow.conf']),
        /** The same entries inline. */
        entries: z.array(z.string()).default([]),
      })
      .strict()
      .default({}),
    header: z
      .object({
        /** Answer `PREPEND X-P0f-OS: ...` once per message. */
        enabled: z.boolean().default(true),
        /**
         * Which request carries it. Only DATA: Postfix sends it once per message,
         * and refuses PREPEND at END-OF-MESSAGE ("action PREPEND must be used
         * before smtpd_end_of_data_restrictions", access(5)). A BDAT (CHUNKING)
         * request counts as DATA.
         */
        stage: z
          .literal('DATA', {
            errorMap: () => ({
              message: 'must be DATA: Postfix refuses PREPEND at END-OF-MESSAGE (access(5))',
            }),
          })
          .default('DATA'),
        name: headerName.default('X-P0f-OS'),
        /**
         * Site secret appended as ` [gp:SECRET]` so that Postfix header_checks can tell
         * greyprint's header from one the client forged (README: forged headers).
         * Unset: the value is the bare label.
         */
        secret: z
          .string()
          .regex(/^[A-Za-z0-9]{8,64}$/, 'must be 8-64 letters and digits')
          .optional(),
        /** Longest header value in characters (the label is cut to this). */
        maxLength: z.number().int().min(8).max(900).default(100),
        /** Header used by the `tag` rule action (prepended at RCPT). */
        tagName: headerName.default('X-Greyprint'),
      })
      .strict()
      .default({}),
  })
  .strict();

/**
 * The keys a reload (SIGHUP) does not apply: what the daemon opened or started at start (listeners,
 * store, logger, metrics endpoint, live OS sources, the expiry timer). A reload keeps their running
 * values and warns about each that changed; a restart applies them.
 */
export const RESTART_ONLY_KEYS = [
  'listen',
  'socketMode',
  'db',
  'logLevel',
  'logFormat',
  'metrics',
  'maxConnections',
  'os.order',
  'p0f',
  'capture',
  'greylist.expiryIntervalSec',
] as const;

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Rule = z.output<typeof ruleSchema>;
export type RuleCondition = z.output<typeof ruleConditionSchema>;
