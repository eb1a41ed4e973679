// Conflicts with other LoadBalancer implementations (pure: plain data and the time in, decisions out).
//
// - A foreign status writer: someone else rewrites status.loadBalancer of a Service Bollard serves
//   (k3s ServiceLB, kube-vip's cloud provider, MetalLB, a person) with IPs Bollard cannot adopt (a valid
//   free IP of the Service's pools is kept, as after a previous leader's write). Bollard does not fight:
//   it writes its own status back with a growing delay (1 s, 2 s, 4 s … 60 s), raises the conflict at
//   once, and clears it when its status has held for a quiet period.
// - Another implementation installed beside Bollard while Bollard serves the Services that have no
//   loadBalancerClass (k3s ServiceLB's svclb-* DaemonSets, kube-vip, MetalLB itself): every Service
//   Bollard serves is affected, since each implementation takes the unclassed Services.
import { backoffDelay, type BackoffPolicy } from '../k8s/backoff.js';
import type { WantedCondition } from '../k8s/service-conditions.js';

export const IMPLEMENTATION_CONFLICT = 'bollard.io/ImplementationConflict';
export const REASON_FOREIGN_STATUS_WRITER = 'ForeignStatusWriter';
export const REASON_OTHER_LOAD_BALANCER = 'OtherLoadBalancer';
export const REASON_NO_CONFLICT = 'NoConflict';
import { CONTROLLER_FIELD_MANAGER } from '../k8s/projection.js';
export { CONTROLLER_FIELD_MANAGER };

// ------------------------------------------------------------------------------------ foreign writer

/** A managedFields entry as the controller keeps it (k8s/projection.ts controllerService): only those that own part of status.loadBalancer. */
export interface StatusManager {
  manager?: string;
}

/**
 * The managers other than Bollard's that own status.loadBalancer now. An entry without a manager name
 * (a client that sent neither fieldManager nor User-Agent, as Bollard's writes before it named itself)
 * is not counted: it cannot be told apart from ours.
 */
export function foreignStatusManagers(
  managers: readonly StatusManager[] | undefined,
  ours: readonly string[] = [CONTROLLER_FIELD_MANAGER],
): string[] {
  const out = new Set<string>();
  for (const m of managers ?? []) if (m.manager && !ours.includes(m.manager)) out.add(m.manager);
  return [...out].sort();
}

export interface ForeignWriterPolicy {
  /** Delays between Bollard's own rewrites while a foreign writer keeps rewriting (default 1 s … 60 s). */
  readonly rewrite: BackoffPolicy;
  /** The conflict clears once Bollard's status has held this long after the last foreign write (10 s). */
  readonly quietMs: number;
}

export const DEFAULT_FOREIGN_WRITER_POLICY: ForeignWriterPolicy = {
  rewrite: { initialMs: 1000, maxMs: 60_000 },
  quietMs: 10_000,
};

interface ForeignState {
  /** Names of the foreign managers last seen. */
  managers: string[];
  /** The foreign IPs last seen. */
  ips: string[];
  lastForeignAt: number;
  /** Bollard's rewrites since the conflict began. */
  rewrites: number;
  nextRewriteAt: number;
}

export type ForeignVerdict =
  | { kind: 'rewrite' }
  | { kind: 'wait'; retryInMs: number }
  | { kind: 'holding'; clearInMs: number }
  | { kind: 'none' };

export interface ForeignConflict {
  managers: readonly string[];
  ips: readonly string[];
  rewrites: number;
}

/** Per Service: is a foreign writer fighting Bollard over its status, and may Bollard write now. */
export class ForeignWriters {
  private readonly state = new Map<string, ForeignState>();

  constructor(private readonly policy: ForeignWriterPolicy = DEFAULT_FOREIGN_WRITER_POLICY) {}

  /** The Service's status is not Bollard's assignment and `managers` wrote it. */
  foreign(key: string, managers: readonly string[], ips: readonly string[], now: number): ForeignVerdict {
    let s = this.state.get(key);
    if (!s) {
      s = { managers: [...managers], ips: [...ips], lastForeignAt: now, rewrites: 0, nextRewriteAt: now };
      this.state.set(key, s);
    }
    s.managers = [...managers];
    s.ips = [...ips];
    s.lastForeignAt = now;
    if (now < s.nextRewriteAt) return { kind: 'wait', retryInMs: s.nextRewriteAt - now };
    s.rewrites++;
    s.nextRewriteAt = now + backoffDelay(this.policy.rewrite, s.rewrites);
    return { kind: 'rewrite' };
  }

  /** The Service's status is Bollard's assignment: the conflict, if any, clears after the quiet period. */
  holds(key: string, now: number): ForeignVerdict {
    const s = this.state.get(key);
    if (!s) return { kind: 'none' };
    const quietFor = now - s.lastForeignAt;
    if (quietFor >= this.policy.quietMs) {
      this.state.delete(key);
      return { kind: 'none' };
    }
    return { kind: 'holding', clearInMs: this.policy.quietMs - quietFor };
  }

  /** The conflict on this Service, while there is one. */
  conflict(key: string): ForeignConflict | undefined {
    const s = this.state.get(key);
    return s && { managers: s.managers, ips: s.ips, rewrites: s.rewrites };
  }

