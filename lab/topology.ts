// The lab's addresses, ASNs and pools: a pure function of the options, so tests, the speaker's e2e
// tests and the docs all agree on one plan. Nothing here touches the machine.
//
//   LAN 10.50.0.0/24, fd00:50::/64 (bridge br0)
//     router   .1      client .100     node-i  .(10+i)
//   external link 10.70.0.0/24, fd00:70::/64 (router eth1 .1, external .2)
//   pods on node-i: 10.244.i.0/24, fd00:10:244:i::/64
//   L2 pool 10.50.0.200-10.50.0.250, fd00:50::200-fd00:50::250 (inside the LAN)
//   BGP pool 10.60.0.10-10.60.0.250, fd00:60::10-fd00:60::250 (outside the LAN; the router accepts
//   10.60.0.0/24 and fd00:60::/112 from the nodes)

export type RouterKind = 'bird' | 'frr' | 'gobgp' | 'none';
export const ROUTER_KINDS: readonly RouterKind[] = ['bird', 'frr', 'gobgp', 'none'];

export interface TopologyOptions {
  /** Number of nodes (1..50; default 3). */
  nodes?: number;
  router?: RouterKind;
  /** Dual-stack (default true). */
  ipv6?: boolean;
}

export interface Addr {
  /** Address with prefix length, e.g. '10.50.0.11/24'. */
  cidr: string;
  /** Address alone, e.g. '10.50.0.11'. */
  ip: string;
}

export interface HostPlan {
  name: string;
  mac: string;
  ipv4: Addr;
  ipv6?: Addr;
}

export interface NodePlan extends HostPlan {
  /** 1-based index: node-1 is 1. */
  index: number;
  podCIDRv4: string;
  podCIDRv6?: string;
  /** The node's ASN when it speaks BGP. */
  asn: number;
}

export interface PoolPlan {
  /** IPAddressPool name in metallb-system. */
  name: string;
  /** As written in `spec.addresses` (ranges or CIDRs). */
  addresses: string[];
}

export interface Topology {
  nodes: NodePlan[];
  router: HostPlan & {
    kind: RouterKind;
    asn: number;
    /** The router's address on the external link (its eth1). */
    externalIpv4: Addr;
    externalIpv6?: Addr;
  };
  client: HostPlan;
  external: HostPlan & { gatewayV4: string; gatewayV6?: string };
  lan: { ipv4: string; ipv6?: string };
  externalLink: { ipv4: string; ipv6?: string };
  /** The flat pod network (kube-proxy's --cluster-cidr). */
  clusterCIDRs: string[];
  l2Pool: PoolPlan;
  bgpPool: PoolPlan & {
    /** Prefixes the router accepts from the nodes (with `le 32` / `le 128`). */
    acceptV4: string;
    acceptV6?: string;
  };
  ipv6: boolean;
  /** Every pod listens here (HTTP). */
  podPort: number;
  /** Where processes inside a node reach the apiserver (the forwarder). */
  nodeApiserver: string;
}

export const NODE_ASN = 64513;
export const ROUTER_ASN = 64512;
export const POD_PORT = 80;
export const NODE_APISERVER_PORT = 6443;

/** A locally administered MAC derived from the host's LAN octet: 02:42:0a:32:00:<octet>. */
export function macFor(octet: number, prefix = '02:42:0a:32:00'): string {
  return `${prefix}:${octet.toString(16).padStart(2, '0')}`;
}

function addr(ip: string, len: number): Addr {
  return { ip, cidr: `${ip}/${len}` };
}

function lanHost(name: string, octet: number, ipv6: boolean): HostPlan {
  return {
    name,
    mac: macFor(octet),
    ipv4: addr(`10.50.0.${octet}`, 24),
    ...(ipv6 ? { ipv6: addr(`fd00:50::${octet}`, 64) } : {}),
  };
}

export class TopologyError extends Error {
  constructor(readonly reason: string) {
    super(`topology: ${reason}`);
    this.name = 'TopologyError';
  }
}

export function makeTopology(opts: TopologyOptions = {}): Topology {
  const n = opts.nodes ?? 3;
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new TopologyError(`--nodes must be 1..50, got ${n}`);
  const kind = opts.router ?? 'bird';
  if (!ROUTER_KINDS.includes(kind))
    throw new TopologyError(`--router must be one of ${ROUTER_KINDS.join('|')}`);
  const v6 = opts.ipv6 ?? true;
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= n; i++) {
    nodes.push({
      ...lanHost(`node-${i}`, 10 + i, v6),
      index: i,
      podCIDRv4: `10.244.${i}.0/24`,
      ...(v6 ? { podCIDRv6: `fd00:10:244:${i}::/64` } : {}),
      asn: NODE_ASN,
    });
  }
  return {
    nodes,
    router: {
      ...lanHost('router', 1, v6),
      kind,
      asn: ROUTER_ASN,
      externalIpv4: addr('10.70.0.1', 24),
      ...(v6 ? { externalIpv6: addr('fd00:70::1', 64) } : {}),
    },
    client: lanHost('client', 100, v6),
    external: {
      name: 'external',
      mac: macFor(2, '02:42:0a:46:00'),
      ipv4: addr('10.70.0.2', 24),
      ...(v6 ? { ipv6: addr('fd00:70::2', 64) } : {}),
      gatewayV4: '10.70.0.1',
      ...(v6 ? { gatewayV6: 'fd00:70::1' } : {}),
    },
    lan: { ipv4: '10.50.0.0/24', ...(v6 ? { ipv6: 'fd00:50::/64' } : {}) },
    externalLink: { ipv4: '10.70.0.0/24', ...(v6 ? { ipv6: 'fd00:70::/64' } : {}) },
    clusterCIDRs: ['10.244.0.0/16', ...(v6 ? ['fd00:10:244::/56'] : [])],
    l2Pool: {
      name: 'lab-l2',
      addresses: ['10.50.0.200-10.50.0.250', ...(v6 ? ['fd00:50::200-fd00:50::250'] : [])],
    },
    bgpPool: {
      name: 'lab-bgp',
      addresses: ['10.60.0.10-10.60.0.250', ...(v6 ? ['fd00:60::10-fd00:60::250'] : [])],
      acceptV4: '10.60.0.0/24',
      ...(v6 ? { acceptV6: 'fd00:60::/112' } : {}),
    },
    ipv6: v6,
    podPort: POD_PORT,
    nodeApiserver: `https://127.0.0.1:${NODE_APISERVER_PORT}`,
  };
}

/** The node's plan by name; throws TopologyError for an unknown node. */
export function nodePlan(topo: Topology, name: string): NodePlan {
  const node = topo.nodes.find((x) => x.name === name);
  if (!node) throw new TopologyError(`no node ${name} (nodes: ${topo.nodes.map((x) => x.name).join(', ')})`);
  return node;
}

/** Pod k (1-based) on a node: 10.244.<i>.<10+k>, fd00:10:244:<i>::<10+k>. */
export function podAddresses(node: NodePlan, k: number): { ipv4: string; ipv6?: string } {
  if (k < 1 || k > 240) throw new TopologyError(`pod index ${k} out of range on ${node.name}`);
  return {
    ipv4: `10.244.${node.index}.${10 + k}`,
    ...(node.podCIDRv6 ? { ipv6: `fd00:10:244:${node.index}::${10 + k}` } : {}),
  };
}
