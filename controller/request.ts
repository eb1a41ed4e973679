// What the allocator needs to know about a Service, and how to read it from a Service object (pure).
// Annotations: metallb.io/… wins over the deprecated metallb.universe.tf/… key, whose use is reported.
import { canonicalIP, parseIP, type Family } from '../config/ip.js';

export const ANNOTATION_PREFIX = 'metallb.io/';
export const DEPRECATED_PREFIX = 'metallb.universe.tf/';
export const ANN_LB_IPS = 'loadBalancerIPs';
export const ANN_POOL = 'address-pool';
export const ANN_SHARED = 'allow-shared-ip';
export const ANN_ALLOCATED_FROM = 'metallb.io/ip-allocated-from-pool';

export type DualStackPolicy = 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';

export interface PortSpec {
  protocol: string;
  port: number;
}

export interface ServiceRequest {
  /** namespace/name */
  key: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  namespaceLabels: Readonly<Record<string, string>>;
  /** The families the Service wants addresses for, primary first. */
  families: readonly Family[];
  policy: DualStackPolicy;
  /** Canonical requested addresses (annotation or spec.loadBalancerIP); empty = any. */
  requestedIPs: readonly string[];
  pool: string | undefined;
  sharingKey: string | undefined;
  ports: readonly PortSpec[];
  etpLocal: boolean;
  /** spec.selector as a stable string (ETP Local Services share only with identical selectors). */
  selector: string;
}

/** The parts of a v1 Service we read. */
export interface ServiceLike {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    uid?: string;
    resourceVersion?: string;
  };
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    clusterIPs?: string[];
    ports?: { protocol?: string; port?: number }[];
    externalTrafficPolicy?: string;
    selector?: Record<string, string>;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: string }[] } };
}

export type RequestResult =
  | { ok: true; request: ServiceRequest; deprecated: string[] }
  | { ok: false; reason: string; deprecated: string[] };

/** Reads an annotation, preferring metallb.io/ over the deprecated key; notes deprecated use. */
function annotation(ann: Record<string, string>, name: string, deprecated: string[]): string | undefined {
  const current = ann[ANNOTATION_PREFIX + name];
  const old = ann[DEPRECATED_PREFIX + name];
  if (old !== undefined) deprecated.push(DEPRECATED_PREFIX + name);
  return current ?? old;
}

function familyOf(s: string): Family | undefined {
  if (s === 'IPv4') return 4;
  if (s === 'IPv6') return 6;
  return undefined;
}

export function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

/** Whether this controller handles the Service: type LoadBalancer and the right loadBalancerClass. */
export function isOurs(svc: ServiceLike, lbClass: string | undefined): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  if (!lbClass) return cls === undefined || cls === '';
  return cls === lbClass;
}

export function serviceKey(svc: ServiceLike): string {
  return `${svc.metadata.namespace ?? ''}/${svc.metadata.name}`;
}

/**
 * The order in which Services keep contested addresses on a rebuild: older first (creationTimestamp,
 * which has one-second resolution), and within one second by namespace/name.
 */
export function olderFirst(a: ServiceLike, b: ServiceLike): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = serviceKey(a);
  const kb = serviceKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The IPs the Service currently has in status.loadBalancer.ingress (canonical). */
export function statusIPs(svc: ServiceLike): string[] {
  const out: string[] = [];
  for (const i of svc.status?.loadBalancer?.ingress ?? []) {
    const c = i.ip ? canonicalIP(i.ip) : undefined;
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}

export function serviceRequest(
  svc: ServiceLike,
  namespaceLabels: Readonly<Record<string, string>>,
): RequestResult {
  const deprecated: string[] = [];
  const ann = svc.metadata.annotations ?? {};
  const spec = svc.spec ?? {};
  const key = serviceKey(svc);
  const fail = (reason: string): RequestResult => ({ ok: false, reason, deprecated });

  const fams: Family[] = [];
  for (const f of spec.ipFamilies ?? []) {
    const fam = familyOf(f);
    if (fam && !fams.includes(fam)) fams.push(fam);
  }
  if (fams.length === 0) {
    for (const ip of spec.clusterIPs ?? []) {
      const p = parseIP(ip);
      if (p && !fams.includes(p.family)) fams.push(p.family);
    }
  }
  if (fams.length === 0) fams.push(4);
  const policy: DualStackPolicy =
    spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack'
      ? spec.ipFamilyPolicy
      : 'SingleStack';
  if (policy === 'RequireDualStack' && fams.length < 2)
    return fail(
      `ipFamilyPolicy RequireDualStack needs both IPv4 and IPv6, but the Service has only ${familyName(fams[0] ?? 4)}`,
    );
  const families = policy === 'SingleStack' ? fams.slice(0, 1) : fams;

  const annIPs = annotation(ann, ANN_LB_IPS, deprecated);
  const specIP = spec.loadBalancerIP?.trim() || undefined;
  let requested: string[] = [];
  if (annIPs !== undefined && annIPs.trim() !== '' && specIP !== undefined)
    return fail(
      `spec.loadBalancerIP and the ${ANNOTATION_PREFIX}${ANN_LB_IPS} annotation are both set; use only the annotation`,
    );
  const raw =
    annIPs !== undefined && annIPs.trim() !== ''
      ? annIPs.split(',').map((s) => s.trim())
      : specIP
        ? [specIP]
        : [];
  for (const s of raw) {
    const c = canonicalIP(s);
    if (!c) return fail(`requested IP "${s}" is not a valid IP address`);
    if (requested.includes(c)) return fail(`requested IP ${c} is listed twice`);
    requested.push(c);
  }
  if (requested.length > 2)
    return fail(`at most 2 IPs can be requested (one per family), got ${requested.length}`);
  if (requested.length === 2 && parseIP(requested[0] ?? '')?.family === parseIP(requested[1] ?? '')?.family)
    return fail(
      `the requested IPs ${requested.join(', ')} are of the same family; request at most one IPv4 and one IPv6`,
    );
  for (const ip of requested) {
    const fam = parseIP(ip)?.family ?? 4;
    if (!families.includes(fam))
      return fail(
        `requested IP ${ip} is ${familyName(fam)} but the Service is ${families.map(familyName).join('/')}${families.length === 1 ? '-only' : ''}`,
      );
  }
  if (policy === 'RequireDualStack' && requested.length === 1)
    return fail(
      `ipFamilyPolicy RequireDualStack needs one IPv4 and one IPv6 address, but only ${requested[0]} is requested`,
    );
  requested = [...requested].sort((a, b) => (parseIP(a)?.family ?? 4) - (parseIP(b)?.family ?? 4));

  const pool = annotation(ann, ANN_POOL, deprecated)?.trim() || undefined;
  const sharingKey = annotation(ann, ANN_SHARED, deprecated)?.trim() || undefined;
  const ports: PortSpec[] = (spec.ports ?? []).map((p) => ({
    protocol: p.protocol ?? 'TCP',
    port: p.port ?? 0,
  }));
  const sel = spec.selector ?? {};
  const selector = Object.keys(sel)
    .sort()
    .map((k) => `${k}=${sel[k]}`)
    .join(',');
  return {
    ok: true,
    deprecated,
    request: {
      key,
      namespace: svc.metadata.namespace ?? '',
      name: svc.metadata.name,
      labels: svc.metadata.labels ?? {},
      namespaceLabels,
      families,
      policy,
      requestedIPs: requested,
      pool,
      sharingKey,
      ports,
      etpLocal: spec.externalTrafficPolicy === 'Local',
      selector,
    },
  };
}
