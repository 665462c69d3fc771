import type { DesiredLink, SysctlSetting } from '../desired/types.js';
import { shellScript } from '../nft/render.js';
import type { Plan } from './types.js';

export function linkAddCommand(link: DesiredLink): string {
  const spec = link.spec;
  // The MAC is given at creation: the link never exists with a random one that VMs could learn.
  if (spec.kind === 'vlan')
    return `link add link ${spec.parent} name ${link.name} address ${link.mac} type vlan id ${spec.id}`;
  const parts = [`link add ${link.name} address ${link.mac} type vxlan id ${spec.vni}`];
  if (spec.group) parts.push(`group ${spec.group}`);
  if (spec.local) parts.push(`local ${spec.local}`);
  // Always explicit: without dstport this iproute2 warns and picks the kernel's 8472.
  parts.push(`dstport ${spec.port}`);
  if (spec.ttl) parts.push(`ttl ${spec.ttl}`);
  if (!spec.learning) parts.push('nolearning');
  parts.push(`dev ${spec.dev}`);
  return parts.join(' ');
}

export function sysctlCommand(setting: SysctlSetting): string {
  return `sysctl -w ${setting.key}=${setting.value}`;
}

/**
 * The literal plan, in the order `apply` runs it: global sysctl writes, the
 * ip -batch lines, then per-link sysctl writes. What `plan` prints.
 */
export function renderPlan(plan: Plan): string[] {
  return [
    ...plan.sysctlsBefore.map(sysctlCommand),
    ...plan.ipCommands,
    ...plan.sysctls.map(sysctlCommand),
    ...nftCommand(plan),
  ];
}

/**
 * The same plan as shell commands an operator can paste: each ip -batch line
 * gets its `ip` (with `-n NS` when guestrouter works in a namespace), each
 * sysctl write runs in that namespace too. `apply` runs the equivalent batch.
 */
export function renderShellPlan(plan: Plan, netns?: string): string[] {
  const ip = netns ? `ip -n ${netns}` : 'ip';
  const inNs = (command: string): string => (netns ? `ip netns exec ${netns} ${command}` : command);
  return [
    ...plan.sysctlsBefore.map((s) => inNs(sysctlCommand(s))),
    ...plan.ipCommands.map((line) => `${ip} ${line}`),
    ...plan.sysctls.map((s) => inNs(sysctlCommand(s))),
    ...nftCommand(plan, netns),
  ];
}

/** The nft transaction as one shell command (a here-document), after the links it names exist. */
function nftCommand(plan: Plan, netns?: string): string[] {
  const script = plan.nftScript ?? [];
  return script.length === 0 ? [] : [shellScript(script, netns)];
}
