import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CloudStackApiError } from '../../src/cloudstack/errors.js';
import { deployVirtualMachine, fetchUserData } from '../../src/cloudstack/vm.js';
import { FIXTURE_ZONE_ID, generateSimState, networkId, vmId } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';
import { clientFor, rejection } from './helpers.js';

describe('per-VM calls against the simulator', () => {
  let sim: SimulatorHandle;
  before(async () => {
    const state = generateSimState({ networks: 1, vmsPerNetwork: 2, isolation: 'vxlan' });
    state.userData = { [vmId(1, 1)]: Buffer.from('#cloud-config\nhostname: a\n').toString('base64') };
    state.templates = [
      { id: 'tmpl-pw', name: 'debian-pw', passwordenabled: true },
      { id: 'tmpl-plain', name: 'debian', passwordenabled: false },
    ];
    sim = await startSimulator({ state });
  });
  after(() => sim.stop());

  test('getVirtualMachineUserData: the decoded bytes, null without user data, an error for an unknown VM', async () => {
    const { client } = clientFor(sim, { retries: 0 });
    assert.equal((await fetchUserData(client, vmId(1, 1)))?.toString(), '#cloud-config\nhostname: a\n');
    assert.equal(await fetchUserData(client, vmId(1, 2)), null);
    const err = await rejection(() => fetchUserData(client, 'nope'));
    assert.ok(err instanceof CloudStackApiError);
    assert.equal(err.errorCode, 431);
  });

  test('deployVirtualMachine waits on queryAsyncJobResult and returns the VM with its password', async () => {
    const { client } = clientFor(sim, { retries: 0 });
    const polls: number[] = [];
    const vm = await deployVirtualMachine(
      client,
      {
        zoneid: FIXTURE_ZONE_ID,
        templateid: 'tmpl-pw',
        serviceofferingid: 'so-1',
        networkids: networkId(1),
        name: 'new-1',
        userdata: Buffer.from('hi').toString('base64'),
      },
      { pollMs: 10, onProgress: (_ms, job) => polls.push(job.jobstatus) },
    );
    assert.deepEqual(polls, [0, 1]);
    assert.equal(vm.name, 'new-1');
    assert.equal(vm.passwordenabled, true);
    assert.ok(typeof vm.password === 'string' && vm.password.length > 8);
    assert.equal(vm.nic?.[0]?.ipaddress, '192.0.2.4');
    assert.equal((await fetchUserData(client, vm.id))?.toString(), 'hi');
    const plain = await deployVirtualMachine(
      client,
      {
        zoneid: FIXTURE_ZONE_ID,
        templateid: 'tmpl-plain',
        serviceofferingid: 'so-1',
        networkids: networkId(1),
      },
      { pollMs: 10 },
    );
    assert.equal(plain.password, undefined);
  });

  test('a refused deployment is an error naming the parameter', async () => {
    const { client } = clientFor(sim, { retries: 0 });
    const err = await rejection(() =>
      deployVirtualMachine(client, {
        zoneid: FIXTURE_ZONE_ID,
        templateid: 'nope',
        serviceofferingid: 'so-1',
      }),
    );
    assert.ok(err instanceof CloudStackApiError);
    assert.match(err.message, /templateid/);
  });
});
