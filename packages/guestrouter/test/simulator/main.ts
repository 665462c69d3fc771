/**
 * Runs the CloudStack API simulator as a process, for the demo and the
 * benchmark:
 *   node --import tsx packages/guestrouter/test/simulator/main.ts --port 8096 --networks 25 --vms 125 --isolation vxlan
 * Prints `export CLOUDSTACK_API_URL=...`, `..._API_KEY`, `..._SECRET_KEY`
 * (eval-able by a shell) and serves until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { generateSimState } from './fixtures.js';
import { startSimulator } from './server.js';

const USAGE = `usage: main.ts [--host 127.0.0.1] [--port 0] [--networks 25] [--vms 125] [--isolation vlan|vxlan]
               [--public-ips-per-network 0] [--api-key K] [--secret-key S] [--non-admin] [--first-id 1]
--vms is the total, spread evenly over the networks (the first networks get one more when it does not divide).`;

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function intOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a whole number, got ${String(raw)}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        networks: { type: 'string' },
        vms: { type: 'string' },
        isolation: { type: 'string' },
        'public-ips-per-network': { type: 'string' },
        'api-key': { type: 'string' },
        'secret-key': { type: 'string' },
        'non-admin': { type: 'boolean' },
        'first-id': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const isolation = (values.isolation as string | undefined) ?? 'vxlan';
  if (isolation !== 'vlan' && isolation !== 'vxlan') {
    process.stderr.write(`--isolation must be vlan or vxlan\n${USAGE}\n`);
    process.exit(2);
  }
  const networks = intOption(values, 'networks', 25);
  const vms = intOption(values, 'vms', 125);
  const firstId = intOption(values, 'first-id', 1) || 1;
  const perNetwork = networks === 0 ? 0 : Math.ceil(vms / networks);
  const state = generateSimState({
    networks,
    vmsPerNetwork: perNetwork,
    isolation,
    firstId,
    publicIpsPerNetwork: Math.min(intOption(values, 'public-ips-per-network', 0), perNetwork),
  });
  // Trim to exactly --vms: drop the highest-numbered VM of the last networks first.
  let excess = state.virtualMachines.length - vms;
  for (let n = networks - 1; excess > 0 && n >= 0; n--) {
    const suffix = `-${firstId + n}-${perNetwork}`;
    const index = state.virtualMachines.findIndex(
      (vm) => vm.name.endsWith(suffix) && vm.name === `vm${suffix}`,
    );
    if (index >= 0) {
      const [removed] = state.virtualMachines.splice(index, 1);
      state.publicIpAddresses = state.publicIpAddresses.filter((ip) => ip.virtualmachineid !== removed?.id);
      excess--;
    }
  }
  const handle = await startSimulator({
    state,
    host: (values.host as string | undefined) ?? '127.0.0.1',
    port: intOption(values, 'port', 0),
    rootAdmin: !values['non-admin'],
    ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] as string }),
    ...(values['secret-key'] === undefined ? {} : { secretKey: values['secret-key'] as string }),
  });
  process.stdout.write(
    `export CLOUDSTACK_API_URL=${shellQuote(handle.url)}\n` +
      `export CLOUDSTACK_API_KEY=${shellQuote(handle.apiKey)}\n` +
      `export CLOUDSTACK_SECRET_KEY=${shellQuote(handle.secretKey)}\n`,
  );
  process.stderr.write(
    `simulator: ${state.networks.length} networks, ${state.virtualMachines.length} VMs, ` +
      `${state.publicIpAddresses.length} public IPs (${isolation}) at ${handle.url}; pid ${process.pid}\n`,
  );
  const shutdown = () => {
    void handle.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`simulator failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
