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
    /**
     * The nftables rule set guestrouter owns (tables `inet guestrouter` and `ip guestrouter_nat`):
     * anti-spoofing, tenant isolation, source/static NAT, port forwarding, ingress and egress firewall.
     */
    firewall: z
      .object({
        enabled: z.boolean().default(true),
        /** Drop new traffic from one guest network into another's private network. */
        isolation: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /** Load balancing of the CloudStack LB rules by one haproxy that `run` owns (files in STATEDIR/haproxy). */
    loadBalancer: z
      .object({
        /** The haproxy program (Debian package haproxy). */
        haproxy: z.string().min(1).default('haproxy'),
        /** Health check interval; a backend is taken out after two failed checks. */
        checkIntervalMs: z.number().int().min(100).max(60000).default(1000),
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
        /**
         * Threads serving port 80, each the gateways of its share of the networks (1: the main
         * thread, the default). More threads: a higher rate, more RSS (README).
         */
        workers: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .default({}),
    /**
     * CloudStack Network Extension events (`guestrouter extension` on the management servers): served by
     * `run` on `listen` (HOST:PORT), HMAC-signed with `secret`. Off unless `listen` is given. `poll`: also
     * read the CloudStack API every cycle (needs credentials) and serve the union, API entries winning.
     */
    extension: z
      .object({
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be HOST:PORT, e.g. 10.0.0.5:8443')
          .optional(),
        secret: z.string().min(16, 'must be at least 16 characters').optional(),
        poll: z.boolean().default(false),
        tls: z
          .object({ cert: z.string().min(1), key: z.string().min(1) })
          .strict()
          .optional(),
      })
      .strict()
      .superRefine((value, ctx) => {
        if (value.listen !== undefined && value.secret === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['secret'],
            message: 'required when extension.listen is set',
          });
        }
      })
      .default({}),
    /**
     * Two routers as one: keepalived (VRRP) owned by `run`, one instance per guest network, the
     * gateway address as the virtual address. Off by default; the same settings on both routers
     * except priority, peers and sourceAddress.
     */
    ha: z
      .object({
        enabled: z.boolean().default(false),
        /** keepalived's router_id (its logs); unset: the host name. */
        routerId: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be letters, digits, "_", "." or "-"')
          .optional(),
        priority: z.number().int().min(1).max(254).default(100),
        /** Interface of the VRRP adverts; unset: the trunk. */
        interface: z.string().min(1).max(15).optional(),
        /** The other router's address(es) on that interface: unicast adverts. Empty: multicast 224.0.0.18. */
        peers: z.array(z.string().ip({ version: 'v4', message: 'must be an IPv4 address' })).default([]),
        /** Source of unicast adverts; unset: the interface's primary address. */
        sourceAddress: z.string().ip({ version: 'v4', message: 'must be an IPv4 address' }).optional(),
        /** VRRP PASS authentication, 1-8 characters, the same on both routers. */
        authPass: z
          .string()
          .regex(/^[\x21-\x7e]{1,8}$/, 'must be 1-8 printable characters without spaces')
          .optional(),
        /**
         * Seconds between adverts; the backup takes over after about 3 missed ones. Below 1 s
         * (VRRP version 3, keepalived's centisecond adverts) the failover fits in 3 s; VRRPv3 has no
         * authentication, so `authPass` needs a whole number here (VRRPv2, failover about 3.6 s at 1).
         */
        advertIntervalSeconds: z.number().min(0.1).max(255).default(0.5),
        /** As the Virtual Router: a returning router does not take the master role back. */
        nopreempt: z.boolean().default(true),
        /**
         * At most this many VRRP instances: a network's instance is its VNI/VLAN id modulo this, plus 1.
         * 255: one per network (up to 255); 1: one for all, as the Virtual Router. See the README's figures.
         */
        instanceGroups: z.number().int().min(1).max(255).default(255),
        /** The keepalived program (Debian package keepalived). */
        keepalived: z.string().min(1).default('keepalived'),
        /**
         * Pending passwords replicated to the other router (src/ha/password-sync.ts): `run` serves the
         * peer's signed messages on `listen` (HOST:PORT, e.g. this router's trunk address) and sends
         * its own to each of `peers` (the other router's `http://HOST:PORT`). Off unless peers or
         * listen are given; `secret` (16+ characters, the same on both) is then required.
         */
        passwordSync: z
          .object({
            listen: z
              .string()
              .regex(/^[^:\s]+:\d{1,5}$/, 'must be HOST:PORT, e.g. 10.255.0.1:8089')
              .optional(),
            peers: z.array(z.string().url('must be a URL, e.g. http://10.255.0.2:8089')).default([]),
            secret: z.string().min(16, 'must be at least 16 characters').optional(),
          })
          .strict()
          .superRefine((value, ctx) => {
            if ((value.listen !== undefined || value.peers.length > 0) && value.secret === undefined)
              ctx.addIssue({
                code: 'custom',
                path: ['secret'],
                message: 'required when ha.passwordSync.listen or peers are set',
              });
          })
          .default({}),
        /**
         * Connection state shared between the routers (conntrackd, FTFW over UDP), committed to the
         * kernel of the router that becomes master: established connections survive a failover.
         */
        conntrack: z
          .object({
            enabled: z.boolean().default(false),
            /** Interface of the sync messages (the trunk or a dedicated link); unset: ha.interface or the trunk. */
            interface: z.string().min(1).max(15).optional(),
            /** This router's address on that interface; unset: ha.sourceAddress. */
            localAddress: z.string().ip({ version: 'v4', message: 'must be an IPv4 address' }).optional(),
            /** The other router's address on that interface; unset: the first of ha.peers. */
            peerAddress: z.string().ip({ version: 'v4', message: 'must be an IPv4 address' }).optional(),
            port: z.number().int().min(1).max(65535).default(3780),
            /** The conntrackd program (Debian package conntrackd). */
            conntrackd: z.string().min(1).default('conntrackd'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .refine(
        (ha) => !ha.conntrack.enabled || (ha.conntrack.localAddress ?? ha.sourceAddress) !== undefined,
        {
          message: 'conntrack.enabled needs conntrack.localAddress (or ha.sourceAddress)',
          path: ['conntrack'],
        },
      )
      .refine((ha) => !ha.conntrack.enabled || (ha.conntrack.peerAddress ?? ha.peers[0]) !== undefined, {
        message: 'conntrack.enabled needs conntrack.peerAddress (or ha.peers)',
        path: ['conntrack'],
      })
      .refine((ha) => ha.authPass === undefined || Number.isInteger(ha.advertIntervalSeconds), {
        message: 'authPass needs a whole advertIntervalSeconds (VRRPv2; version 3 has no authentication)',
        path: ['authPass'],
      })
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
 * DHCP, meta data, load balancer, VRRP and extension services are made once at start. A reload keeps their running values and
 * warns about each that changed; a restart applies them.
 */
export const RESTART_ONLY_KEYS = [
  'logLevel',
  'logFormat',
  'metrics',
  'dhcp',
  'metadata',
  'loadBalancer',
  'ha',
  'extension',
] as const;

/** Default UDP port per VXLAN mode. */
export function vxlanPort(vxlan: VxlanConfig): number {
  return vxlan.port ?? (vxlan.mode === 'evpn' ? 4789 : 8472);
}
