// Announcer election for layer 2 (pure): every speaker computes the same owner without talking about
// it. Candidates come from eligibility; they are ordered as MetalLB orders them: highest preference
// score first (the weights of the advertisements' preferredNodeSelectors that match the node; 0 when
// none do), then by sha256(nodeName + "#" + firstVIP), lowest first. The first one announces every VIP
// of the Service (both families of a dual-stack Service go with the first IP).
import { createHash } from 'node:crypto';
import type { Config, L2Advertisement, Pool } from '../../config/types.js';
import { anyMatches } from '../../config/selector.js';
import { parseIP } from '../../config/ip.js';

export function electionHash(node: string, firstIp: string): Buffer {
  return createHash('sha256').update(`${node}#${firstIp}`).digest();
}

/**
 * electionHash remembered across passes, so a pass over 10,000 unchanged Services hashes nothing.
 * Entries not read between two sweeps are dropped (call sweep() after each full pass).
 */
export class ElectionHashes {
  private cur = new Map<string, Buffer>();
  private prev = new Map<string, Buffer>();

  of(node: string, firstIp: string): Buffer {
    const k = `${node}#${firstIp}`;
    let h = this.cur.get(k);
    if (h) return h;
    h = this.prev.get(k) ?? electionHash(node, firstIp);
    this.cur.set(k, h);
    return h;
  }

  sweep(): void {
    this.prev = this.cur;
    this.cur = new Map();
  }

  get size(): number {
    return this.cur.size + this.prev.size;
  }
}

/**
 * Candidates in MetalLB's order (speaker/layer2_controller.go: sortL2Candidates): highest score first
 * (a node missing from `scores` scores 0), then lowest sha256(node#ip).
 */
export function electionOrder(
  candidates: Iterable<string>,
  firstIp: string,
  hashes?: ElectionHashes,
  scores?: ReadonlyMap<string, number>,
): string[] {
  return [...candidates]
    .map((n) => ({
      n,
      s: scores?.get(n) ?? 0,
      h: hashes ? hashes.of(n, firstIp) : electionHash(n, firstIp),
    }))
    .sort((a, b) => b.s - a.s || Buffer.compare(a.h, b.h) || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0))
    .map((x) => x.n);
}

/** The owner of a Service whose first VIP is `firstIp`, or undefined when no node is a candidate. */
export function electOwner(
  candidates: Iterable<string>,
  firstIp: string,
  hashes?: ElectionHashes,
  scores?: ReadonlyMap<string, number>,
): string | undefined {
  return electionOrder(candidates, firstIp, hashes, scores)[0];
}

/**
 * Preference scores of the nodes for a Service covered by `advs` (MetalLB's preferredNodeScores and
 * preferredScoresFor): for each advertisement, each node its nodeSelectors select gets the weights of
 * the preferredNodeSelectors that match its labels; the sums over advertisements are the scores. Only
 * nodes scoring above 0 are in the map; it is empty when no advertisement has preferences.
 */
export function preferenceScores(
  advs: readonly L2Advertisement[],
  nodes: readonly NodeRef[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of advs) {
    if (a.preferredNodeSelectors.length === 0) continue;
    for (const n of nodes) {
      if (!anyMatches(a.nodeSelectors, n.labels)) continue;
      let w = 0;
      for (const p of a.preferredNodeSelectors) if (p.preference.matches(n.labels)) w += p.weight;
      if (w > 0) out.set(n.name, (out.get(n.name) ?? 0) + w);
    }
  }
  return out;
}

export interface L2ServiceRef {
  namespace: string;
  labels: Readonly<Record<string, string>>;
  ips: readonly string[];
  /** The pool the controller allocated from (annotation metallb.io/ip-allocated-from-pool), if known. */
  pool?: string;
  /** The Service has the allow-shared-ip annotation (either spelling), whatever its value. */
  allowSharedIP?: boolean;
}

export interface NodeRef {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** The pool holding `ip`, if any. */
export function poolOfIp(config: Config, ip: string): Pool | undefined {
  const a = parseIP(ip);
  if (!a) return undefined;
  for (const p of config.pools.values()) {
    if (p.ranges.some((r) => r.family === a.family && r.first <= a.value && a.value <= r.last)) return p;
  }
  return undefined;
}

/** The pool a Service's VIPs come from: the controller's annotation when the pool exists, else the pool holding the first VIP. */
export function poolOfService(config: Config, svc: L2ServiceRef): string | undefined {
  if (svc.pool && config.pools.has(svc.pool)) return svc.pool;
  const first = svc.ips[0];
  return first === undefined ? undefined : poolOfIp(config, first)?.name;
}

/**
 * The L2Advertisements covering a Service: their pools include the Service's pool and their
 * serviceSelectors (none = all) match its labels. None for a Service with
 * allow-shared-ip when any of them has serviceSelectors: MetalLB does not announce it then
 * (speaker/layer2_controller.go: ShouldAnnounce, "sharedIPWithServiceSelector"), since Services sharing
 * an IP could be selected differently.
 */
export function advertisementsFor(config: Config, svc: L2ServiceRef): L2Advertisement[] {
  const pool = poolOfService(config, svc);
  if (!pool) return [];
  const advs = config.l2Advertisements.filter(
    (a) => a.pools.includes(pool) && anyMatches(a.serviceSelectors, svc.labels),
  );
  if (svc.allowSharedIP && advs.some((a) => a.serviceSelectors.length > 0)) return [];
  return advs;
}

/**
 * The nodes these advertisements select, each with its interfaces: [] = every usable interface (some
 * advertisement selecting the node leaves interfaces empty), else the union of the named ones.
 */
export function selectedNodes(
  advs: readonly L2Advertisement[],
  nodes: readonly NodeRef[],
): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const n of nodes) {
    let all = false;
    const names = new Set<string>();
    let selected = false;
    for (const a of advs) {
      if (!anyMatches(a.nodeSelectors, n.labels)) continue;
      selected = true;
      if (a.interfaces.length === 0) all = true;
      else for (const i of a.interfaces) names.add(i);
    }
    if (selected) out.set(n.name, all ? [] : [...names].sort());
  }
  return out;
}
