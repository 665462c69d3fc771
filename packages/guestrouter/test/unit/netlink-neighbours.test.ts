import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { findNeighbour } from '../../src/metadata/identity.js';
import { NeighbourTable } from '../../src/metadata/lean-responder.js';
import { namespaceOfArpPath, neighAddon } from '../../src/metadata/netlink-neighbours.js';
import { NetnsLab } from '../helpers/netns.js';

test('the namespace of a neighbour table path', () => {
  assert.equal(namespaceOfArpPath('/proc/net/arp'), null);
  assert.equal(namespaceOfArpPath('/proc/4242/net/arp'), '/proc/4242/ns/net');
  assert.equal(namespaceOfArpPath('/tmp/arp'), undefined);
});

// The addon is built by `make build` (a C compiler is in the test dependencies); without it the
// identity check reads /proc/net/arp, which the other identity tests cover.
describe('neighbour lookups over netlink in another namespace', { skip: neighAddon() === null }, () => {
  const lab = new NetnsLab();
  let ns = '';
  let holder: ChildProcess;
  let arpPath = '';
  const procfsReasons: string[] = [];
  let table: NeighbourTable;

  before(() => {
    ns = lab.add('neigh');
    lab.exec(ns, 'ip', 'link', 'add', 'name', 'guest1', 'type', 'veth', 'peer', 'name', 'guest1p');
    lab.exec(ns, 'ip', 'link', 'set', 'guest1', 'up');
    lab.exec(ns, 'ip', 'neigh', 'add', '10.5.0.10', 'lladdr', '02:00:00:00:00:0a', 'dev', 'guest1');
    lab.exec(ns, 'ip', 'neigh', 'add', '10.5.0.11', 'dev', 'guest1', 'nud', 'incomplete');
    // A process inside the namespace, as the binder is: its /proc/PID/net/arp names the namespace.
    holder = spawn('ip', ['netns', 'exec', ns, 'sleep', '600'], { stdio: 'ignore' });
    arpPath = `/proc/${holder.pid}/net/arp`;
    table = new NeighbourTable(
      () => arpPath,
      (reason) => procfsReasons.push(reason),
    );
  });
  after(() => {
    table.close();
    holder.kill('SIGKILL');
    lab.cleanup();
  });

  const lookup = (address: string, dev: string) => table.after(performance.now())(address, dev);
  const procfs = (address: string, dev: string) =>
    findNeighbour(Buffer.from(lab.exec(ns, 'cat', '/proc/net/arp')), address, dev);

  test('complete, incomplete, missing entries and unknown links, as /proc/net/arp tells them', async () => {
    // `ip netns exec` has to have switched the holder into the namespace before its path means it.
    for (let i = 0; i < 50 && procfs('10.5.0.10', 'guest1') === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const [address, dev] of [
      ['10.5.0.10', 'guest1'],
      ['10.5.0.11', 'guest1'],
      ['10.5.0.12', 'guest1'],
      ['10.5.0.10', 'nosuchlink'],
    ] as const) {
      assert.deepEqual(lookup(address, dev), procfs(address, dev), `${address} on ${dev}`);
    }
    assert.deepEqual(lookup('10.5.0.10', 'guest1'), { mac: '02:00:00:00:00:0a', dev: 'guest1' });
    assert.equal(table.method, 'netlink');
    assert.deepEqual(procfsReasons, []);
  });

  test('an address taken over by another MAC is seen at the next lookup, not a cached one', () => {
    assert.equal(lookup('10.5.0.10', 'guest1')?.mac, '02:00:00:00:00:0a');
    lab.exec(ns, 'ip', 'neigh', 'replace', '10.5.0.10', 'lladdr', '02:00:00:00:00:99', 'dev', 'guest1');
    assert.equal(lookup('10.5.0.10', 'guest1')?.mac, '02:00:00:00:00:99');
  });

  test('a link deleted and created again under the same name is found under its new index', () => {
    lab.exec(ns, 'ip', 'link', 'del', 'guest1');
    assert.equal(lookup('10.5.0.10', 'guest1'), undefined, 'link gone');
    lab.exec(ns, 'ip', 'link', 'add', 'name', 'guest1', 'type', 'veth', 'peer', 'name', 'guest1p');
    lab.exec(ns, 'ip', 'link', 'set', 'guest1', 'up');
    lab.exec(ns, 'ip', 'neigh', 'add', '10.5.0.10', 'lladdr', '02:00:00:00:00:0b', 'dev', 'guest1');
    assert.deepEqual(lookup('10.5.0.10', 'guest1'), { mac: '02:00:00:00:00:0b', dev: 'guest1' });
    assert.deepEqual(procfsReasons, []);
  });

  test('a namespace that cannot be entered falls back to /proc/net/arp and says why', () => {
    const reasons: string[] = [];
    const gone = new NeighbourTable(
      () => '/proc/999999999/net/arp',
      (reason) => reasons.push(reason),
    );
    // Neither netlink nor the file: nobody is vouched for, and the server carries on.
    assert.equal(gone.after(performance.now())('10.5.0.10', 'guest1'), undefined);
    assert.equal(gone.after(performance.now())('10.5.0.10', 'guest1'), undefined);
    assert.equal(gone.method, 'procfs');
    assert.equal(reasons.length, 2, reasons.join('; '));
    assert.match(reasons[0] ?? '', /netlink socket not opened/);
    assert.match(reasons[1] ?? '', /reading \/proc\/999999999\/net\/arp failed/);
    gone.close();
  });
});
