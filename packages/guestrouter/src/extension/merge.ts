import type { Inventory } from '../inventory/types.js';

/**
 * Events + polling: the API's inventory with what only the events know added. An entry both name is
 * the API's (it is CloudStack's current word); the events fill the gap until the next poll sees it.
 */
export function mergeInventories(api: Inventory, events: Inventory): Inventory {
  const union = <T>(a: readonly T[], b: readonly T[], key: (t: T) => string): T[] => {
    const seen = new Set(a.map(key));
    return [...a, ...b.filter((t) => !seen.has(key(t)))];
  };
  const apiRules = api.rules ?? { portForwards: [], firewall: [], egress: [], loadBalancers: [] };
  const eventRules = events.rules ?? { portForwards: [], firewall: [], egress: [], loadBalancers: [] };
  const byId = (t: { id: string }) => t.id;
  return {
    zones: union(api.zones, events.zones, byId),
    networks: union(api.networks, events.networks, byId),
    nics: union(api.nics, events.nics, (n) => `${n.networkId}/${n.ipAddress}`),
    publicIps: union(api.publicIps, events.publicIps, (p) => p.address),
    rules: {
      portForwards: union(apiRules.portForwards, eventRules.portForwards, byId),
      firewall: union(apiRules.firewall, eventRules.firewall, byId),
      egress: union(apiRules.egress, eventRules.egress, byId),
      loadBalancers: union(apiRules.loadBalancers, eventRules.loadBalancers, byId),
    },
    fetchedAt: api.fetchedAt,
  };
}
