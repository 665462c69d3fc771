import assert from 'node:assert/strict';
import { multicastGroupForVni } from '../../src/desired/vxlan.js';
import type { SimState } from '../simulator/server.js';
import { ip, NetnsLab, vethBetween } from './netns.js';

/**
 * internet ns (up0 100.64.0.1/24) -- router ns (uplink 100.64.0.2/24, trunk 10.255.0.1/24)
 * -- hypervisor ns (trunk 10.255.0.2/24, CloudStack-style vxlan<VNI> in br<VNI>) -- one ns per VM.
 */
export class RouterLab {
  readonly lab: NetnsLab;
  readonly inet: string;
  readonly router: string;
  readonly hv: string;
  private readonly vms = new Map<string, string>();
  private readonly bridged = new Set<number>();
  private count = 0;

  constructor(suffix: string) {
    this.lab = new NetnsLab(`gr${process.pid}${suffix}`);
    this.inet = this.lab.name('inet');
    this.router = this.lab.name('rtr');
    this.hv = this.lab.name('hv');
  }

  /** Builds the three fixed namespaces; `onLink` subnets are routed on-link by the internet side. */
  build(onLink: readonly string[]): void {
    this.lab.add('inet');
    this.lab.add('rtr');
    this.lab.add('hv');
    vethBetween(this.inet, 'up0', this.router, 'uplink');
    ip('-n', this.inet, 'addr', 'add', '100.64.0.1/24', 'dev', 'up0');
    ip('-n', this.router, 'addr', 'add', '100.64.0.2/24', 'dev', 'uplink');
    for (const cidr of onLink) ip('-n', this.inet, 'route', 'add', cidr, 'dev', 'up0');
    vethBetween(this.router, 'trunk', this.hv, 'trunk');
    ip('-n', this.router, 'addr', 'add', '10.255.0.1/24', 'dev', 'trunk');
    ip('-n', this.hv, 'addr', 'add', '10.255.0.2/24', 'dev', 'trunk');
  }

  /** The hypervisor side of every network in the state, and a namespace for each VM not yet running. */
  hostAll(state: SimState): void {
    for (const network of state.networks) {
      const vni = Number(network.broadcasturi?.replace('vxlan://', ''));
      assert.ok(Number.isInteger(vni), `network ${network.id} is VXLAN`);
      if (!this.bridged.has(vni)) {
        const vx = `vxlan${vni}`;
        const br = `br${vni}`;
        const group = multicastGroupForVni(vni);
        ip(
          '-n',
          this.hv,
          'link',
          'add',
          vx,
          'type',
          'vxlan',
          'id',
          String(vni),
          'group',
          group,
          'dstport',
          '8472',
          'dev',
          'trunk',
        );
        ip('-n', this.hv, 'link', 'add', br, 'type', 'bridge');
        ip('-n', this.hv, 'link', 'set', 'dev', vx, 'master', br);
        ip('-n', this.hv, 'link', 'set', 'dev', vx, 'up');
        ip('-n', this.hv, 'link', 'set', 'dev', br, 'up');
        this.bridged.add(vni);
      }
      const prefix = network.cidr?.split('/')[1];
      for (const vm of state.virtualMachines) {
        const nic = vm.nic?.[0];
        if (!nic?.ipaddress || nic.networkid !== network.id || this.vms.has(nic.ipaddress)) continue;
        const ns = this.lab.add(`vm${++this.count}`);
        const port = `p${this.count}`;
        vethBetween(this.hv, port, ns, 'eth0');
        // The NIC's MAC as CloudStack gave it: the router's anti-spoofing accepts only that MAC with that address.
        if (nic.macaddress) ip('-n', ns, 'link', 'set', 'dev', 'eth0', 'address', nic.macaddress);
        ip('-n', this.hv, 'link', 'set', 'dev', port, 'master', `br${vni}`);
        ip('-n', ns, 'addr', 'add', `${nic.ipaddress}/${prefix}`, 'dev', 'eth0');
        ip('-n', ns, 'route', 'add', 'default', 'via', network.gateway as string);
        this.vms.set(nic.ipaddress, ns);
      }
    }
  }

  vm(address: string): string {
    const ns = this.vms.get(address);
    assert.ok(ns, `no VM namespace for ${address}`);
    return ns;
  }

  /** At least one of three echo requests answered. */
  pings(ns: string, target: string): boolean {
    return this.lab.status(ns, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '-n', '-q', target) === 0;
  }

  /** The MAC the internet namespace has learnt for an address, if any. */
  internetNeighbourMac(address: string): string | undefined {
    const entries = JSON.parse(ip('-n', this.inet, '-json', 'neigh', 'show', address, 'dev', 'up0')) as {
      lladdr?: string;
    }[];
    return entries[0]?.lladdr;
  }

  routerMac(dev: string): string {
    return (
      JSON.parse(ip('-n', this.router, '-json', 'link', 'show', 'dev', dev)) as { address: string }[]
    )[0]?.address as string;
  }

  cleanup(): void {
    this.lab.cleanup();
  }
}
