/**
 * The part of CloudStack's API the Network Extension setup guide uses, in the simulator: extensions
 * (createExtension, listExtensions, registerExtension on a physical network), the network service
 * provider registration creates (listNetworkServiceProviders, updateNetworkServiceProvider as an async
 * job), and network offerings naming it (createNetworkOffering, listNetworkOfferings,
 * updateNetworkOffering). Answers in the documented shapes; checks what CloudStack checks for these
 * calls (required parameters, the type, the provider existing and providing each service).
 */
/** The simulator's parameters: names lower-cased, as CloudStack matches them. */
type Query = ReadonlyMap<string, string>;

export interface SimExtension {
  id: string;
  name: string;
  type: string;
  description?: string;
  state: 'Enabled';
  details: Record<string, string>;
  resources: { id: string; type: string; details: Record<string, string> }[];
  created: string;
}

export interface SimProvider {
  id: string;
  name: string;
  physicalnetworkid: string;
  state: 'Enabled' | 'Disabled';
  servicelist: string[];
}

export interface SimOffering {
  id: string;
  name: string;
  displaytext: string;
  guestiptype: string;
  traffictype: string;
  state: 'Enabled' | 'Disabled';
  service: { name: string; provider: { name: string }[] }[];
}

export interface SimExtensionState {
  extensions: SimExtension[];
  providers: SimProvider[];
  offerings: SimOffering[];
  /** Physical networks registerExtension accepts. */
  physicalNetworks: string[];
}

export interface ActionError {
  status: number;
  errorcode: number;
  cserrorcode?: number;
  errortext: string;
}

const CS_INVALID_PARAMETER = 4350;

const invalid = (errortext: string): ActionError => ({
  status: 431,
  errorcode: 431,
  cserrorcode: CS_INVALID_PARAMETER,
  errortext,
});

const missing = (command: string, name: string) =>
  invalid(`Unable to execute API command ${command} due to missing parameter ${name}`);

let serial = 0;
const uuid = (prefix: string) =>
  `${prefix}000000-0000-4000-8000-${(++serial).toString(16).padStart(12, '0')}`;

/** `details[0].key=K&details[0].value=V` (and CloudStack's other form, `details[0].K=V`) as a map. */
export function mapParam(q: Query, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of Object.values(groupsOf(q, name))) {
    if (g.key !== undefined && g.value !== undefined) out[g.key] = g.value;
    else for (const [k, v] of Object.entries(g)) out[k] = v;
  }
  return out;
}

type Action = (s: SimExtensionState, q: Query, addJob: (result: object) => string) => object | ActionError;

export function isActionError(x: unknown): x is ActionError {
  return typeof x === 'object' && x !== null && 'errorcode' in x && 'status' in x;
}