  /** The Service is gone or no longer Bollard's. */
  forget(key: string): void {
    this.state.delete(key);
  }

  get count(): number {
    return this.state.size;
  }
}

// ------------------------------------------------------------------------------------ other implementations

/** A DaemonSet or Deployment as the controller keeps it to look for other implementations. */
export interface WorkloadFacts {
  kind: 'DaemonSet' | 'Deployment';
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  images: readonly string[];
  /** A Deployment's spec.replicas (0 = it runs nothing: MetalLB's controller scaled down during a migration). */
  replicas?: number;
}

export interface OtherImplementation {
  /** 'k3s ServiceLB', 'kube-vip', 'MetalLB' */
  implementation: string;
  /** "DaemonSet kube-system/svclb-web-1a2b3c" */
  object: string;
}

const K3S_SVCLB_LABEL = 'svccontroller.k3s.cattle.io/svcname';

function isBollard(w: WorkloadFacts): boolean {
  const l = w.labels;
  return (
    l['app.kubernetes.io/name'] === 'bollard' ||
    l['app.kubernetes.io/part-of'] === 'bollard' ||
    w.images.some((i) => /(^|\/)bollard(:|@|$)/.test(i))
  );
}

/** Which implementation a workload is, if it is one Bollard clashes with. */
export function implementationOf(w: WorkloadFacts): string | undefined {
  if (isBollard(w) || (w.kind === 'Deployment' && w.replicas === 0)) return undefined;
  const name = w.name.toLowerCase();
  const images = w.images.map((i) => i.toLowerCase());
  if (
    (w.kind === 'DaemonSet' && name.startsWith('svclb-')) ||
    w.labels[K3S_SVCLB_LABEL] !== undefined ||
    images.some((i) => i.includes('klipper-lb'))
  )
    return 'k3s ServiceLB';
  if (name.startsWith('kube-vip') || images.some((i) => /(^|\/)kube-vip(-cloud-provider)?(:|@|$)/.test(i)))
    return 'kube-vip';
  if (
    w.labels['app'] === 'metallb' ||
    w.labels['app.kubernetes.io/name'] === 'metallb' ||
    images.some((i) => /(^|\/)metallb\/(controller|speaker)(:|@|$)/.test(i))
  )
    return 'MetalLB';
  return undefined;
}

/** Every other implementation among the workloads, sorted (a stable message for the condition). */
export function otherImplementations(workloads: Iterable<WorkloadFacts>): OtherImplementation[] {
  const out: OtherImplementation[] = [];
  for (const w of workloads) {
    const implementation = implementationOf(w);
    if (implementation) out.push({ implementation, object: `${w.kind} ${w.namespace}/${w.name}` });
  }
  return out.sort((a, b) =>
    a.implementation === b.implementation
      ? a.object.localeCompare(b.object)
      : a.implementation.localeCompare(b.implementation),
  );
}

/** "k3s ServiceLB (DaemonSet kube-system/svclb-a, +2 more)" */
export function describeOthers(others: readonly OtherImplementation[]): string {
  const by = new Map<string, string[]>();
  for (const o of others) by.set(o.implementation, [...(by.get(o.implementation) ?? []), o.object]);
  return [...by]
    .map(([impl, objs]) => `${impl} (${objs[0]}${objs.length > 1 ? `, +${objs.length - 1} more` : ''})`)
    .join(', ');
}

// ------------------------------------------------------------------------------------ the condition

/** What bollard.io/ImplementationConflict should say of one Service; undefined = no conflict. */
export function implementationCondition(
  foreign: ForeignConflict | undefined,
  others: readonly OtherImplementation[],
): WantedCondition | undefined {
  const otherText = others.length
    ? `another LoadBalancer implementation serves Services without a loadBalancerClass too: ${describeOthers(others)}; give one of them a loadBalancerClass (Bollard: --lb-class) or remove it`
    : '';
  if (foreign)
    return {
      status: 'True',
      reason: REASON_FOREIGN_STATUS_WRITER,
      message:
        `status.loadBalancer was rewritten by ${foreign.managers.join(', ') || 'another client'}` +
        ` (to ${foreign.ips.join(', ') || 'nothing'}); Bollard writes its own back at a growing interval and does not fight` +
        (otherText ? `; ${otherText}` : ''),
    };
  if (others.length) return { status: 'True', reason: REASON_OTHER_LOAD_BALANCER, message: otherText };
  return undefined;
}

export const NO_IMPLEMENTATION_CONFLICT = {
  reason: REASON_NO_CONFLICT,
  message: 'no other writer of status.loadBalancer and no other LoadBalancer implementation seen',
};

/**
 * Events for one transition of the other-implementation set, at most `limit` (the condition on every
 * Service says it; Events on 10,000 Services would be a flood).
 */
export class EventBudget {
  private left: number;
  constructor(private readonly limit: number) {
    this.left = limit;
  }
  take(): boolean {
    if (this.left <= 0) return false;
    this.left--;
    return true;
  }
  reset(): void {
    this.left = this.limit;
  }
}
