// The lab's wires: the LAN bridge with router, client and nodes on it; the external host behind the
// router on a second link; forwarding and routes as on a real LAN (everyone's default gateway is the
// router, which has no uplink: the lab stays sealed); static routes between the nodes' pod CIDRs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lan, run, type Host } from './netns.js';
import { LabHost } from './hosts.js';
import type { HostPlan, Topology } from './topology.js';

export interface LabNetwork {
  lan: Lan;
  /** Every host by name: router, client, external, node-1… */
  hosts: Map<string, LabHost>;
  /** The hosts plugged into the bridge (for link up/down at the bridge port). */
  lanHosts: Map<string, Host>;
}

const ROUTING = {
  'net.ipv4.ip_forward': 1,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
};

async function ipv6Sysctls(host: LabHost, topo: Topology, forwarding: boolean): Promise<void> {
  if (!topo.ipv6) return;
  await host.sysctl({
    'net.ipv6.conf.all.forwarding': forwarding ? 1 : 0,
    // Routers ignore RAs; nothing in the lab sends them, but be explicit.
    'net.ipv6.conf.all.accept_ra': 0,
    'net.ipv6.conf.default.accept_ra': 0,
  });
}

async function addLanHost(lan: Lan, plan: HostPlan): Promise<Host> {
  return lan.addHost(plan.name, {
    ipv4: plan.ipv4.cidr,
    ...(plan.ipv6 ? { ipv6: plan.ipv6.cidr } : {}),
    mac: plan.mac,
  });
}

async function defaultRoutes(
  host: LabHost,
  topo: Topology,
  v4: string,
  v6: string | undefined,
): Promise<void> {
  await host.sh('ip', ['route', 'replace', 'default', 'via', v4]);
  if (topo.ipv6 && v6) await host.sh('ip', ['-6', 'route', 'replace', 'default', 'via', v6]);
}

/** Builds the wires. `tag` names the run (namespaces are `bollard-<pid>-<tag>-<host>`). */
export async function buildNetwork(topo: Topology, tag: string, dir: string): Promise<LabNetwork> {
  const lan = await Lan.create(tag);
  const hosts = new Map<string, LabHost>();
  const lanHosts = new Map<string, Host>();
  try {
    // Router: on the LAN (eth0) and on the external link (eth1), with a private /run for its daemons.
    const routerRun = join(dir, 'hosts', 'router', 'run');
    mkdirSync(routerRun, { recursive: true });
    const r = await addLanHost(lan, topo.router);
    lanHosts.set('router', r);
    const router = new LabHost('router', r.ns, routerRun);
    hosts.set('router', router);
    await router.sysctl({ ...ROUTING, 'net.ipv4.conf.eth0.rp_filter': 0 });
    await ipv6Sysctls(router, topo, true);

    const extNs = await lan.addNamespace('external');
    const external = new LabHost('external', extNs);
    hosts.set('external', external);
    await run('ip', [
      '-n',
      r.ns,
      'link',
      'add',
      'eth1',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      extNs,
    ]);
    await run('ip', ['-n', extNs, 'link', 'set', 'eth0', 'address', topo.external.mac]);
    await run('ip', ['-n', r.ns, 'addr', 'add', topo.router.externalIpv4.cidr, 'dev', 'eth1']);
    await run('ip', ['-n', extNs, 'addr', 'add', topo.external.ipv4.cidr, 'dev', 'eth0']);
    if (topo.router.externalIpv6 && topo.external.ipv6) {
      await run('ip', ['-n', r.ns, 'addr', 'add', topo.router.externalIpv6.cidr, 'dev', 'eth1', 'nodad']);
      await run('ip', ['-n', extNs, 'addr', 'add', topo.external.ipv6.cidr, 'dev', 'eth0', 'nodad']);
    }
    await run('ip', ['-n', r.ns, 'link', 'set', 'eth1', 'up']);
    await run('ip', ['-n', extNs, 'link', 'set', 'eth0', 'up']);
    await defaultRoutes(external, topo, topo.external.gatewayV4, topo.external.gatewayV6);

    const c = await addLanHost(lan, topo.client);
    lanHosts.set('client', c);
    const client = new LabHost('client', c.ns);
    hosts.set('client', client);
    await defaultRoutes(client, topo, topo.router.ipv4.ip, topo.router.ipv6?.ip);

    for (const node of topo.nodes) {
      const h = await addLanHost(lan, node);
      lanHosts.set(node.name, h);
      const host = new LabHost(node.name, h.ns);
      hosts.set(node.name, host);
      await host.sysctl({
        ...ROUTING,
        'net.ipv4.conf.eth0.rp_filter': 0,
        // kube-proxy's NodePorts on 127.0.0.1 need it; set here so kube-proxy finds it done.
        'net.ipv4.conf.all.route_localnet': 1,
      });
      await ipv6Sysctls(host, topo, true);
      await defaultRoutes(host, topo, topo.router.ipv4.ip, topo.router.ipv6?.ip);
      // A flat pod network without overlay: every other node's pod CIDR via that node.
      for (const other of topo.nodes) {
        if (other.name === node.name) continue;
        await host.sh('ip', ['route', 'replace', other.podCIDRv4, 'via', other.ipv4.ip]);
        if (other.podCIDRv6 && other.ipv6) {
          await host.sh('ip', ['-6', 'route', 'replace', other.podCIDRv6, 'via', other.ipv6.ip]);
        }
      }
    }
  } catch (err) {
    await lan.destroy();
    throw err;
  }
  return { lan, hosts, lanHosts };
}
