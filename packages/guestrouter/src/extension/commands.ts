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
] as const;

export type SupportedCommand = (typeof SUPPORTED_COMMANDS)[number];

/** Commands CloudStack may send that this router does not provide, with the reason shown to the operator. */
export const REFUSED_COMMANDS: Readonly<Record<string, string>> = {
  'config-dhcp-subnet': 'DHCP subnets of shared networks with several ranges are not provided',
  'remove-dhcp-subnet': 'DHCP subnets of shared networks with several ranges are not provided',
  'config-dns-subnet': 'DNS subnets of shared networks with several ranges are not provided',
  'remove-dns-subnet': 'DNS subnets of shared networks with several ranges are not provided',
  'save-vm-data':
    'user data, meta data and passwords are not taken from events yet: leave UserData out of the extension services (run with metadata.enabled and API credentials serves them by polling)',
  'save-password':
    'passwords are not taken from events yet: use `guestrouter password reset` with API credentials',
  'save-userdata': 'user data is not taken from events yet: run with metadata.enabled and API credentials',
  'save-sshkey': 'SSH keys are not served (public-keys is not part of the meta data)',
  'save-hypervisor-hostname': 'the hypervisor host name is not taken from events yet',
  'implement-vpc': 'VPCs are not provided',
  'shutdown-vpc': 'VPCs are not provided',
  'update-vpc-source-nat-ip': 'VPCs are not provided',
  'apply-network-acl': 'VPC network ACLs are not provided',
  'custom-action': 'no custom actions are defined',
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
