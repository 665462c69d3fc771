import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { buildSignedQuery, signRequest } from '../../src/cloudstack/signing.js';
import { generateSimState, vmMac } from '../simulator/fixtures.js';
import { type SimulatorHandle, startSimulator } from '../simulator/server.js';

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

describe('CloudStack API simulator', () => {
  let sim: SimulatorHandle;

  before(async () => {
    sim = await startSimulator({
      state: generateSimState({ networks: 3, vmsPerNetwork: 2, isolation: 'vlan' }),
      apiKey: 'gc-key',
      secretKey: 'gc-secret',
    });
  });
  after(async () => {
    await sim.stop();
  });

  function signed(command: string, params: Record<string, string> = {}, secretKey = 'gc-secret'): string {
    const query = buildSignedQuery({
      command,
      params,
      apiKey: 'gc-key',
      secretKey,
      expires: new Date(Date.now() + 60_000),
    });
    return `${sim.url}?${query}`;
  }

  test('lists SSH key pairs by owner and project scope, as listSSHKeyPairs does', async () => {
    sim.state.sshKeyPairs = [
      { name: 'laptop', account: 'alice', domainid: 'd1', publickey: 'ssh-ed25519 AAAA alice' },
      { name: 'laptop', account: 'bob', domainid: 'd1', publickey: 'ssh-ed25519 BBBB bob' },
      { name: 'ci', account: 'PrjAcct-p1', domainid: 'd1', projectid: 'p1', publickey: 'ssh-ed25519 PPPP' },
    ];
    const own = await get(signed('listSSHKeyPairs', { listall: 'true', response: 'json' }));
    assert.equal(own.status, 200);
    const body = JSON.parse(own.body).listsshkeypairsresponse;
    assert.equal(body.count, 2);
    assert.deepEqual(
      body.sshkeypair.map((k: { account: string; publickey: string }) => [k.account, k.publickey]),
      [
        ['alice', 'ssh-ed25519 AAAA alice'],
        ['bob', 'ssh-ed25519 BBBB bob'],
      ],
    );
    const alice = await get(
      signed('listSSHKeyPairs', { listall: 'true', account: 'alice', domainid: 'd1', response: 'json' }),
    );
    assert.equal(JSON.parse(alice.body).listsshkeypairsresponse.count, 1);
    const projects = await get(
      signed('listSSHKeyPairs', { listall: 'true', projectid: '-1', response: 'json' }),
    );
    assert.deepEqual(
      JSON.parse(projects.body).listsshkeypairsresponse.sshkeypair.map((k: { name: string }) => k.name),
      ['ci'],
    );
    sim.state.sshKeyPairs = undefined;
  });

  test('answers an unsigned request with CloudStack 401 body under the command response key', async () => {
    const { status, body } = await get(`${sim.url}?command=listZones&response=json`);
    assert.equal(status, 401);
    assert.equal(
      body,
      '{"listzonesresponse":{"uuidList":[],"errorcode":401,"errortext":"unable to verify user credentials and/or request signature"}}',
    );
  });

  test('answers an unknown command with 401 under errorresponse, as the management server does', async () => {
    const { status, body } = await get(signed('listBogus'));
    assert.equal(status, 401);
    assert.match(body, /^\{"errorresponse":\{"uuidList":\[\],"errorcode":401,/);
  });

  test('rejects a signature made with another secret', async () => {
    const { status } = await get(signed('listZones', {}, 'other-secret'));
    assert.equal(status, 401);
  });

  test('rejects a request whose parameters were changed after signing', async () => {
    const url = signed('listNetworks', { listall: 'true' }).replace('listall=true', 'listall=false');
    const { status } = await get(url);
    assert.equal(status, 401);
  });

  test('accepts the legacy and ISO forms of expires, and rejects a past one', async () => {
    const future = new Date(Date.now() + 60_000).toISOString().slice(0, 19);
    for (const [expires, expected] of [
      [`${future}Z`, 200],
      [`${future}+00:00`, 200],
      [`${future}Z+0000`, 200],
      ['2001-01-01T00:00:00+0000', 401],
      ['tomorrow', 401],
    ] as const) {
      // buildSignedQuery always writes its own expires, so these requests are assembled here.
      const params = {
        apiKey: 'gc-key',
        command: 'listZones',
        response: 'json',
        signatureversion: '3',
        expires,
      };
      const signature = signRequest(params, 'gc-secret');
      const query = new URLSearchParams({ ...params, signature }).toString().replace(/\+/g, '%20');
      const { status } = await get(`${sim.url}?${query}`);
      assert.equal(status, expected, `expires=${expires}`);
    }
  });

  test('refuses bad paging parameters with errorcode 431 as CloudStack does', async () => {
    for (const [params, text] of [
      [{ page: '-3' }, /Invalid parameter page value=-3/],
      [{ pagesize: 'abc' }, /Invalid parameter pagesize value=abc/],
      [{ pagesize: '-1', page: '1' }, /Can't specify page parameter when pagesize is -1/],
    ] as const) {
      const { status, body } = await get(signed('listNetworks', params));
      assert.equal(status, 431);
      assert.match(JSON.parse(body).listnetworksresponse.errortext, text);
    }
    const all = JSON.parse((await get(signed('listNetworks', { pagesize: '-1' }))).body);
    assert.equal(all.listnetworksresponse.network.length, 3, 'pagesize -1 lists everything');
  });

  test('serves an empty list as {"<command>response":{}}', async () => {
    const { status, body } = await get(signed('listNetworks', { id: 'none' }));
    assert.equal(status, 200);
    assert.equal(body, '{"listnetworksresponse":{}}');
  });

  test('serves a page past the end with the count and no items', async () => {
    const { body } = await get(signed('listNetworks', { page: '9', pagesize: '2' }));
    assert.deepEqual(JSON.parse(body), { listnetworksresponse: { count: 3 } });
  });

  test('limits an unpaged list to the default page size, as CloudStack does', async () => {
    const small = await startSimulator({
      state: generateSimState({ networks: 5, vmsPerNetwork: 0, isolation: 'vlan' }),
      apiKey: 'gc-key',
      secretKey: 'gc-secret',
      maxPageSize: 2,
    });
    try {
      const query = buildSignedQuery({
        command: 'listNetworks',
        params: {},
        apiKey: 'gc-key',
        secretKey: 'gc-secret',
        expires: new Date(Date.now() + 60_000),
      });
      const body = JSON.parse((await get(`${small.url}?${query}`)).body);
      assert.equal(body.listnetworksresponse.count, 5);
      assert.equal(body.listnetworksresponse.network.length, 2);
    } finally {
      await small.stop();
    }
  });

  test('serves networks, VMs with NICs and zones in the documented field names', async () => {
    const networks = JSON.parse((await get(signed('listNetworks'))).body).listnetworksresponse.network;
    assert.deepEqual(
      Object.keys(networks[0]).filter((k) =>
        [
          'id',
          'name',
          'zoneid',
          'cidr',
          'gateway',
          'netmask',
          'vlan',
          'broadcasturi',
          'service',
          'tags',
        ].includes(k),
      ).length,
      10,
    );
    assert.equal(networks[0].broadcasturi, 'vlan://101');
    const vms = JSON.parse((await get(signed('listVirtualMachines'))).body).listvirtualmachinesresponse
      .virtualmachine;
    assert.equal(vms.length, 6);
    assert.equal(vms[0].nic[0].macaddress, vmMac(1, 1));
    assert.equal(vms[0].nic[0].broadcasturi, 'vlan://101');
    const zones = JSON.parse((await get(signed('listZones'))).body).listzonesresponse;
    assert.equal(zones.count, 1);
  });

  test('hides vlan, broadcasturi and isolationuri from a non-root-admin key', async () => {
    const user = await startSimulator({
      state: generateSimState({ networks: 1, vmsPerNetwork: 1, isolation: 'vlan' }),
      apiKey: 'gc-key',
      secretKey: 'gc-secret',
      rootAdmin: false,
    });
    try {
      const query = (command: string) =>
        buildSignedQuery({
          command,
          params: {},
          apiKey: 'gc-key',
          secretKey: 'gc-secret',
          expires: new Date(Date.now() + 60_000),
        });
      const network = JSON.parse((await get(`${user.url}?${query('listNetworks')}`)).body)
        .listnetworksresponse.network[0];
      assert.equal('vlan' in network, false);
      assert.equal('broadcasturi' in network, false);
      assert.equal(network.cidr, '192.0.2.0/24');
      const nic = JSON.parse((await get(`${user.url}?${query('listVirtualMachines')}`)).body)
        .listvirtualmachinesresponse.virtualmachine[0].nic[0];
      assert.equal('broadcasturi' in nic, false);
      assert.equal('isolationuri' in nic, false);
      assert.equal(user.state.networks[0]?.vlan, '101', 'the state itself is untouched');
    } finally {
      await user.stop();
    }
  });
});

describe('simulator robustness', () => {
  test('answers every malformed request with an error status and keeps serving', async () => {
    const sim = await startSimulator({
      state: generateSimState({ networks: 1, vmsPerNetwork: 1, isolation: 'vlan' }),
    });
    try {
      const pieces = [
        'command=listZones',
        'apiKey=%',
        'signature=%E0%A4%A',
        '&&&',
        '=',
        'expires=2020',
        'page=-3',
        'pagesize=abc',
        'a=%ZZ',
        `x=${'y'.repeat(4000)}`,
        'signatureversion=3',
        'command=listNetworks',
        '%00=%00',
      ];
      // Deterministic pseudo-random mixes: a failure here is reproducible.
      let seed = 7;
      const next = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed;
      };
      for (let i = 0; i < 150; i++) {
        const count = 1 + (next() % 5);
        const query = Array.from({ length: count }, () => pieces[next() % pieces.length]).join('&');
        const { status } = await get(`${sim.url}?${query}`);
        assert.ok(status === 401 || status === 404, `query ${query.slice(0, 80)} gave ${status}`);
      }
      const notApi = await get(sim.url.replace('/client/api', '/elsewhere'));
      assert.equal(notApi.status, 404);
      const query = buildSignedQuery({
        command: 'listZones',
        params: {},
        apiKey: sim.apiKey,
        secretKey: sim.secretKey,
        expires: new Date(Date.now() + 60_000),
      });
      assert.equal((await get(`${sim.url}?${query}`)).status, 200, 'still serving');
    } finally {
      await sim.stop();
    }
  });
});

describe('simulator fixtures', () => {
  test('are deterministic and give distinct, non-overlapping /24s', () => {
    const a = generateSimState({
      networks: 300,
      vmsPerNetwork: 2,
      isolation: 'vxlan',
      publicIpsPerNetwork: 1,
    });
    const b = generateSimState({
      networks: 300,
      vmsPerNetwork: 2,
      isolation: 'vxlan',
      publicIpsPerNetwork: 1,
    });
    assert.deepEqual(a, b);
    const cidrs = a.networks.map((n) => n.cidr);
    assert.equal(new Set(cidrs).size, 300);
    for (const cidr of cidrs) assert.match(cidr ?? '', /^\d+\.\d+\.\d+\.0\/24$/);
    assert.deepEqual(cidrs.slice(0, 4), ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '10.0.4.0/24']);
    assert.equal(new Set(a.publicIpAddresses.map((p) => p.ipaddress)).size, 300);
  });

  test('continue numbering from firstId without colliding with earlier networks', () => {
    const first = generateSimState({ networks: 5, vmsPerNetwork: 1, isolation: 'vlan' });
    const more = generateSimState({ networks: 2, vmsPerNetwork: 1, isolation: 'vlan', firstId: 6 });
    const ids = [...first.networks, ...more.networks].map((n) => n.id);
    assert.equal(new Set(ids).size, 7);
    assert.deepEqual(
      more.networks.map((n) => n.broadcasturi),
      ['vlan://106', 'vlan://107'],
    );
    assert.deepEqual(
      more.virtualMachines.map((vm) => vm.name),
      ['vm-6-1', 'vm-7-1'],
    );
  });

  test('refuse sizes that do not fit', () => {
    assert.throws(() => generateSimState({ networks: 1, vmsPerNetwork: 254, isolation: 'vlan' }), /253 VMs/);
    assert.throws(
      () => generateSimState({ networks: 4000, vmsPerNetwork: 0, isolation: 'vlan' }),
      /VLAN 4095/,
    );
  });
});

describe('simulator main', () => {
  test('prints eval-able exports for the three variables and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'packages/guestrouter/test/simulator/main.ts',
        '--networks',
        '4',
        '--vms',
        '7',
        '--isolation',
        'vlan',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      for await (const chunk of child.stdout) {
        out += chunk;
        if (out.split('\n').length > 3) break;
      }
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 3);
      assert.match(lines[0] ?? '', /^export CLOUDSTACK_API_URL='http:\/\/127\.0\.0\.1:\d+\/client\/api'$/);
      assert.match(lines[1] ?? '', /^export CLOUDSTACK_API_KEY='[A-Za-z0-9_-]{86}'$/);
      assert.match(lines[2] ?? '', /^export CLOUDSTACK_SECRET_KEY='[A-Za-z0-9_-]{86}'$/);
      const env = Object.fromEntries(lines.map((l) => /^export (\w+)='(.*)'$/.exec(l)?.slice(1, 3) ?? []));
      const query = buildSignedQuery({
        command: 'listVirtualMachines',
        params: {},
        apiKey: env.CLOUDSTACK_API_KEY ?? '',
        secretKey: env.CLOUDSTACK_SECRET_KEY ?? '',
        expires: new Date(Date.now() + 60_000),
      });
      const body = JSON.parse((await get(`${env.CLOUDSTACK_API_URL}?${query}`)).body);
      assert.equal(body.listvirtualmachinesresponse.count, 7);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
