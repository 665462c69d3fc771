import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import type { CurrentState } from '../../src/kernel/types.js';
import { diff } from '../../src/plan/diff.js';
import { formatStatus, mapBounded, networkStatus } from '../../src/status/status.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

describe('status', () => {
  test('pings only Running VMs of links that are up, and reports refused networks with why', async () => {
    const ok = guestNetwork(1);
    const broken = guestNetwork(2, { gateway: '10.9.9.9' });
    const base = inventoryOf([ok, broken], 2);
    const nics = base.nics.map((nic, i) =>
      i === 1 ? { ...nic, state: 'Stopped' } : { ...nic, state: 'Running' },
    );
    const inventory = { ...base, nics };
    const options = {
      trunk: 'eth1',
      uplink: 'eth0',
      vxlan: parseConfig({}).vxlan,
      selection: parseConfig({}).networks,
      publicRouting: true,
    };
    const desired = desiredState(inventory, options);
    const current: CurrentState = {
      links: new Map([
        ['eth1', { name: 'eth1', up: true, addresses: [] }],
        [
          'vxlan5001',
          { name: 'vxlan5001', up: true, addresses: ['10.0.1.1/24'], alias: 'guestrouter:net-1' },
        ],
      ]),
      sysctls: new Map(),
      proxyNeighbours: [],
    };
    const plan = diff(desired, current, options);
    const pinged: string[] = [];
    const rows = await networkStatus(
      inventory,
      desired,
      current,
      plan,
      async (ip) => {
        pinged.push(ip);
        return ip.endsWith('.10');
      },
      4,
    );
    assert.deepEqual(pinged, ['10.0.1.10']);
    assert.equal(rows[0]?.interface, 'vxlan5001');
    assert.deepEqual(
      rows[0]?.vms.map((vm) => vm.reachable),
      [true, null],
    );
    assert.match(rows[1]?.refused ?? '', /gateway 10\.9\.9\.9 is outside/);
    const text = formatStatus(rows);
    assert.match(text, /vm-11 10\.0\.1\.11 .* not checked \(Stopped\)/);
    assert.match(text, /tenant-2 \(net-2\) - refused/);
    assert.match(text, /not checked \(network refused\)/);
    assert.match(
      text,
      /^2 networks: 1 up, 0 down, 0 absent, 1 refused; \d+ VMs: 1 answer, 0 no answer, \d+ not checked$/m,
    );
  });

  test('mapBounded keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapBounded([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, n * 3));
      running--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30]);
    assert.equal(peak, 2);
  });
});
