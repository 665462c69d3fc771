import { z } from 'zod';
import { isSupported, refusalFor, type SupportedCommand } from './commands.js';

/**
 * The payload file CloudStack writes for each call: `physical-network-extension-details` (what the
 * operator registered on the physical network), `network-extension-details` (what
 * `ensure-network-device` printed) and `payload`, whose scalars are all strings. Parsing never
 * throws anything but PayloadError, whose message CloudStack shows.
 */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

const detailsSchema = z.record(z.string(), z.unknown());

const envelopeSchema = z.object({
  'physical-network-extension-details': detailsSchema.default({}),
  'network-extension-details': z.union([detailsSchema, z.string()]).default({}),
  payload: detailsSchema,
});

export type Envelope = z.output<typeof envelopeSchema>;

/** Fields every command of a network needs. */
const NETWORK_FIELDS = ['network_id'] as const;
const NIC_FIELDS = ['network_id', 'mac', 'ip'] as const;

/** Required payload fields per command, beyond which the field is optional. */
export const REQUIRED_FIELDS: Readonly<Record<SupportedCommand, readonly string[]>> = {
  'implement-network': ['network_id', 'vlan', 'gateway', 'cidr'],
  'shutdown-network': NETWORK_FIELDS,
  'destroy-network': NETWORK_FIELDS,
  'restore-network': NETWORK_FIELDS,
  'prepare-nic': NIC_FIELDS,
  'release-nic': ['network_id', 'mac'],
  'add-dhcp-entry': NIC_FIELDS,
  'remove-dhcp-entry': ['network_id', 'mac'],
  'add-dns-entry': [...NIC_FIELDS, 'hostname'],
  'remove-dns-entry': ['network_id', 'mac'],
  'assign-ip': ['network_id', 'public_ip'],
  'release-ip': ['network_id', 'public_ip'],
  'add-static-nat': ['network_id', 'public_ip', 'private_ip'],
  'delete-static-nat': ['network_id', 'public_ip'],
  'add-port-forward': ['network_id', 'public_ip', 'public_port', 'private_ip', 'private_port', 'protocol'],
  'delete-port-forward': ['network_id', 'public_ip', 'public_port', 'protocol'],
  'apply-fw-rules': ['network_id', 'fw_rules'],
  'apply-lb-rules': ['network_id', 'lb_rules'],
  // The element names the VM by its NIC: network and address. Empty user data or key means "none".
  'save-vm-data': ['network_id', 'ip', 'vm_data'],
  'save-password': ['network_id', 'ip', 'password'],
  'save-userdata': ['network_id', 'ip'],
  'save-sshkey': ['network_id', 'ip'],
  'save-hypervisor-hostname': ['network_id', 'ip', 'hypervisor_hostname'],
  'config-dhcp-subnet': NETWORK_FIELDS,
  'remove-dhcp-subnet': NETWORK_FIELDS,
  'config-dns-subnet': NETWORK_FIELDS,
  'remove-dns-subnet': NETWORK_FIELDS,
};

/** Fields that carry structures (objects or lists), possibly JSON-encoded in a string by older builds. */
const STRUCTURED_FIELDS = new Set(['fw_rules', 'lb_rules', 'vm_data']);

export interface ExtensionEvent {
  readonly command: SupportedCommand;
  /** Payload scalars, as strings. */
  readonly fields: Readonly<Record<string, string>>;
  /** Structured fields (fw_rules, lb_rules, vm_data) decoded. */
  readonly structured: Readonly<Record<string, unknown>>;
  /** The physical network's registered details (guestrouter.url, guestrouter.isolation, ...). */
  readonly physical: Readonly<Record<string, string>>;
}

function scalars(record: Record<string, unknown>, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    else if (!STRUCTURED_FIELDS.has(key)) {
      throw new PayloadError(
        `${where}.${key}: expected a string, got ${Array.isArray(value) ? 'a list' : typeof value}`,
      );
    }
  }
  return out;
}

/** Reads the envelope from the file's text; `source` names the file in errors. */
export function parseEnvelope(text: string, source: string): Envelope {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PayloadError(`${source}: not JSON: ${(error as Error).message}`);
  }
  const result = envelopeSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue?.path.join('.') || '(top level)';
    throw new PayloadError(`${source}: ${key}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** A registered detail of the physical network, as a string (details arrive as strings). */
export function physicalDetail(envelope: Envelope, key: string): string | undefined {
  const value = envelope['physical-network-extension-details'][key];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** Checks the command and its fields: a refused or unknown command and a missing field are PayloadErrors. */
export function toEvent(command: string, envelope: Envelope): ExtensionEvent {
  const refusal = refusalFor(command);
  if (refusal !== undefined) throw new PayloadError(refusal);
  if (!isSupported(command))
    throw new PayloadError(`${command}: answered by the entry point, not the router`);
  const payload = envelope.payload;
  const fields = scalars(payload, 'payload');
  const structured: Record<string, unknown> = {};
  for (const name of REQUIRED_FIELDS[command]) {
    if (STRUCTURED_FIELDS.has(name)) {
      const raw = payload[name];
      if (raw === undefined || raw === null || raw === '')
        throw new PayloadError(`${command}: payload.${name} is missing`);
      if (typeof raw === 'string') {
        try {
          structured[name] = JSON.parse(raw);
        } catch {
          throw new PayloadError(`${command}: payload.${name} is not JSON`);
        }
      } else structured[name] = raw;
    } else if (fields[name] === undefined || fields[name] === '') {
      throw new PayloadError(
        `${command}: payload.${name} is missing (required: ${REQUIRED_FIELDS[command].join(', ')})`,
      );
    }
  }
  const physical = scalars(
    envelope['physical-network-extension-details'],
    'physical-network-extension-details',
  );
  return { command, fields, structured, physical };
}
