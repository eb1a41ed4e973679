// Route export (pure): the validated config + this node + the Services (with this node's eligibility)
// -> the routes each BGP peer gets from this node, with their attributes. MetalLB's BGPAdvertisement
// semantics: per-VIP /32 and /128 or aggregationLength / aggregationLengthV6; localPref on iBGP
// peers only; communities standard and large (literal or Community alias, already resolved by
// config/); `peers` (empty = all); nodeSelectors; ipAddressPools / ipAddressPoolSelectors (resolved to
// `pools` by config/); serviceSelectors (when the model carries them). A node announces only its
// own routes, so eligibility (Cluster: a serving endpoint anywhere; Local: a ready local endpoint and
// a healthy kube-proxy health check) is one boolean per Service for this node.
import type { LargeCommunity } from '../../proto/bgp/attributes.js';
import type { BGPAdvertisement, BGPPeer, Community, Pool } from '../../config/types.js';
import { BITS, formatIP, parseIP, type IP } from '../../config/ip.js';
import { anyMatches, type LabelSelector } from '../../config/selector.js';
import type { ExportedRoute } from './types.js';

export interface ExportNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ExportService {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** status.loadBalancer.ingress IPs. */
  readonly ips: readonly string[];
  /** metallb.io/ip-allocated-from-pool, when the controller wrote it. */
  readonly pool?: string;
  /** This node may announce the Service (eligibility for this node). */
  readonly eligible: boolean;
}

/** What export needs from the config model. */
export interface ExportConfig {
  readonly pools: ReadonlyMap<string, Pool>;
  readonly bgpAdvertisements: readonly (BGPAdvertisement & {
    readonly serviceSelectors?: readonly LabelSelector[];
  })[];
  readonly peers: ReadonlyMap<string, BGPPeer>;
}

export interface ExportResult {
  /** Peer name -> routes, sorted by prefix. Every peer that applies to this node has an entry. */
  readonly routes: ReadonlyMap<string, readonly ExportedRoute[]>;
  /** "namespace/name" -> the peers this node announces the Service to (for ServiceBGPStatus). */
  readonly servicePeers: ReadonlyMap<string, readonly string[]>;
}

/** Peers whose nodeSelectors select this node (none = every node). */
export function peersForNode(peers: ReadonlyMap<string, BGPPeer>, node: ExportNode): BGPPeer[] {
  return [...peers.values()]
    .filter((p) => p.nodeSelectors.length === 0 || anyMatches(p.nodeSelectors, node.labels))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The pool an IP belongs to: the annotated one if it holds the IP, else the pool whose ranges do. */
export function poolOf(pools: ReadonlyMap<string, Pool>, ip: string, annotated?: string): string | undefined {
  const a = parseIP(ip);
  return a ? poolOfIP(pools, a, annotated) : undefined;
}

function poolOfIP(pools: ReadonlyMap<string, Pool>, a: IP, annotated?: string): string | undefined {
  const inPool = (p: Pool): boolean =>
    p.ranges.some((r) => r.family === a.family && r.first <= a.value && a.value <= r.last);
  if (annotated !== undefined) {
    const p = pools.get(annotated);
    if (p && inPool(p)) return annotated;
  }
  for (const p of pools.values()) if (inPool(p)) return p.name;
  return undefined;
}

/** The IP masked to `length` bits, as a prefix ('192.0.2.0/24'). */
export function aggregate(ip: string, length: number): string | undefined {
  const a = parseIP(ip);
  return a ? masked(a, length).text : undefined;
}

/** A prefix with what sorts it (family, network, length), so sorting parses nothing. */
interface Prefix {
  text: string;
  family: number;
  value: bigint;
  len: number;
}

function masked(a: IP, length: number): Prefix {
  const bits = BITS[a.family];
  const len = Math.max(0, Math.min(bits, length));
  const host = BigInt(bits - len);
  const value = (a.value >> host) << host;
  return { text: `${formatIP(a.family, value)}/${len}`, family: a.family, value, len };
}

interface Acc {
  prefix: Prefix;
  communities: Set<number>;
  large: Map<string, LargeCommunity>;
  localPref: number | undefined;
}

function addCommunities(acc: Acc, list: readonly Community[]): void {
  for (const c of list) {
    if (c.kind === 'standard') acc.communities.add(c.value >>> 0);
    else
      acc.large.set(`${c.global}:${c.local1}:${c.local2}`, {
        globalAdmin: c.global,
        localData1: c.local1,
        localData2: c.local2,
      });
  }
}

function cmpLarge(a: LargeCommunity, b: LargeCommunity): number {
  return a.globalAdmin - b.globalAdmin || a.localData1 - b.localData1 || a.localData2 - b.localData2;
}

/** Prefix order: family, then network, then length. */
function prefixOrder(a: Prefix, b: Prefix): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  return a.len - b.len;
}

