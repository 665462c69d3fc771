import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseUserDataDetails } from '../../src/cloudstack/inventory.js';
import { parseConfig } from '../../src/config/load.js';
import { desiredState } from '../../src/desired/desired.js';
import type { Inventory } from '../../src/inventory/types.js';
import type { CurrentState } from '../../src/kernel/types.js';
import { routeMetadata } from '../../src/metadata/http.js';
import { checkIdentity, findNeighbour, plainIpv4 } from '../../src/metadata/identity.js';
import { indexKeyPairs, KeyPairDirectory, publicKeysFor } from '../../src/metadata/keypairs.js';
import { NeighbourTable } from '../../src/metadata/lean-responder.js';
import { passwordExchange } from '../../src/metadata/password.js';
import { generatePassword, PasswordStore } from '../../src/metadata/password-store.js';
import { buildRecords, metaDataFor, type VmRecord } from '../../src/metadata/records.js';
import { decodeUserData, pickFetches, UserDataCache } from '../../src/metadata/userdata.js';
import { diff } from '../../src/plan/diff.js';
import { renderDhcp } from '../../src/services/dhcp.js';
import { servingNetworks } from '../../src/services/serving.js';
import { guestNetwork, inventoryOf } from '../helpers/inventory.js';

function desiredOf(inventory: Inventory) {
  const config = parseConfig({});
  return desiredState(inventory, {
    trunk: 'eth1',
    uplink: 'eth0',
    vxlan: config.vxlan,
    selection: config.networks,
    publicRouting: true,
  });
}

const vm: VmRecord = {
  vmId: 'c0000000-0000-4000-8000-000000000001',
  vmName: 'web-1',
  ip: '10.0.1.10',
  mac: '02:00:00:00:00:0a',
  link: 'vxlan5001',
  gateway: '10.0.1.1',
  metaData: [
    ['local-ipv4', '10.0.1.10'],
    ['instance-id', 'c0000000-0000-4000-8000-000000000001'],
  ],
  userData: Buffer.from('#cloud-config\n'),
};

describe('meta data HTTP routing (the Virtual Router paths)', () => {
  test('user data with and without the trailing slash; 404 when the VM has none', () => {
    for (const path of ['/latest/user-data', '/latest/user-data/']) {
      const a = routeMetadata('GET', path, vm);
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), '#cloud-config\n');
    }
    assert.equal(routeMetadata('GET', '/latest/user-data', { ...vm, userData: null }).status, 404);
  });

  test('the index lists exactly the keys served, one per line, and each key is served', () => {
    for (const path of ['/latest/meta-data/', '/latest/meta-data']) {
      assert.equal(routeMetadata('GET', path, vm).body, 'local-ipv4\ninstance-id\n');
    }
    assert.equal(routeMetadata('GET', '/latest/meta-data/local-ipv4', vm).body, '10.0.1.10');
    assert.equal(routeMetadata('GET', '/latest/meta-data/instance-id/', vm).body, vm.vmId);
    assert.equal(routeMetadata('GET', '/latest/instance-id', vm).body, vm.vmId);
    assert.equal(routeMetadata('GET', '/latest/meta-data/public-keys', vm).status, 404);
    assert.equal(routeMetadata('GET', '/latest/meta-data/local-ipv4?x=1', vm).status, 200);
  });

  test('an address that is no served VM gets 404 everywhere, as on the Virtual Router', () => {
    for (const path of ['/latest/user-data', '/latest/meta-data/', '/latest/meta-data/instance-id']) {
      assert.equal(routeMetadata('GET', path, undefined).status, 404, path);
    }
  });

  test('a VM whose user data is not fetched yet gets 503 (cloud-init retries), never 404', () => {
    const pending = { ...vm, userData: undefined };
    assert.equal(routeMetadata('GET', '/latest/user-data', pending).status, 503);
    assert.equal(routeMetadata('GET', '/latest/meta-data/instance-id', pending).status, 503);
  });

  test('traversal and encoded paths are 400, unknown paths 404, directories 403, other methods 405', () => {
    for (const path of [
      '/latest/meta-data/../user-data',
      '/latest/meta-data/%2e%2e/x',
      '/latest//user-data',
      '/../../etc/passwd',
      'latest/user-data',
      '/latest/meta-data/\\x',
    ]) {
      assert.equal(routeMetadata('GET', path, vm).status, 400, path);
    }
    assert.equal(routeMetadata('GET', '/latest/meta-data/local-ipv4/x', vm).status, 404);
    assert.equal(routeMetadata('GET', '/2009-04-04/meta-data/', vm).status, 404);
    assert.equal(routeMetadata('GET', '/latest/nothing', vm).status, 404);
    assert.equal(routeMetadata('GET', '/', vm).status, 403);
    assert.equal(routeMetadata('GET', '/latest/', vm).status, 403);
    assert.equal(routeMetadata('POST', '/latest/user-data', vm).status, 405);
  });
});

