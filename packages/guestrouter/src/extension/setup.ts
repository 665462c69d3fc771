import type { CloudStackClient, Params } from '../cloudstack/client.js';
import type { RawAsyncJob } from '../cloudstack/messages.js';

/**
 * The CloudStack calls that make guestrouter a network service provider (the README's setup guide):
 * createExtension, registerExtension on the physical network (which creates the provider), enabling
 * that provider, and an isolated network offering whose services it provides. Pure parameter
 * builders, plus runSetup that makes the calls (skipping what already exists, so it can be re-run)
 * and the same calls as CloudMonkey lines for operators who prefer to type them.
 */
export interface SetupOptions {
  /** The extension's name, which is also the provider's (default `guestrouter`). */
  readonly name: string;
  readonly physicalNetworkId: string;
  /** The routers' control URLs (`guestrouter.url`). */
  readonly urls: readonly string[];
  readonly secret: string;
  readonly isolation: 'vlan' | 'vxlan';
  readonly offeringName: string;
  readonly services: readonly string[];
}

/** Every service guestrouter provides on an isolated network. */
export const PROVIDED_SERVICES = [
  'SourceNat',
  'StaticNat',
  'PortForwarding',
  'Firewall',
  'Lb',
  'Dhcp',
  'Dns',
  'UserData',
  'Gateway',
] as const;

/**
 * Capabilities declared for the services (network.service.capabilities). DhcpAccrossMultipleSubnets is
 * false: the router serves each network's own subnet only (config-dhcp-subnet for another is refused).
 */
export const CAPABILITIES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  SourceNat: { SupportedSourceNatTypes: 'peraccount', RedundantRouter: 'false' },
  Firewall: {
    SupportedProtocols: 'tcp,udp,icmp',
    SupportedTrafficDirection: 'ingress,egress',
    SupportedEgressProtocols: 'tcp,udp,icmp,all',
  },
  Lb: { SupportedLBAlgorithms: 'roundrobin,leastconn,source', SupportedProtocols: 'tcp' },
  Dhcp: { DhcpAccrossMultipleSubnets: 'false' },
};

function details(pairs: readonly (readonly [string, string])[]): Params {
  const out: Params = {};
  pairs.forEach(([key, value], i) => {
    out[`details[${i}].key`] = key;
    out[`details[${i}].value`] = value;
  });
  return out;
}

export function createExtensionParams(o: SetupOptions): Params {
  const capabilities = Object.fromEntries(
    Object.entries(CAPABILITIES).filter(([s]) => o.services.includes(s)),
  );
  return {
    name: o.name,
    type: 'NetworkOrchestrator',
    description: 'guestrouter: the guest networks router driven by CloudStack events',
    ...details([
      ['network.services', o.services.join(',')],
      ['network.service.capabilities', JSON.stringify(capabilities)],
    ]),
  };
}

export function registerExtensionParams(o: SetupOptions, extensionId: string): Params {
  return {
    id: extensionId,
    resourcetype: 'PhysicalNetwork',
    resourceid: o.physicalNetworkId,
    ...details([
      ['guestrouter.url', o.urls.join(',')],
      ['guestrouter.secret', o.secret],
      ['guestrouter.isolation', o.isolation],
    ]),
  };
}

export function createNetworkOfferingParams(o: SetupOptions): Params {
  const out: Params = {
    name: o.offeringName,
    displaytext: `Isolated network routed by ${o.name}`,
    guestiptype: 'Isolated',
    traffictype: 'GUEST',
    supportedservices: o.services.join(','),
  };
  o.services.forEach((service, i) => {
    out[`serviceProviderList[${i}].service`] = service;
    out[`serviceProviderList[${i}].provider`] = o.name;
  });
  return out;
}

/** The calls as CloudMonkey lines; the secret is shown as a placeholder, ids as `<...-id>`. */
export function cmkLines(o: SetupOptions): string[] {
  const line = (verb: string, params: Params) =>
    `cmk ${verb} ${Object.entries(params)
      .map(([k, v]) => `${k}=${/[\s"'{}]/.test(String(v)) ? `'${String(v)}'` : String(v)}`)
      .join(' ')}`;
  const hidden = { ...o, secret: '<extension.secret>' };
  return [
    line('create extension', createExtensionParams(o)),
    line('register extension', registerExtensionParams(hidden, '<extension-id>')),
    line('list networkserviceproviders', { physicalnetworkid: o.physicalNetworkId, name: o.name }),
    line('update networkserviceprovider', { id: '<provider-id>', state: 'Enabled' }),
    line('create networkoffering', createNetworkOfferingParams(o)),
    line('update networkoffering', { id: '<offering-id>', state: 'Enabled' }),
  ];
}

export interface SetupResult {
  readonly extensionId: string;
  readonly providerId: string;
  readonly offeringId: string;
  /** What was made now (the rest existed already). */
  readonly created: readonly string[];
}

interface Item {
  id: string;
  name?: string;
  state?: string;
}

async function waitForJob(client: CloudStackClient, command: string, jobid: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const job = await client.request<RawAsyncJob>('queryAsyncJobResult', { jobid });
    if (job.jobstatus === 1) return;
    if (job.jobstatus === 2)
      throw new Error(
        `CloudStack ${command}: job ${jobid} failed: ${job.jobresult?.errortext ?? 'no error text'}`,
      );
    if (Date.now() > deadline)
      throw new Error(`CloudStack ${command}: job ${jobid} still running after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Makes the calls; an extension, provider state or offering that already exists is kept as it is. */
export async function runSetup(client: CloudStackClient, o: SetupOptions): Promise<SetupResult> {
  const created: string[] = [];
  const existing = await client.listAll<Item>('listExtensions', { name: o.name }, 'extension');
  let extension = existing.find((e) => e.name === o.name);
  if (extension === undefined) {
    extension = (await client.request<{ extension: Item }>('createExtension', createExtensionParams(o)))
      .extension;
    created.push('extension');
  }
  const providers = () =>
    client.listAll<Item>(
      'listNetworkServiceProviders',
      { physicalnetworkid: o.physicalNetworkId, name: o.name },
      'networkserviceprovider',
    );
  let provider = (await providers()).find((p) => p.name === o.name);
  if (provider === undefined) {
    await client.request('registerExtension', registerExtensionParams(o, extension.id));
    created.push('registration');
    provider = (await providers()).find((p) => p.name === o.name);
    if (provider === undefined)
      throw new Error(`registerExtension made no network service provider named ${o.name}`);
  }
  if (provider.state !== 'Enabled') {
    const job = await client.request<{ jobid?: string }>('updateNetworkServiceProvider', {
      id: provider.id,
      state: 'Enabled',
    });
    if (job.jobid) await waitForJob(client, 'updateNetworkServiceProvider', job.jobid);
    created.push('provider enabled');
  }
  const offerings = await client.listAll<Item>(
    'listNetworkOfferings',
    { name: o.offeringName },
    'networkoffering',
  );
  let offering = offerings.find((n) => n.name === o.offeringName);
  if (offering === undefined) {
    offering = (
      await client.request<{ networkoffering: Item }>('createNetworkOffering', createNetworkOfferingParams(o))
    ).networkoffering;
    created.push('offering');
  }
  if (offering.state !== 'Enabled') {
    await client.request('updateNetworkOffering', { id: offering.id, state: 'Enabled' });
    created.push('offering enabled');
  }
  return { extensionId: extension.id, providerId: provider.id, offeringId: offering.id, created };
}
