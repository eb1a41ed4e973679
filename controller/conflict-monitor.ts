// The I/O around controller/conflicts.ts: watches DaemonSets and Deployments (kept as name, labels and
// images only) for other LoadBalancer implementations while Bollard serves the Services without a
// loadBalancerClass; decides, for each Service the reconciler passes, whether Bollard may write its
// status now (a foreign writer is answered at a growing interval, never in a loop); and writes the
// bollard.io/ImplementationConflict condition, its Warning Events and bollard_conflicts.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient, ResourceRef } from '../k8s/client.js';
import { Informer } from '../k8s/informer.js';
import { logListenerError } from '../k8s/informer-delivery.js';
import { leanMeta, type MetaView } from '../k8s/projection.js';
import type { Logger } from '../k8s/logger.js';
import {
  ConditionsInFlight,
  conditionOf,
  nextCondition,
  patchServiceCondition,
  type ServedCondition,
} from '../k8s/service-conditions.js';
import { wallClock, type Clock, type TimerHandle } from '../proto/clock.js';
import {
  CONTROLLER_FIELD_MANAGER,
  DEFAULT_FOREIGN_WRITER_POLICY,
  EventBudget,
  ForeignWriters,
  IMPLEMENTATION_CONFLICT,
  NO_IMPLEMENTATION_CONFLICT,
  REASON_FOREIGN_STATUS_WRITER,
  REASON_OTHER_LOAD_BALANCER,
  describeOthers,
  foreignStatusManagers,
  implementationCondition,
  otherImplementations,
  type ForeignVerdict,
  type ForeignWriterPolicy,
  type OtherImplementation,
  type StatusManager,
  type WorkloadFacts,
} from './conflicts.js';
import type { ControllerEvents } from './events.js';
import type { ControllerMetrics } from './metrics.js';
import type { Service } from './informers.js';
import { statusIPs } from './request.js';

const APPS = {
  daemonSets: { group: 'apps', version: 'v1', plural: 'daemonsets', namespaced: true },
  deployments: { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
} as const satisfies Record<string, ResourceRef>;

/** A workload as kept: lean metadata and the images of its pod template, nothing else. */
type Workload = KubernetesObject & { metadata: MetaView; images?: string[]; replicas?: number };

interface ServedWorkload extends KubernetesObject {
  metadata?: MetaView;
  spec?: {
    replicas?: number;
    template?: { spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[] } };
  };
}

function workloadProjection(o: ServedWorkload): Workload {
  const podSpec = o.spec?.template?.spec;
  const images = [...(podSpec?.containers ?? []), ...(podSpec?.initContainers ?? [])]
    .map((c) => c.image)
    .filter((i): i is string => typeof i === 'string');
  return {
    metadata: leanMeta(o.metadata),
    images,
    ...(typeof o.spec?.replicas === 'number' ? { replicas: o.spec.replicas } : {}),
  };
}

export interface ConflictMonitorOptions {
  client: KubeClient;
  log: Logger;
  metrics: ControllerMetrics;
  events: ControllerEvents;
  /** Bollard's loadBalancerClass: set, the other implementations do not take its Services (no watch). */
  lbClass: string | undefined;
  /** Monotonic time for the foreign-writer delays (the reconciler's clock). */
  clock: Clock;
  /** Times written into conditions (default wallClock). */
  wall?: Clock;
  policy?: ForeignWriterPolicy;
  /** Reconcile this Service again (after a delay ran out). */
  requeue: (key: string) => void;
  /** Reconcile every Service Bollard serves (the set of other implementations changed). */
  requeueAll: () => void;
  /** Other-implementation Warning Events per transition (default 10; the condition is on every Service). */
  eventsPerTransition?: number;
}

export class ConflictMonitor {
  private readonly foreign: ForeignWriters;
  private readonly workloads: Informer<Workload>[] = [];
  private others: OtherImplementation[] = [];
  private othersSig = '';
  private readonly budget: EventBudget;
  private readonly timers = new Map<string, { due: number; handle: TimerHandle }>();
  private readonly wall: Clock;
  private readonly inFlight = new ConditionsInFlight();