describe('password protocol', () => {
  test('send_my_password gives the pending password, or saved_password without one', () => {
    assert.deepEqual(passwordExchange('send_my_password', 'pw1'), { body: 'pw1', result: 'sent' });
    assert.deepEqual(passwordExchange('send_my_password', undefined), {
      body: 'saved_password',
      result: 'none',
    });
  });
  test('saved_password acknowledges; anything else is bad_request', () => {
    assert.equal(passwordExchange('saved_password', 'pw1').result, 'acknowledged');
    assert.equal(passwordExchange('saved_password', undefined).body, 'saved_password');
    assert.equal(passwordExchange('give_me_all', 'pw1').body, 'bad_request');
    assert.equal(passwordExchange(undefined, 'pw1').body, 'bad_request');
  });
});

describe('identity check', () => {
  const arpText = [
    'IP address       HW type     Flags       HW address            Mask     Device',
    '10.0.1.10        0x1         0x2         02:00:00:00:00:0A     *        vxlan5001',
    '10.0.1.11        0x1         0x0         00:00:00:00:00:00     *        vxlan5001',
    '10.0.1.12        0x1         0x2         02:00:00:00:00:99     *        vxlan5001',
    '10.0.1.10        0x1         0x2         02:00:00:00:00:77     *        vxlan5002',
    '10.0.1.1         0x1         0x2         02:00:00:00:00:55     *        vxlan5001',
    '',
  ].join('\n');
  const arp = (address: string, dev: string) => findNeighbour(Buffer.from(arpText), address, dev);
  test('a neighbour entry is found by address and link, never by a prefix of another address', () => {
    assert.deepEqual(arp('10.0.1.10', 'vxlan5001'), { mac: '02:00:00:00:00:0a', dev: 'vxlan5001' });
    assert.deepEqual(arp('10.0.1.10', 'vxlan5002'), { mac: '02:00:00:00:00:77', dev: 'vxlan5002' });
    assert.deepEqual(arp('10.0.1.1', 'vxlan5001'), { mac: '02:00:00:00:00:55', dev: 'vxlan5001' });
    assert.equal(arp('10.0.1.11', 'vxlan5001'), undefined, 'incomplete');
    assert.equal(arp('10.0.1.1', 'vxlan5003'), undefined);
    assert.equal(arp('10.0.1.2', 'vxlan5001'), undefined);
  });
  test('only the first `length` bytes of the buffer are the table (the rest is an older, longer read)', () => {
    const stale = Buffer.from(arpText);
    const cut = arpText.indexOf('10.0.1.12');
    assert.deepEqual(findNeighbour(stale, '10.0.1.10', 'vxlan5001', cut), {
      mac: '02:00:00:00:00:0a',
      dev: 'vxlan5001',
    });
    assert.equal(findNeighbour(stale, '10.0.1.12', 'vxlan5001', cut), undefined);
    assert.equal(findNeighbour(stale, '10.0.1.10', 'vxlan5002', cut), undefined);
  });
  const records = new Map([
    [vm.ip, vm],
    ['10.0.1.12', { ...vm, ip: '10.0.1.12', mac: '02:00:00:00:00:0c' }],
    ['10.0.1.11', { ...vm, ip: '10.0.1.11', mac: '02:00:00:00:00:0b' }],
  ]);
  test('the NIC address with its MAC on its link, sent to its gateway, is the VM', () => {
    const v = checkIdentity('10.0.1.10', '10.0.1.1', records, arp);
    assert.equal(v.ok, true);
  });
  test('another MAC behind the address, an incomplete entry, another gateway or address: refused', () => {
    assert.deepEqual(checkIdentity('10.0.1.12', '10.0.1.1', records, arp), {
      ok: false,
      reason: 'wrong-mac',
    });
    assert.deepEqual(checkIdentity('10.0.1.11', '10.0.1.1', records, arp), {
      ok: false,
      reason: 'no-neighbour',
    });
    assert.deepEqual(checkIdentity('10.0.1.10', '10.0.2.1', records, arp), {
      ok: false,
      reason: 'wrong-gateway',
    });
    assert.deepEqual(checkIdentity('10.0.1.99', '10.0.1.1', records, arp), {
      ok: false,
      reason: 'unknown-address',
    });
    const elsewhere = new Map([[vm.ip, { ...vm, link: 'vxlan5002' }]]);
    assert.equal(checkIdentity('10.0.1.10', '10.0.1.1', elsewhere, arp).ok, false);
  });
  test('the table file is read again for each later connection, growing past its buffer and shrinking', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gr-neigh-'));
    try {
      const header = 'IP address       HW type     Flags       HW address            Mask     Device\n';
      const line = (n: number, mac: string) =>
        `10.1.${n >> 8}.${n & 255}`.padEnd(17) + `0x1         0x2         ${mac}     *        vxlan5001\n`;
      const many = Array.from({ length: 2000 }, (_, n) => line(n, '02:00:00:00:00:01')).join('');
      const file = join(dir, 'arp');
      writeFileSync(file, header + many);
      const table = new NeighbourTable(() => file);
      // 2,000 lines are about 160 KiB: more than the first buffer.
      // Connections are stamped with performance.now() when accepted; the table is read again for any
      // connection accepted after its last read, and shared by those accepted before it.
      const acceptedFirst = performance.now();
      assert.equal(table.after(acceptedFirst)('10.1.7.207', 'vxlan5001')?.mac, '02:00:00:00:00:01');
      // Rewritten in place (as the kernel's table changes), shorter: the new MAC, and nothing of the old tail.
      writeFileSync(file, header + line(0, '02:00:00:00:00:02'));
      assert.equal(
        table.after(acceptedFirst)('10.1.0.0', 'vxlan5001')?.mac,
        '02:00:00:00:00:01',
        'same batch',
      );
      const fresh = table.after(performance.now());
      assert.equal(fresh('10.1.0.0', 'vxlan5001')?.mac, '02:00:00:00:00:02');
      assert.equal(fresh('10.1.7.207', 'vxlan5001'), undefined);
      table.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('dual-stack peer addresses are read as IPv4', () => {
    assert.equal(plainIpv4('::ffff:10.0.1.10'), '10.0.1.10');
  });
});

describe('records from the inventory', () => {
  test('meta data in the Virtual Router order, without keys that cannot be served', () => {
    const n = guestNetwork(1);
    const inventory = inventoryOf([n], 1);
    const nic = {
      ...(inventory.nics[0] as Inventory['nics'][number]),
      zoneName: 'zone1',
      hypervisorHost: 'kvm-1',
    };
    const { records } = buildRecords(
      desiredOf(inventory),
      { ...inventory, nics: [nic], publicIps: [{ id: 'p', address: '198.18.0.5', vmId: nic.vmId }] },
      () => null,
      { cloudIdentifier: 'abc' },
    );
    const r = records.get(nic.ipAddress);
    assert.ok(r);
    assert.equal(r.link, 'vxlan5001');
    assert.equal(r.gateway, n.gateway);
    assert.deepEqual(
      r.metaData.map(([k]) => k),
      [
        'availability-zone',
        'local-ipv4',
        'local-hostname',
        'public-ipv4',
        'public-hostname',
        'instance-id',
        'vm-id',
        'cloud-identifier',
        'hypervisor-host-name',
      ],
    );
    assert.deepEqual(Object.fromEntries(r.metaData)['public-ipv4'], '198.18.0.5');
    assert.deepEqual(Object.fromEntries(r.metaData)['cloud-identifier'], 'CloudStack-{abc}');
  });
  test('NICs of networks not served get no record', () => {
    const inventory = inventoryOf([guestNetwork(1, { cidr: '10.0.1.0/24', gateway: '10.0.9.1' })], 1);
    assert.equal(buildRecords(desiredOf(inventory), inventory, () => null).records.size, 0);
  });
});

describe('user data fetching', () => {
  test('new VMs first, then the oldest stale ones, within the budget', () => {
    const cache = new Map([
      ['a', { data: null, fetchedAt: 100 }],
      ['b', { data: null, fetchedAt: 50 }],
      ['c', { data: null, fetchedAt: 990 }],
    ]);
    assert.deepEqual(pickFetches(['a', 'b', 'c', 'd', 'e'], cache, 1000, { maxPerCycle: 3, maxAgeMs: 500 }), [
      'd',
      'e',
      'b',
    ]);
    assert.deepEqual(pickFetches(['a', 'b', 'c'], cache, 1000, { maxPerCycle: 10, maxAgeMs: 500 }), [
      'b',
      'a',
    ]);
  });
  test('a cycle at 10,000 VMs makes at most the budget of calls, concurrently bounded', async () => {
    let inFlight = 0;
    let peak = 0;
    let calls = 0;
    const cache = new UserDataCache(
      async () => {
        calls++;
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        return Buffer.from('x');
      },
      { maxPerCycle: 200, maxAgeMs: 3_600_000 },
      4,
    );
    const ids = Array.from({ length: 10_000 }, (_, i) => `vm-${i}`);
    const r = await cache.refresh(ids);
    assert.equal(r.fetched, 200);
    assert.equal(calls, 200);
    assert.equal(peak, 4);
    assert.equal(cache.size, 200);
    await cache.refresh(ids.slice(0, 10));
    assert.equal(cache.size, 10, 'VMs gone from the inventory are dropped');
  });
  test('a failed fetch leaves the VM unfetched and is reported', async () => {
    const cache = new UserDataCache(
      async () => Promise.reject(new Error('boom')),
      { maxPerCycle: 5, maxAgeMs: 0 },
      2,
    );
    const r = await cache.refresh(['a']);
    assert.equal(r.failed, 1);
    assert.equal(cache.get('a'), undefined);
  });
  test('base64 decoding; absent means none', () => {
    assert.equal(decodeUserData('I2Nsb3VkLWNvbmZpZwo=')?.toString(), '#cloud-config\n');
    assert.equal(decodeUserData(undefined), null);
    assert.throws(() => decodeUserData('not base64!'));
  });
});

describe('password store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-pw-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  test('mode 0600 in a 0700 directory, read back, deleted, expired after the TTL', async () => {
    const store = new PasswordStore(join(dir, 'passwords'), 60_000);
    await store.put('vm-1', 'secret1');
    assert.equal(statSync(join(dir, 'passwords', 'vm-1')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'passwords')).mode & 0o777, 0o700);
    assert.equal(await store.get('vm-1'), 'secret1');
    assert.equal(await store.sweep(), 1);
    await store.delete('vm-1');
    assert.equal(await store.get('vm-1'), undefined);
    await store.put('vm-2', 'secret2');
    const old = new Date(Date.now() - 120_000);
    utimesSync(join(dir, 'passwords', 'vm-2'), old, old);
    assert.equal(await store.get('vm-2'), undefined);
    assert.equal(await store.sweep(), 0);
  });
  test('a pending password survives a restart (a new store on the same directory)', async () => {
    await new PasswordStore(join(dir, 'passwords'), 60_000).put('vm-3', 'secret3');
    assert.equal(await new PasswordStore(join(dir, 'passwords'), 60_000).get('vm-3'), 'secret3');
  });
  test('a VM id that is not a plain id never becomes a path', async () => {
    const store = new PasswordStore(join(dir, 'passwords'), 60_000);
    await assert.rejects(store.put('../x', 'p'), /not a VM id/);
    await assert.rejects(store.get('a/b'), /not a VM id/);
  });
  test('generated passwords are long and differ', () => {
    const a = generatePassword();
    assert.equal(a.length, 20);
    assert.notEqual(a, generatePassword());
  });
});