export const EXTENSION_ACTIONS: Record<string, Action> = {
  createextension: (s, q) => {
    for (const p of ['name', 'type']) if (!q.get(p)) return missing('createExtension', p);
    const type = q.get('type') as string;
    if (!['Orchestrator', 'NetworkOrchestrator'].includes(type))
      return invalid(`Invalid type: ${type}. Valid types are: Orchestrator, NetworkOrchestrator`);
    const name = q.get('name') as string;
    if (s.extensions.some((e) => e.name === name))
      return invalid(`Extension with name ${name} already exists`);
    const extensionDetails = mapParam(q, 'details');
    if (type === 'NetworkOrchestrator' && extensionDetails['network.service.capabilities'] !== undefined) {
      try {
        JSON.parse(extensionDetails['network.service.capabilities']);
      } catch {
        return invalid('network.service.capabilities must be a JSON object');
      }
    }
    const extension: SimExtension = {
      id: uuid('e1'),
      name,
      type,
      ...(q.get('description') ? { description: q.get('description') as string } : {}),
      state: 'Enabled',
      details: extensionDetails,
      resources: [],
      created: new Date(0).toISOString(),
    };
    s.extensions.push(extension);
    return { extension };
  },
  registerextension: (s, q) => {
    for (const p of ['id', 'resourcetype', 'resourceid'])
      if (!q.get(p)) return missing('registerExtension', p);
    const extension = s.extensions.find((e) => e.id === q.get('id'));
    if (!extension) return invalid(`Unable to find extension with ID: ${q.get('id')}`);
    if (q.get('resourcetype') !== 'PhysicalNetwork' || extension.type !== 'NetworkOrchestrator')
      return invalid(
        `Extension ${extension.name} of type ${extension.type} cannot be registered to ${q.get('resourcetype')}`,
      );
    const physical = q.get('resourceid') as string;
    if (!s.physicalNetworks.includes(physical))
      return invalid(`Unable to find physical network with ID: ${physical}`);
    if (extension.resources.some((r) => r.id === physical))
      return invalid(`Extension ${extension.name} is already registered with physical network ${physical}`);
    extension.resources.push({ id: physical, type: 'PhysicalNetwork', details: mapParam(q, 'details') });
    // The provider is named after the extension and offers the services it declared.
    s.providers.push({
      id: uuid('p1'),
      name: extension.name,
      physicalnetworkid: physical,
      state: 'Disabled',
      servicelist: (extension.details['network.services'] ?? '').split(',').filter(Boolean),
    });
    return { extension };
  },
  updatenetworkserviceprovider: (s, q, addJob) => {
    if (!q.get('id')) return missing('updateNetworkServiceProvider', 'id');
    const provider = s.providers.find((p) => p.id === q.get('id'));
    if (!provider) return invalid(`Network Service Provider id=${q.get('id')} doesn't exist in the system`);
    const state = q.get('state');
    if (state !== undefined && state !== 'Enabled' && state !== 'Disabled')
      return invalid(`Unable to find the state ${state}`);
    if (state) provider.state = state;
    return { jobid: addJob({ networkserviceprovider: { ...provider } }) };
  },
  createnetworkoffering: (s, q) => {
    for (const p of ['name', 'guestiptype', 'traffictype'])
      if (!q.get(p)) return missing('createNetworkOffering', p);
    const services = (q.get('supportedservices') ?? '').split(',').filter(Boolean);
    const byService = new Map<string, string>();
    for (const [i, g] of Object.entries(groupsOf(q, 'serviceproviderlist'))) {
      if (!g.service || !g.provider) return invalid(`serviceProviderList[${i}] needs service and provider`);
      byService.set(g.service, g.provider);
    }
    const service: SimOffering['service'] = [];
    for (const name of services) {
      const providerName = byService.get(name) ?? 'VirtualRouter';
      const provider = s.providers.find((p) => p.name === providerName);
      if (providerName !== 'VirtualRouter') {
        if (!provider) return invalid(`Invalid service provider: ${providerName}`);
        if (!provider.servicelist.includes(name))
          return invalid(`Provider ${providerName} doesn't support service ${name}`);
      }
      service.push({ name, provider: [{ name: providerName }] });
    }
    const offering: SimOffering = {
      id: uuid('o1'),
      name: q.get('name') as string,
      displaytext: q.get('displaytext') ?? (q.get('name') as string),
      guestiptype: q.get('guestiptype') as string,
      traffictype: q.get('traffictype') as string,
      state: 'Disabled',
      service,
    };
    s.offerings.push(offering);
    return { networkoffering: offering };
  },
  updatenetworkoffering: (s, q) => {
    const offering = s.offerings.find((o) => o.id === q.get('id'));
    if (!offering) return invalid(`Unable to find network offering ${q.get('id')}`);
    const state = q.get('state');
    if (state === 'Enabled' || state === 'Disabled') offering.state = state;
    return { networkoffering: offering };
  },
};

function groupsOf(q: Query, name: string) {
  const groups: Record<string, Record<string, string>> = {};
  for (const [k, v] of q.entries()) {
    const m = new RegExp(`^${name}\\[(\\d+)\\]\\.(.+)$`).exec(k);
    if (!m) continue;
    const g = groups[m[1] as string] ?? {};
    g[m[2] as string] = v;
    groups[m[1] as string] = g;
  }
  return groups;
}

/** The list commands: itemKey and the filter. */
export const EXTENSION_LISTS: Record<
  string,
  { itemKey: string; list: (s: SimExtensionState, q: Query) => object[] }
> = {
  listextensions: {
    itemKey: 'extension',
    list: (s, q) =>
      s.extensions.filter(
        (e) => (!q.has('id') || e.id === q.get('id')) && (!q.has('name') || e.name === q.get('name')),
      ),
  },
  listnetworkserviceproviders: {
    itemKey: 'networkserviceprovider',
    list: (s, q) =>
      s.providers.filter(
        (p) =>
          (!q.has('physicalnetworkid') || p.physicalnetworkid === q.get('physicalnetworkid')) &&
          (!q.has('name') || p.name === q.get('name')) &&
          (!q.has('state') || p.state === q.get('state')),
      ),
  },
  listnetworkofferings: {
    itemKey: 'networkoffering',
    list: (s, q) =>
      s.offerings.filter(
        (o) => (!q.has('id') || o.id === q.get('id')) && (!q.has('name') || o.name === q.get('name')),
      ),
  },
};