  constructor(private readonly o: ConflictMonitorOptions) {
    this.foreign = new ForeignWriters(o.policy ?? DEFAULT_FOREIGN_WRITER_POLICY);
    this.wall = o.wall ?? wallClock;
    this.budget = new EventBudget(o.eventsPerTransition ?? 10);
    if (o.lbClass === undefined) {
      for (const [what, ref] of [
        ['daemonsets', APPS.daemonSets],
        ['deployments', APPS.deployments],
      ] as const) {
        const inf = new Informer<Workload>(o.client, {
          resource: ref,
          transform: (x) => workloadProjection(x as ServedWorkload),
          onError: (err) => {
            o.metrics.updateErrors.inc();
            o.log.warn({ err: err.message, informer: what }, `watch of ${what} failed; retrying`);
          },
          onListenerError: logListenerError(o.log),
        });
        for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, () => this.workloadsChanged());
        inf.on('synced', () => this.workloadsChanged());
        this.workloads.push(inf);
      }
    }
    this.setGauges();
  }

  async start(): Promise<void> {
    await Promise.all(this.workloads.map((i) => i.start()));
    this.workloadsChanged();
  }

  async stop(): Promise<void> {
    for (const t of this.timers.values()) this.o.clock.clearTimer(t.handle);
    this.timers.clear();
    await Promise.all(this.workloads.map((i) => i.stop()));
  }

  /** The other implementations seen now. */
  get otherImplementations(): readonly OtherImplementation[] {
    return this.others;
  }

  private workloadsChanged(): void {
    const facts: WorkloadFacts[] = [];
    for (const [i, inf] of this.workloads.entries())
      for (const w of inf.list())
        facts.push({
          kind: i === 0 ? 'DaemonSet' : 'Deployment',
          namespace: w.metadata.namespace ?? '',
          name: w.metadata.name ?? '',
          labels: w.metadata.labels ?? {},
          images: w.images ?? [],
          ...(i === 1 && w.replicas !== undefined ? { replicas: w.replicas } : {}),
        });
    const others = otherImplementations(facts);
    const sig = JSON.stringify(others);
    if (sig === this.othersSig) return;
    this.othersSig = sig;
    this.others = others;
    this.budget.reset();
    this.setGauges();
    if (others.length)
      this.o.log.warn(
        { implementations: others },
        `another LoadBalancer implementation is installed: ${describeOthers(others)}`,
      );
    else this.o.log.info({}, 'no other LoadBalancer implementation is installed');
    this.o.requeueAll();
  }

  /**
   * Before the reconciler writes a Service's status: whether the status it sees was written by someone
   * else over Bollard's assignment (`assigned`: what Bollard holds for it now, if anything). Returns
   * whether the status may be written now; otherwise the Service is reconciled again when it may.
   */
  mayWrite(svc: Service, assigned: readonly string[] | undefined): { foreign: boolean; write: boolean } {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const current = statusIPs(svc);
    const managers = foreignStatusManagers(
      (svc.metadata as { managedFields?: StatusManager[] }).managedFields,
    );
    const differs =
      assigned !== undefined &&
      assigned.length > 0 &&
      current.length > 0 &&
      [...current].sort().join(',') !== [...assigned].sort().join(',');
    if (!differs || managers.length === 0) return { foreign: false, write: true };
    const v = this.foreign.foreign(key, managers, current, this.o.clock.now());
    this.afterVerdict(key, v);
    if (v.kind === 'rewrite')
      this.o.log.warn(
        { service: key, managers, ips: current, rewrites: this.foreign.conflict(key)?.rewrites },
        `status.loadBalancer of Service ${key} was rewritten by ${managers.join(', ')}; writing Bollard's back`,
      );
    return { foreign: true, write: v.kind === 'rewrite' };
  }

  /** After a reconcile: writes the condition when it changed; Events on a transition into conflict. */
  async sync(svc: Service, statusIsOurs: boolean): Promise<void> {
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    if (statusIsOurs) this.afterVerdict(key, this.foreign.holds(key, this.o.clock.now()));
    this.setGauges();
    const want = implementationCondition(this.foreign.conflict(key), this.others);
    const served = conditionOf(
      (svc.status as { conditions?: ServedCondition[] } | undefined)?.conditions,
      IMPLEMENTATION_CONFLICT,
    );
    const generation = (svc.metadata as { generation?: number }).generation;
    const change = nextCondition(
      IMPLEMENTATION_CONFLICT,
      served,
      want,
      this.wall.now(),
      generation,
      NO_IMPLEMENTATION_CONFLICT,
    );
    if (!change.write || !this.inFlight.needed(key, svc.metadata.uid, served, change.write)) return;
    const c = change.write;
    const raisedNow = c.status === 'True' && (change.raised || served?.reason !== c.reason);
    if (
      !(await patchServiceCondition(
        this.o.client,
        svc.metadata.namespace ?? '',
        svc.metadata.name,
        c,
        CONTROLLER_FIELD_MANAGER,
      ))
    )
      return;
    this.inFlight.wrote(key, svc.metadata.uid, c);
    this.o.metrics.updates.inc();
    if (
      raisedNow &&
      (c.reason === REASON_FOREIGN_STATUS_WRITER ||
        (c.reason === REASON_OTHER_LOAD_BALANCER && this.budget.take()))
    )
      this.o.events.service(svc, 'Warning', c.reason, c.message);
    if (change.cleared) this.o.log.info({ service: key }, `Service ${key}: implementation conflict cleared`);
    else if (raisedNow) this.o.log.warn({ service: key, reason: c.reason }, `Service ${key}: ${c.message}`);
  }

  /** The Service is gone or no longer Bollard's. */
  forget(key: string): void {
    this.foreign.forget(key);
    this.inFlight.forget(key);
    const t = this.timers.get(key);
    if (t) this.o.clock.clearTimer(t.handle);
    this.timers.delete(key);
    this.setGauges();
  }

  private afterVerdict(key: string, v: ForeignVerdict): void {
    const ms = v.kind === 'wait' ? v.retryInMs : v.kind === 'holding' ? v.clearInMs : undefined;
    if (ms === undefined) return;
    const due = this.o.clock.now() + ms;
    const t = this.timers.get(key);
    if (t && t.due <= due) return; // one timer per Service, the earliest
    if (t) this.o.clock.clearTimer(t.handle);
    this.timers.set(key, {
      due,
      handle: this.o.clock.setTimer(() => {
        this.timers.delete(key);
        this.o.requeue(key);
      }, ms),
    });
  }

  private setGauges(): void {
    this.o.metrics.conflicts.set({ kind: 'foreign_status_writer' }, this.foreign.count);
    this.o.metrics.conflicts.set({ kind: 'other_load_balancer' }, this.others.length);
  }
}