/** One route a Service gives one peer, before routes of several Services are merged. */
export interface ServiceRoute {
  peer: string;
  internal: boolean;
  prefix: Prefix;
  adv: ExportConfig['bgpAdvertisements'][number];
}

/** What a Service contributes (pure; the same for the same config, node and Service). */
function routesOfService(
  config: ExportConfig,
  peers: readonly BGPPeer[],
  advs: ExportConfig['bgpAdvertisements'],
  svc: ExportService,
): ServiceRoute[] {
  const out: ServiceRoute[] = [];
  if (!svc.eligible) return out;
  for (const ip of svc.ips) {
    const a = parseIP(ip);
    if (!a) continue;
    const pool = poolOfIP(config.pools, a, svc.pool);
    if (pool === undefined) continue;
    for (const adv of advs) {
      if (!adv.pools.includes(pool)) continue;
      if (
        adv.serviceSelectors &&
        adv.serviceSelectors.length > 0 &&
        !anyMatches(adv.serviceSelectors, svc.labels)
      )
        continue;
      const prefix = masked(a, a.family === 6 ? adv.aggregationLengthV6 : adv.aggregationLength);
      const targets = adv.peers.length === 0 ? peers : peers.filter((p) => adv.peers.includes(p.name));
      for (const p of targets) out.push({ peer: p.name, internal: p.internal, prefix, adv });
    }
  }
  return out;
}

/** Each Service's routes by its ExportService object (see exportRoutes). */
export type ExportMemo = WeakMap<ExportService, readonly ServiceRoute[]>;

/**
 * Routes per peer for this node.
 *
 * `memo` remembers each Service's contribution by the ExportService object: a caller that passes the
 * same objects for unchanged Services pays only for the changed ones. It must be a new WeakMap
 * whenever `config` or `node` changes.
 */
export function exportRoutes(
  config: ExportConfig,
  node: ExportNode,
  services: readonly ExportService[],
  memo?: ExportMemo,
): ExportResult {
  const peers = peersForNode(config.peers, node);
  const perPeer = new Map<string, Map<string, Acc>>(peers.map((p) => [p.name, new Map()]));
  const servicePeers = new Map<string, Set<string>>();
  const advs = config.bgpAdvertisements.filter(
    (a) => a.nodeSelectors.length === 0 || anyMatches(a.nodeSelectors, node.labels),
  );
  for (const svc of services) {
    let contributed = memo?.get(svc);
    if (!contributed) {
      contributed = routesOfService(config, peers, advs, svc);
      memo?.set(svc, contributed);
    }
    if (contributed.length === 0) continue;
    const key = `${svc.namespace}/${svc.name}`;
    for (const r of contributed) {
      const rib = perPeer.get(r.peer)!;
      let acc = rib.get(r.prefix.text);
      if (!acc) {
        acc = { prefix: r.prefix, communities: new Set(), large: new Map(), localPref: undefined };
        rib.set(r.prefix.text, acc);
      }
      addCommunities(acc, r.adv.communities);
      // localPref only means something inside an AS (MetalLB: iBGP only). Conflicts are rejected by
      // config/; if two advertisements still disagree, the higher preference wins (deterministic).
      if (r.internal && r.adv.localPref !== undefined)
        acc.localPref = Math.max(acc.localPref ?? 0, r.adv.localPref);
      let sp = servicePeers.get(key);
      if (!sp) servicePeers.set(key, (sp = new Set()));
      sp.add(r.peer);
    }
  }
  const routes = new Map<string, ExportedRoute[]>();
  for (const [peer, rib] of perPeer) {
    const list: ExportedRoute[] = [...rib.values()]
      .sort((a, b) => prefixOrder(a.prefix, b.prefix))
      .map((acc) => ({
        prefix: acc.prefix.text,
        communities: [...acc.communities].sort((a, b) => a - b),
        largeCommunities: [...acc.large.values()].sort(cmpLarge),
        ...(acc.localPref !== undefined ? { localPref: acc.localPref } : {}),
      }));
    routes.set(peer, list);
  }
  return {
    routes,
    servicePeers: new Map([...servicePeers].map(([k, v]) => [k, [...v].sort()])),
  };
}
