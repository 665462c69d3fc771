/**
 * The commands CloudStack's Network Extension framework sends (NetworkExtensionElement, 2026 builds), and
 * which of them this router provides. A refused command gets a message CloudStack shows the operator.
 */

/** Commands the router turns into desired state. */
export const SUPPORTED_COMMANDS = [
  'implement-network',
  'shutdown-network',
  'destroy-network',
  'restore-network',
  'prepare-nic',
  'release-nic',
  'add-dhcp-entry',
  'remove-dhcp-entry',
  'add-dns-entry',
  'remove-dns-entry',
  'assign-ip',
  'release-ip',
  'add-static-nat',
  'delete-static-nat',
  'add-port-forward',
  'delete-port-forward',
  'apply-fw-rules',
  'apply-lb-rules',
  'save-vm-data',
  'save-password',
  'save-userdata',
  'save-sshkey',
  'save-hypervisor-hostname',
  'config-dhcp-subnet',
  'remove-dhcp-subnet',
  'config-dns-subnet',
  'remove-dns-subnet',
] as const;

export type SupportedCommand = (typeof SUPPORTED_COMMANDS)[number];

/** Commands CloudStack may send that this router does not provide, with the reason shown to the operator. */
export const REFUSED_COMMANDS: Readonly<Record<string, string>> = {
  'implement-vpc':
    'VPCs are not provided (each guest network is its own router link; leave this provider out of VPC offerings)',
  'shutdown-vpc': 'VPCs are not provided (leave this provider out of VPC offerings)',
  'update-vpc-source-nat-ip': 'VPCs are not provided (leave this provider out of VPC offerings)',
  'apply-network-acl':
    'VPC network ACLs are not provided (use the Firewall service of an isolated network: apply-fw-rules)',
  'custom-action': 'no custom actions are defined (addCustomAction for this extension has nothing to run)',
};

/** The one command answered locally, without the router. */
export const ENSURE_DEVICE = 'ensure-network-device';

export function isSupported(command: string): command is SupportedCommand {
  return (SUPPORTED_COMMANDS as readonly string[]).includes(command);
}

/** Why a command is not run: undefined when it is supported. */
export function refusalFor(command: string): string | undefined {
  if (isSupported(command) || command === ENSURE_DEVICE) return undefined;
  const reason = REFUSED_COMMANDS[command];
  if (reason !== undefined) return `${command}: not provided by guestrouter: ${reason}`;
  return `unknown command "${command}" (guestrouter knows: ${[ENSURE_DEVICE, ...SUPPORTED_COMMANDS].join(', ')})`;
}