describe('data-server in dnsmasq', () => {
  test("each served network's gateway answers data-server (localise-queries)", () => {
    const inventory = inventoryOf([guestNetwork(1), guestNetwork(2)], 1);
    const desired = desiredOf(inventory);
    const current: CurrentState = { links: new Map(), sysctls: new Map(), proxyNeighbours: [] };
    const plan = diff(desired, current, { trunk: 'eth1', uplink: 'eth0' });
    const r = renderDhcp(servingNetworks(inventory, desired, current, plan), inventory, {
      hostsFile: '/h',
      pidFile: '/p',
      leaseTime: '1h',
      dns: { hostsFile: '/d', upstream: [] },
      dataServer: true,
    });
    assert.ok(r.conf.split('\n').includes('localise-queries'));
    assert.ok(r.dnsHosts.includes('10.0.1.1 data-server\n'));
    assert.ok(r.dnsHosts.includes('10.0.2.1 data-server\n'));
  });
});

describe('public-keys and user data variables (as the Virtual Router lists them)', () => {
  const nic = {
    vmId: 'v1',
    vmName: 'web-1',
    hostname: 'web-1',
    networkId: 'n1',
    macAddress: '02:00:00:00:00:0a',
    ipAddress: '10.0.1.10',
    isDefault: true,
  };

  test('userdatadetails is split as the management server splits it for the router', () => {
    assert.deepEqual(parseUserDataDetails('{variable1=value1, key2=a=b,  broken, =x}'), [
      ['variable1', 'value1'],
      ['key2', 'a=b'],
    ]);
    assert.deepEqual(parseUserDataDetails(undefined), []);
    assert.deepEqual(parseUserDataDetails('{}'), []);
  });

  test('key pairs are found under their owner only, in the VM order, one key per line', () => {
    const index = indexKeyPairs([
      { name: 'alice', account: 'acct', domainid: 'd1', publickey: 'ssh-ed25519 AAAA alice\n' },
      { name: 'bob', account: 'acct', domainid: 'd1', publickey: 'ssh-rsa BBBB bob' },
      { name: 'alice', account: 'other', domainid: 'd1', publickey: 'ssh-ed25519 CCCC mallory' },
      { name: 'proj', projectid: 'p1', account: 'PrjAcct-x', domainid: 'd1', publickey: 'ssh-ed25519 PPPP' },
      { name: 'old', account: 'acct', domainid: 'd1' },
    ]);
    const owner = { account: 'acct', domainId: 'd1' };
    assert.equal(
      publicKeysFor({ ...nic, keyPairs: ['bob', 'alice'], owner }, index),
      'ssh-rsa BBBB bob\nssh-ed25519 AAAA alice',
    );
    assert.equal(publicKeysFor({ ...nic, keyPairs: ['old', 'gone'], owner }, index), undefined);
    assert.equal(
      publicKeysFor({ ...nic, keyPairs: ['proj'], owner: { projectId: 'p1' } }, index),
      'ssh-ed25519 PPPP',
    );
    assert.equal(publicKeysFor({ ...nic, keyPairs: ['alice'] }, index), undefined, 'no owner, no key');
    assert.equal(publicKeysFor({ ...nic, publicKeys: ['ssh-ed25519 GIVEN'] }, index), 'ssh-ed25519 GIVEN');
  });

  test('the index lists public-keys only with keys, and variables after local-hostname, never twice', () => {
    const withKeys = metaDataFor(
      {
        ...nic,
        userDataDetails: [
          ['variable1', 'v1'],
          ['instance-id', 'spoof'],
          ['bad/name', 'x'],
          ['variable1', 'again'],
          ['empty', ''],
        ],
      },
      undefined,
      {},
      'ssh-ed25519 AAAA',
    );
    assert.deepEqual(
      withKeys.map(([k]) => k),
      [
        'local-ipv4',
        'local-hostname',
        'variable1',
        'public-ipv4',
        'public-hostname',
        'instance-id',
        'vm-id',
        'public-keys',
      ],
    );
    assert.equal(Object.fromEntries(withKeys)['instance-id'], 'v1');
    assert.equal(Object.fromEntries(withKeys)['public-keys'], 'ssh-ed25519 AAAA');
    assert.equal(
      metaDataFor(nic, undefined, {}).some(([k]) => k === 'public-keys'),
      false,
    );
    const record: VmRecord = { ...vm, metaData: withKeys };
    assert.equal(routeMetadata('GET', '/latest/meta-data/public-keys', record).body, 'ssh-ed25519 AAAA');
    assert.equal(routeMetadata('GET', '/latest/public-keys', record).body, 'ssh-ed25519 AAAA');
    assert.equal(routeMetadata('GET', '/latest/meta-data/variable1', record).body, 'v1');
    assert.equal(routeMetadata('GET', '/latest/meta-data/public-keys', vm).status, 404);
  });

  test('the key pair directory reads only while a VM names a key pair, and keeps its index on a failure', async () => {
    let calls = 0;
    let fail = false;
    const dir = new KeyPairDirectory(async () => {
      calls++;
      if (fail) throw new Error('HTTP 530');
      return [{ name: 'alice', account: 'a', domainid: 'd', publickey: 'ssh-ed25519 AAAA' }];
    });
    assert.deepEqual(await dir.refresh([nic]), { keys: 0 });
    assert.equal(calls, 0);
    const named = { ...nic, keyPairs: ['alice'], owner: { account: 'a', domainId: 'd' } };
    assert.deepEqual(await dir.refresh([named]), { keys: 1 });
    fail = true;
    assert.deepEqual(await dir.refresh([named]), { keys: 1, error: 'HTTP 530' });
    assert.equal(publicKeysFor(named, dir.current), 'ssh-ed25519 AAAA');
  });
});
