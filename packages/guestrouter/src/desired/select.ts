import type { NetworkSelection } from '../config/schema.js';
import type { GuestNetwork } from '../inventory/types.js';

/**
 * A network is selected when the selection is empty (every guest network the
 * key can see) or when its id, name or one of its tags is listed.
 */
export function isSelected(network: GuestNetwork, selection: NetworkSelection): boolean {
  const { ids, names, tags } = selection;
  if (ids.length === 0 && names.length === 0 && tags.length === 0) return true;
  return (
    ids.includes(network.id) || names.includes(network.name) || network.tags.some((t) => tags.includes(t))
  );
}
