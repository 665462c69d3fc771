import { z } from 'zod';
import { cloudStackFileSchema } from '../cloudstack/config.js';

/**
 * The one configuration schema: types, defaults and error messages. Every
 * option has a default that works on a single host except the two interface
 * names, which the operator must give (config file or --trunk/--uplink).
 */

const interfaceName = z
  .string({ invalid_type_error: 'must be an interface name (a string)' })
  .min(1, 'must not be empty')
  .max(15, 'Linux interface names are at most 15 characters')
  .regex(/^[^\s/:]+$/, 'must not contain spaces, "/" or ":"');

export const vxlanSchema = z
  .object({
    /**
     * `multicast`: CloudStack's default KVM host script (modifyvxlan.sh): group
     * 239.x.y.z derived from the VNI, learning on. `evpn`: no group, no learning,
     * the FDB is filled by a BGP EVPN speaker (not part of guestrouter).
     */
    mode: z.enum(['multicast', 'evpn'], { message: 'must be "multicast" or "evpn"' }).default('multicast'),
    /** UDP port; default 8472 (the kernel's, used by CloudStack hosts) for multicast and 4789 (IANA) for evpn. */
    port: z.number().int().min(1).max(65535).optional(),
    /** Source address for evpn mode (the VTEP address); optional. */
    local: z.string().ip({ version: 'v4', message: 'must be an IPv4 address' }).optional(),
    ttl: z.number().int().min(1).max(255).optional(),
  })
  .strict()
  .default({});

export const networkSelectionSchema = z
  .object({
    ids: z.array(z.string().min(1)).default([]),
    names: z.array(z.string().min(1)).default([]),
    tags: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    trunk: interfaceName.optional(),
    uplink: interfaceName.optional(),
    /** Partial CloudStack connection settings; the env vars win over these. */
    cloudstack: cloudStackFileSchema.default({}),
    zoneId: z.string().min(1).optional(),
    vxlan: vxlanSchema,
    networks: networkSelectionSchema,
    publicRouting: z
      .object({
        /** Answer ARP on the uplink for public guest subnets. */
        enabled: z.boolean().default(true),
        /**
         * `interface`: proxy_arp=1 on the uplink (the seed's way; answers for every address routed elsewhere).
         * `addresses`: one proxy neighbour entry per VM address CloudStack knows, proxy_arp=0 on the uplink.
         */
        proxyArp: z
          .enum(['interface', 'addresses'], { message: 'must be "interface" or "addresses"' })
          .default('interface'),
      })
      .strict()
      .default({}),
    run: z
      .object({
        intervalSeconds: z.number().positive().max(86400).default(60),
        jitterSeconds: z.number().min(0).max(3600).default(10),
      })
      .strict()
      .default({}),
    status: z
      .object({
        pingTimeoutSeconds: z.number().int().min(1).max(30).default(1),
        pingConcurrency: z.number().int().min(1).max(256).default(32),
      })
      .strict()
      .default({}),
    /**
     * DHCP for the served networks, as the Virtual Router gave it: one dnsmasq run by `run`,
     * static leases only (each VM NIC's MAC gets the address CloudStack assigned), the
     * network's gateway as router. Files in STATEDIR/dhcp.
     */
    dhcp: z
      .object({
        enabled: z.boolean().default(false),
        leaseTime: z
          .string()
          .regex(/^(\d+[smhdw]?|infinite)$/, 'must be seconds, a number with s, m, h, d or w, or "infinite"')
          .default('12h'),
        /**
         * Also answer DNS on the gateway addresses: the VMs' names (NAME and NAME.DOMAIN) from
         * the inventory; other names are forwarded to `upstream`. The gateway becomes the VMs' DNS server.
         */
        dns: z.boolean().default(false),
        /** DNS servers dnsmasq forwards other names to (with `dns`); none: only the VMs' names are answered. */
        upstream: z.array(z.string().ip({ version: 'v4', message: 'must be an IPv4 address' })).default([]),
        /** DNS domain handed to the VMs (DHCP option 15), and with `dns` the zone of their names. */
        domain: z
          .string()
          .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, 'must be a DNS domain')
          .optional(),
        /** The dnsmasq program (Debian package dnsmasq-base). */
        dnsmasq: z.string().min(1).default('dnsmasq'),
      })
      .strict()
      .default({}),
    /** Limits that stop a wrong inventory from tearing networks down. */
    safety: z
      .object({
        /**
         * The most networks one cycle may delete; above it none is deleted and the cycle fails with
         * a message (apply --allow-deletes N confirms). Unset: 5 or 10 % of the served links,
         * whichever is larger.
         */
        maxDeletesPerCycle: z.number().int().min(0).optional(),
      })
      .strict()
      .default({}),
    /**
     * User data, meta data and passwords for the VMs, as the Virtual Router served them: HTTP on
     * each served gateway (port 80) and the password protocol (port 8080), answered only to the VM
     * whose NIC (address and MAC, on its link) asks. Served by `run`.
     */
    metadata: z
      .object({
        enabled: z.boolean().default(false),
        httpPort: z.number().int().min(1).max(65535).default(80),
        passwordPort: z.number().int().min(1).max(65535).default(8080),
        /** getVirtualMachineUserData calls in flight at once. */
        userDataConcurrency: z.number().int().min(1).max(64).default(4),
        /** At most this many getVirtualMachineUserData calls per cycle (new VMs first, then the oldest). */
        userDataFetchesPerCycle: z.number().int().min(1).max(100000).default(200),
        /** User data older than this is fetched again (within the per-cycle budget). */
        userDataMaxAgeSeconds: z.number().int().min(0).max(604800).default(3600),
        /** A pending password not picked up by its VM within this time is deleted. */
        passwordTtlSeconds: z.number().int().min(60).max(31536000).default(86400),
        /** CloudStack's `cloud.identifier` setting; served as `cloud-identifier` (CloudStack-{ID}) when given. */
        cloudIdentifier: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    stateDir: z.string().min(1).default('/var/lib/guestrouter'),
    /** Prometheus endpoint of `run` (GET /metrics); off unless a port is given. */
    metrics: z
      .object({
        port: z.number().int().min(0).max(65535).optional(),
        host: z.string().min(1).default('127.0.0.1'),
      })
      .strict()
      .default({}),
    /** Run ip and sysctl inside this network namespace (tests, demos). */
    netns: z.string().min(1).max(64).optional(),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    /** Logs on stderr as JSON lines or for people; unset: pretty on a terminal, JSON otherwise. */
    logFormat: z.enum(['json', 'pretty']).optional(),
  })
  .strict();

export type GuestrouterConfigInput = z.input<typeof configSchema>;
export type GuestrouterConfig = z.output<typeof configSchema>;
export type VxlanConfig = z.output<typeof vxlanSchema>;
export type NetworkSelection = z.output<typeof networkSelectionSchema>;
export type MetadataConfig = GuestrouterConfig['metadata'];

/**
 * The keys a reload (SIGHUP) of `run` does not apply: the logger, the metrics endpoint and the
 * DHCP and meta data services are made once at start. A reload keeps their running values and
 * warns about each that changed; a restart applies them.
 */
export const RESTART_ONLY_KEYS = ['logLevel', 'logFormat', 'metrics', 'dhcp', 'metadata'] as const;

/** Default UDP port per VXLAN mode. */
export function vxlanPort(vxlan: VxlanConfig): number {
  return vxlan.port ?? (vxlan.mode === 'evpn' ? 4789 : 8472);
}
