// What the speaker's reconcile reads about Services and their endpoints, kept current by informer
// events so that one changed Service costs one Service's work, not a pass over every object:
//   - serviceFactsOf: a served Service -> the facts the decisions use (undefined = not ours / no VIP);
//   - EndpointIndex: EndpointSlices grouped by the Service they belong to.
import { canonicalIp } from '../proto/address.js';
import type { ServiceFacts } from './protocol.js';
import { OUR_CONDITION_PREFIX } from '../k8s/projection.js';
import type { EndpointFacts } from './eligibility.js';
import type { EndpointSliceObj, ServiceObj } from './k8s-types.js';

export const POOL_ANNOTATION = 'metallb.io/ip-allocated-from-pool';
export const ALLOW_SHARED_IP_ANNOTATIONS = [
  'metallb.io/allow-shared-ip',
  'metallb.universe.tf/allow-shared-ip',
];
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function serviceKey(ns: string | undefined, name: string | undefined): string {
  return `${ns ?? ''}/${name ?? ''}`;
}

/** "ns/name" -> [ns, name] (namespaces hold no "/"). */
export function splitServiceKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/**
 * The facts of a LoadBalancer Service of class `lbClass` ("" = none) that has at least one VIP in
 * its status; undefined for any other Service.
 */
export function serviceFactsOf(s: ServiceObj, lbClass: string): ServiceFacts | undefined {
  if (s.spec?.type !== 'LoadBalancer') return undefined;
  if ((s.spec.loadBalancerClass ?? '') !== lbClass) return undefined;
  const ips: string[] = [];
  for (const i of s.status?.loadBalancer?.ingress ?? []) {
    if (!i.ip) continue;
    try {
      ips.push(canonicalIp(i.ip));
    } catch {
      // not an IP: ignore
    }
  }
  if (ips.length === 0) return undefined;
  const pool = s.metadata?.annotations?.[POOL_ANNOTATION];
  const annotations = s.metadata?.annotations ?? {};
  const shared = ALLOW_SHARED_IP_ANNOTATIONS.some((k) =>
    Object.prototype.hasOwnProperty.call(annotations, k),
  );
  const tcpPorts = (s.spec.ports ?? [])
    .filter((p) => (p.protocol ?? 'TCP') === 'TCP' && typeof p.port === 'number')
    .map((p) => p.port as number);
  const conditions = s.status?.conditions?.filter((c) => c.type.startsWith(OUR_CONDITION_PREFIX));
  return {
    key: serviceKey(s.metadata?.namespace, s.metadata?.name),
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    labels: s.metadata?.labels ?? {},
    ips,
    ...(pool ? { pool } : {}),
    ...(shared ? { allowSharedIP: true } : {}),
    externalTrafficPolicy: s.spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    ...(s.spec.healthCheckNodePort ? { healthCheckNodePort: s.spec.healthCheckNodePort } : {}),
    ...(tcpPorts.length > 0 ? { tcpPorts } : {}),
    ...(conditions && conditions.length > 0 ? { conditions } : {}),
  };
}

/** The Service a slice belongs to ("ns/name"), or undefined when it carries no service-name label. */
export function serviceOfSlice(sl: EndpointSliceObj): string | undefined {
  const svc = sl.metadata?.labels?.[SERVICE_NAME_LABEL];
  return svc ? serviceKey(sl.metadata?.namespace, svc) : undefined;
}

function endpointFactsOf(sl: EndpointSliceObj): EndpointFacts[] {
  // Built by assignment: a spread of conditional parts ({...(x ? {a} : {})}) makes a dictionary-mode
  // object, about four times the size (1.4 kB per Service of three endpoints; see k8s/projection.ts).
  return (sl.endpoints ?? []).map((e) => {
    const f: EndpointFacts = {};
    if (e.nodeName) f.nodeName = e.nodeName;
    const c = e.conditions;
    if (c?.ready === false) f.ready = false;
    if (c?.serving != null) f.serving = c.serving;
    if (c?.terminating != null) f.terminating = c.terminating;
    return f;
  });
}

/** EndpointSlices by Service. `set`/`remove` return the Services whose endpoints changed. */
export class EndpointIndex {
  /** slice "ns/name" -> its Service and endpoints */
  private readonly slices = new Map<string, { service: string; endpoints: EndpointFacts[] }>();
  /** Service "ns/name" -> its slices' keys */
  private readonly byService = new Map<string, Set<string>>();
  /** Service -> its endpoints merged, built on first read after a change */
  private readonly merged = new Map<string, EndpointFacts[]>();

  /** Adds or replaces one slice. */
  set(sl: EndpointSliceObj): string[] {
    const changed = this.remove(sl);
    const service = serviceOfSlice(sl);
    if (!service) return changed;
    const key = serviceKey(sl.metadata?.namespace, sl.metadata?.name);
    this.slices.set(key, { service, endpoints: endpointFactsOf(sl) });
    let set = this.byService.get(service);
    if (!set) this.byService.set(service, (set = new Set()));
    set.add(key);
    this.merged.delete(service);
    return changed.includes(service) ? changed : [...changed, service];
  }

  remove(sl: EndpointSliceObj): string[] {
    const key = serviceKey(sl.metadata?.namespace, sl.metadata?.name);
    const cur = this.slices.get(key);
    if (!cur) return [];
    this.slices.delete(key);
    const set = this.byService.get(cur.service);
    set?.delete(key);
    if (set?.size === 0) this.byService.delete(cur.service);
    this.merged.delete(cur.service);
    return [cur.service];
  }

  /** Replaces the whole index (after a full list). */
  reset(all: readonly EndpointSliceObj[]): void {
    this.slices.clear();
    this.byService.clear();
    this.merged.clear();
    for (const sl of all) this.set(sl);
  }

  /** Every endpoint of the Service's slices. */
  of(service: string): readonly EndpointFacts[] {
    const cached = this.merged.get(service);
    if (cached) return cached;
    const keys = this.byService.get(service);
    if (!keys) return [];
    const out: EndpointFacts[] = [];
    for (const k of keys) for (const e of this.slices.get(k)?.endpoints ?? []) out.push(e);
    this.merged.set(service, out);
    return out;
  }
}
