/**
 * The typed plan: every change guestrouter makes, to any object it owns, as
 * one operation (Terraform's plans.Action: create, update, delete, replace)
 * with the object it touches and why. Renderers turn the same plan into the
 * shell commands `plan` prints, what `apply` runs, and `--json`.
 */
import type { Change, Plan } from './types.js';

export type PlanAction = 'create' | 'update' | 'delete' | 'replace';

export type PlanObject =
  | { readonly kind: 'link'; readonly name: string }
  | { readonly kind: 'address'; readonly link: string; readonly address: string }
  | { readonly kind: 'proxy-neighbour'; readonly dev: string; readonly address: string }
  | { readonly kind: 'sysctl'; readonly key: string }
  | { readonly kind: 'nft-chain'; readonly table: string; readonly chain: string }
  | { readonly kind: 'nft-rule'; readonly table: string; readonly chain: string; readonly key: string }
  | { readonly kind: 'service-config'; readonly service: string; readonly path: string };

export interface Operation {
  readonly action: PlanAction;
  readonly object: PlanObject;
  readonly reason: string;
  readonly networkId?: string;
  /** What the object becomes (the nft rule text, the sysctl value ...), when there is one. */
  readonly detail?: string;
}

/** The link, address, neighbour and sysctl changes of the ip/sysctl subsystem as typed operations. */
export function operationsFromChanges(changes: readonly Change[]): Operation[] {
  return changes
    .filter((c) => !c.action.includes('nft'))
    .map((c): Operation => {
      const net = c.networkId ? { networkId: c.networkId } : {};
      const link = c.link ?? '';
      switch (c.action) {
        case 'create-link':
          return {
            action: 'create',
            object: { kind: 'link', name: link },
            reason: 'its network is served',
            detail: c.detail,
            ...net,
          };
        case 'recreate-link':
          return { action: 'replace', object: { kind: 'link', name: link }, reason: c.detail, ...net };
        case 'delete-link':
          return { action: 'delete', object: { kind: 'link', name: link }, reason: c.detail, ...net };
        case 'set-up':
          return {
            action: 'update',
            object: { kind: 'link', name: link },
            reason: 'it is down',
            detail: 'up',
            ...net,
          };
        case 'add-address':
          return {
            action: 'create',
            object: { kind: 'address', link, address: c.detail },
            reason: 'gateway of the network',
            ...net,
          };
        case 'remove-address':
          return {
            action: 'delete',
            object: { kind: 'address', link, address: c.detail },
            reason: 'not the network gateway',
            ...net,
          };
        case 'add-public-address':
          return {
            action: 'create',
            object: { kind: 'address', link, address: c.detail },
            reason: c.reason ?? 'public address',
            ...net,
          };
        case 'remove-public-address':
          return {
            action: 'delete',
            object: { kind: 'address', link, address: c.detail },
            reason: c.reason ?? 'no longer used',
            ...net,
          };
        case 'add-proxy-neighbour':
          return {
            action: 'create',
            object: { kind: 'proxy-neighbour', dev: link, address: c.detail },
            reason: 'VM address answered on the uplink',
            ...net,
          };
        case 'delete-proxy-neighbour':
          return {
            action: 'delete',
            object: { kind: 'proxy-neighbour', dev: link, address: c.detail },
            reason: 'no VM has this address',
            ...net,
          };
        case 'set-sysctl': {
          const [key = '', value = ''] = c.detail.split('=');
          return {
            action: 'update',
            object: { kind: 'sysctl', key },
            reason: c.link ? `setting of ${c.link}` : 'router setting',
            detail: value,
            ...net,
          };
        }
        default:
          return {
            action: 'update',
            object: { kind: 'link', name: link },
            reason: c.reason ?? c.action,
            detail: c.detail,
            ...net,
          };
      }
    });
}

/** Every operation of a plan: ip/sysctl changes first (in the order apply runs them), then the nft rule set. */
export function planOperations(plan: Plan): Operation[] {
  return [
    ...operationsFromChanges(plan.changes),
    ...(plan.nftOperations ?? []),
    ...(plan.serviceOperations ?? []),
  ];
}
