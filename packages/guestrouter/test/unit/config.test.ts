import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { configLayers, loadConfig, parseConfig, requireInterfaces } from '../../src/config/load.js';
import { vxlanPort } from '../../src/config/schema.js';
import { GuestrouterConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'gr-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('config', () => {
  test('defaults match CloudStack: multicast VXLAN on 8472, every network, public routing on, 60 s +- 10 s', () => {
    const config = parseConfig({});
    assert.equal(config.vxlan.mode, 'multicast');
    assert.equal(vxlanPort(config.vxlan), 8472);
    assert.deepEqual(config.networks, { ids: [], names: [], tags: [] });
    assert.equal(config.publicRouting.enabled, true);
    assert.equal(config.run.intervalSeconds, 60);
    assert.equal(config.run.jitterSeconds, 10);
    assert.equal(config.stateDir, '/var/lib/guestrouter');
    assert.equal(vxlanPort(parseConfig({ vxlan: { mode: 'evpn' } }).vxlan), 4789);
    assert.equal(vxlanPort(parseConfig({ vxlan: { port: 4790 } }).vxlan), 4790);
  });
  test('DHCP is off by default; its lease time and domain are checked', () => {
    const config = parseConfig({});
    assert.deepEqual(config.dhcp, {
      enabled: false,
      leaseTime: '12h',
      dns: false,
      upstream: [],
      dnsmasq: 'dnsmasq',
    });
    assert.throws(
      () => parseConfig({ dhcp: { upstream: ['dns.example'] } }),
      /dhcp\.upstream\[0\]: must be an IPv4 address/,
    );
    assert.equal(parseConfig({ dhcp: { enabled: true, leaseTime: 'infinite' } }).dhcp.leaseTime, 'infinite');
    assert.equal(parseConfig({ dhcp: { leaseTime: '3600' } }).dhcp.leaseTime, '3600');
    assert.throws(() => parseConfig({ dhcp: { leaseTime: 'soon' } }), /dhcp\.leaseTime: must be seconds/);
    assert.throws(
      () => parseConfig({ dhcp: { domain: 'bad domain' } }),
      /dhcp\.domain: must be a DNS domain/,
    );
  });
  test('names the file and the key of a bad value', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ trunk: 'eth1', vxlan: { mode: 'gre' } }));
    assert.throws(
      () => loadConfig(file),
      (error: unknown) =>
        error instanceof GuestrouterConfigError &&
        error.file === file &&
        error.key === 'vxlan.mode' &&
        error.message.includes(file) &&
        error.message.includes('must be "multicast" or "evpn"'),
    );
  });
  test('rejects unknown keys, over-long interface names and malformed JSON', () => {
    assert.throws(
      () => parseConfig({ trunkk: 'eth1' }),
      /\(top level\): unknown key "trunkk" \(allowed here: trunk, uplink, /,
    );
    assert.throws(
      () => parseConfig({ run: { interval: 5 } }),
      /run: unknown key "interval" \(allowed here: intervalSeconds, jitterSeconds\)/,
    );
    assert.throws(() => parseConfig({ trunk: 'a-very-long-ifname0' }), /at most 15 characters/);
    // The file's CloudStack settings have the client's limits (one schema), checked when the file is read.
    assert.throws(
      () => parseConfig({ cloudstack: { timeoutMs: 5 } }),
      /cloudstack\.timeoutMs: must be at least 100 ms/,
    );
    assert.throws(
      () => parseConfig({ cloudstack: { url: 'ftp://cloud.example/client/api' } }),
      /cloudstack\.url: must start with http:\/\/ or https:\/\//,
    );
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "trunk": ');
    assert.throws(() => loadConfig(file), /not valid JSON/);
    assert.throws(() => loadConfig(join(dir, 'missing.json')), /missing\.json: cannot read: ENOENT/);
  });
  test('command-line interfaces override the file, and a missing one is a clear error', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify({ trunk: 'eth1', uplink: 'eth0' }));
    const config = loadConfig(file, { trunk: 'bond0' });
    assert.deepEqual(requireInterfaces(config), { trunk: 'bond0', uplink: 'eth0' });
    assert.throws(
      () => requireInterfaces(parseConfig({ trunk: 'eth1' })),
      /no uplink interface: pass --uplink/,
    );
  });
});

describe('config layers: file, then environment, then command line', () => {
  const URL_A = 'https://file.example/client/api';
  const URL_B = 'https://env.example/client/api';

  test('an environment variable sets its cloudstack key; a blank one counts as unset', () => {
    const config = loadConfig(undefined, {}, { CLOUDSTACK_API_URL: URL_B, CLOUDSTACK_API_KEY: '  ' });
    assert.equal(config.cloudstack.url, URL_B);
    assert.equal(config.cloudstack.apiKey, undefined);
    assert.equal(loadConfig(undefined).cloudstack.url, undefined, 'no environment given, none read');
  });

  test('the environment overrides the file, and the file fills what the environment lacks', () => {
    const file = join(dir, 'cloudstack.json');
    writeFileSync(file, JSON.stringify({ cloudstack: { url: URL_A, apiKey: 'file-key', retries: 1 } }));
    const config = loadConfig(file, {}, { CLOUDSTACK_API_URL: URL_B, CLOUDSTACK_SECRET_KEY: 'env-secret' });
    assert.deepEqual(config.cloudstack, {
      url: URL_B,
      apiKey: 'file-key',
      secretKey: 'env-secret',
      retries: 1,
    });
  });

  test('a bad environment value is a usage error naming the variable and the key', () => {
    assert.throws(
      () => loadConfig(undefined, {}, { CLOUDSTACK_API_URL: 'ftp://cloud.example.com/client/api' }),
      (err: unknown) =>
        err instanceof GuestrouterConfigError &&
        err.exitCode === 2 &&
        err.message === 'CLOUDSTACK_API_URL: cloudstack.url: must start with http:// or https://',
    );
  });

  test('the command line is the top layer: it comes after the environment and an error in it names it', () => {
    const file = join(dir, 'layers.json');
    writeFileSync(file, JSON.stringify({ trunk: 'eth1' }));
    const env = { CLOUDSTACK_API_URL: URL_B };
    assert.deepEqual(
      configLayers(file, env, { trunk: 'bond0' }).map((l) => l.source),
      [file, 'CLOUDSTACK_API_URL', 'command line'],
    );
    const config = loadConfig(file, { trunk: 'bond0' }, env);
    assert.equal(config.trunk, 'bond0', 'the flag wins over the file');
    assert.equal(config.cloudstack.url, URL_B, 'the environment under the flags is kept');
    assert.throws(
      () => loadConfig(file, { trunk: 'has space' }, env),
      (err: unknown) =>
        err instanceof GuestrouterConfigError &&
        /^command line: trunk: must not contain spaces/.test(err.message),
    );
  });
});
