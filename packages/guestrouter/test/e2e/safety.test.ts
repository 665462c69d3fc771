import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { networkIdFromMark } from '../../src/desired/types.js';
import { parseLinks } from '../../src/kernel/parse.js';
import { routerArgs, runCli, simulatorEnv, TempConfig } from '../helpers/cli.js';
import { ip } from '../helpers/netns.js';
import { RouterLab } from '../helpers/topology.js';
import { generateSimState } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

/*
 * A bad inventory never harms a network that works: short and missing pages, and an inventory
 * that really lost most networks, against a router namespace holding eight served networks.
 */
describe('a bad inventory tears nothing down', { timeout: 180_000 }, () => {
  const topo = new RouterLab('s');
  let sim: SimulatorHandle;
  let config: TempConfig;
  const env = () => simulatorEnv(sim);
  const args = () => routerArgs(topo.router, config.file);
  const marked = () =>
    [...parseLinks(ip('-n', topo.router, '-json', '-details', 'link', 'show')).values()]
      .filter((l) => networkIdFromMark(l.alias) !== undefined)
      .map((l) => l.name)
      .sort();
  const all = [
    'vxlan5001',
    'vxlan5002',
    'vxlan5003',
    'vxlan5004',
    'vxlan5005',
    'vxlan5006',
    'vxlan5007',
    'vxlan5008',
  ];

  before(async () => {
    config = new TempConfig('gr-safety-');
    config.write({
      cloudstack: { retries: 0, timeoutMs: 3000, pageSize: 3 },
      stateDir: join(config.dir, 'state'),
    });
    topo.build([]);
    sim = await startSimulator({
      state: generateSimState({ networks: 8, vmsPerNetwork: 1, isolation: 'vxlan' }),
      host: '127.0.0.1',
      port: 0,
    });
    const first = await runCli(['apply', ...args()], env());
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(marked(), all);
  });

  after(async () => {
    topo.cleanup();
    await sim.stop();
    config.remove();
  });

  test('a listNetworks page short of its count: plan prints no deletion, apply and run --once fail and delete nothing', async () => {
    // pageSize 3: pages of 3, 3, 2; the third comes back with one network less.
    sim.failNext(1, 'shortPage', 'listNetworks', 2);
    const plan = await runCli(['plan', ...args()], env());
    assert.equal(plan.code, 1);
    assert.match(plan.stderr, /listNetworks: incomplete list: received 7 of the 8 items/);
    assert.equal(plan.stdout, '', 'no command printed, least of all a link del');
    sim.failNext(1, 'shortPage', 'listNetworks', 2);
    const apply = await runCli(['apply', ...args()], env());
    assert.equal(apply.code, 1);
    assert.match(apply.stderr, /incomplete list/);
    assert.deepEqual(marked(), all);
    sim.failNext(1, 'shortPage', 'listNetworks', 2);
    const once = await runCli(['run', '--once', ...args()], env());
    assert.equal(once.code, 1);
    assert.match(once.stderr, /"level":"error".*inventory fetch failed/);
    // The contract's log lines: JSON on stderr (not a terminal here), level words, ISO time.
    assert.match(once.stderr, /^\{"level":"\w+","time":"\d{4}-\d\d-\d\dT[\d:.]+Z","name":"guestrouter"/m);
    assert.deepEqual(marked(), all);
  });

  test('a missing page (count, no items) fails the cycle and deletes nothing', async () => {
    sim.failNext(1, 'missingPage', 'listNetworks', 1);
    const once = await runCli(['run', '--once', ...args()], env());
    assert.equal(once.code, 1);
    assert.match(once.stderr, /the page came back without items after 3 of 8/);
    assert.deepEqual(marked(), all);
  });

  test('more removals than the budget: nothing is deleted until the operator confirms with --allow-deletes', async () => {
    const removed = sim.state.networks.splice(1, 6); // keeps networks 1 and 8
    try {
      const plan = await runCli(['plan', ...args()], env());
      assert.equal(plan.code, 0, plan.stderr);
      assert.doesNotMatch(plan.stdout, /link del/);
      assert.match(plan.stderr, /refusing to delete 6 networks in one cycle \(limit 5\)/);
      const once = await runCli(['run', '--once', ...args()], env());
      assert.equal(once.code, 1);
      assert.match(once.stderr, /"level":"error"[^\n]*"event":"deletion-budget"/);
      assert.deepEqual(marked(), all);
      const apply = await runCli(['apply', ...args()], env());
      assert.equal(apply.code, 1);
      assert.match(apply.stderr, /confirm with `guestrouter apply --allow-deletes 6`/);
      assert.deepEqual(marked(), all);
      const confirmed = await runCli(['apply', '--allow-deletes', '6', ...args()], env());
      assert.equal(confirmed.code, 0, confirmed.stderr);
      assert.deepEqual(marked(), ['vxlan5001', 'vxlan5008']);
    } finally {
      sim.state.networks.splice(1, 0, ...removed);
    }
  });
});
