// The reconciler: feeds the allocator from informers and writes the outcome to the apiserver.
//
// Every replica keeps its caches warm; only the leader decides and writes. On becoming leader it first
// rebuilds the allocator from every Service's status (oldest Service first, so a conflict is resolved the
// same way every time), then reconciles everything. Writes are status patches with a resourceVersion
// precondition, the ip-allocated-from-pool annotation, Events, pool status and the ConfigurationState.
import type { KubeClient } from '../k8s/client.js';
import { Informer, specOrLabelsChanged } from '../k8s/informer.js';
import type { EventRecorder } from '../k8s/events.js';
import type { Logger } from '../k8s/logger.js';
import { monotonicClock, type Clock, type TimerHandle } from '../proto/clock.js';
import { parseConfig } from '../config/parse.js';
import type { ConfigError } from '../config/errors.js';
import type { Config } from '../config/types.js';
import { Allocator, type Cleared } from './allocator.js';
import { rebuildAllocator } from './rebuild.js';
import { logConfigResult } from './config-report.js';
import type { ControllerMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { Periodic } from './periodic.js';
import {
  CONFIG_KINDS,
  configInput,
  configObject,
  controllerInformers,
  listServices,
  type CR,
  type ConfigKey,
  type Namespace,
  type Service,
} from './informers.js';
import { StatusWriter, configStateStatus, sameList } from './status-writer.js';
import { ControllerEvents } from './events.js';
import { ConflictMonitor } from './conflict-monitor.js';
import type { ForeignWriterPolicy } from './conflicts.js';
import {
  ANN_ALLOCATED_FROM,
  ANNOTATION_PREFIX,
  DEPRECATED_PREFIX,
  isOurs,
  serviceKey,
  serviceRequest,
  statusIPs,
} from './request.js';

export interface ReconcilerOptions {
  client: KubeClient;
  namespace: string;
  lbClass?: string;
  log: Logger;
  metrics: ControllerMetrics;
  events: EventRecorder;
  /** Services reconciled at once (default 32). */
  concurrency?: number;
  /** How often pool status is written at most (default 1 s). */
  poolStatusIntervalMs?: number;
  /** Timers: the configuration reload debounce, retries, the pool status pass (default monotonicClock). */
  clock?: Clock;
  /** How Bollard answers a foreign writer of a Service's status (controller/conflicts.ts defaults). */
  foreignWriterPolicy?: ForeignWriterPolicy;
}

export class Reconciler {
  readonly services: Informer<Service>;
  readonly namespaces: Informer<Namespace>;
  readonly crs: Record<ConfigKey, Informer<CR>>;
  private allocator = new Allocator();
  private config: Config | undefined;
  private configErrors: ConfigError[] = [];
  private configTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  /** Pool status (and the pool and queue gauges), every second; one pass at a time. */
  private readonly poolStatus: Periodic;
  private poolStatusDirty = true;
  private readonly queue: WorkQueue;
  private readonly events: ControllerEvents;
  /** The writes to the apiserver: Service status, pool status, ConfigurationState. */
  private readonly status: StatusWriter;
  /** Other LoadBalancer implementations and foreign writers of our Services' status. */
  readonly conflicts: ConflictMonitor;
  /** Why a Service's previous IPs were dropped outside ensure() (pool change, restart conflict). */
  private readonly pendingClear = new Map<string, Cleared>();
  /** Services that could not get an address; retried when addresses are freed. */
  private readonly failed = new Set<string>();
  /** Services we hold (or held) an assignment for: the only non-matching Services we may clean up. */
  private leading = false;
  private term = 0;
  private synced = false;
  private stopped = false;

  constructor(private readonly o: ReconcilerOptions) {
    this.clock = o.clock ?? monotonicClock;
    const informers = controllerInformers(o);
    this.services = informers.services;
    this.namespaces = informers.namespaces;
    this.crs = informers.crs;
    this.events = new ControllerEvents({
      events: o.events,
      log: o.log,
      namespace: o.namespace,
      uidOf: (kind, namespace, name) => configObject(this.crs, kind, namespace, name)?.metadata?.uid,
    });
    this.status = new StatusWriter({
      client: o.client,
      namespace: o.namespace,
      log: o.log,
      metrics: o.metrics,
      clock: this.clock,
      acting: (term) => this.acting(term),
      configState: () => configStateStatus(this.config !== undefined, this.configErrors),
    });
    this.conflicts = new ConflictMonitor({
      client: o.client,
      log: o.log,
      metrics: o.metrics,
      events: this.events,
      lbClass: o.lbClass,
      clock: this.clock,
      ...(o.foreignWriterPolicy ? { policy: o.foreignWriterPolicy } : {}),
      requeue: (key) => this.enqueue(key),
      requeueAll: () => {
        if (!this.leading) return;
        for (const s of this.services.list()) if (isOurs(s, this.o.lbClass)) this.enqueue(serviceKey(s));
      },
    });
    this.poolStatus = new Periodic({
      intervalMs: o.poolStatusIntervalMs ?? 1000,
      clock: this.clock,
      pass: () => this.writePoolStatus(),
      onError: (err) => {
        o.metrics.updateErrors.inc();
        o.log.warn(
          { err: err.message, stack: err.stack },
          'pool status pass failed; the next one runs as usual',
        );
      },
    });
    this.queue = new WorkQueue({
      concurrency: o.concurrency ?? 32,
      clock: this.clock,
      handler: (key) => this.reconcile(key),
      onError: (key, err, retry) => {
        o.metrics.updateErrors.inc();
        o.log.warn(
          { service: key, err: err.message, retryInMs: retry },
          `reconcile of Service ${key} failed; retrying`,
        );
      },
    });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get ready(): boolean {
    return this.synced;
  }

  get queueDepth(): number {
    return this.queue.depth;
  }

  /** The allocator's current view (for tests and diagnostics). */
  get currentAllocator(): Allocator {
    return this.allocator;
  }

  async start(): Promise<void> {
    this.services.on('add', (s) => this.onService(s));
    this.services.on('update', (s) => this.onService(s));
    this.services.on('delete', (s) => this.enqueue(serviceKey(s)));
    this.namespaces.on('update', (n, old) => {
      if (JSON.stringify(n.metadata.labels ?? {}) !== JSON.stringify(old.metadata?.labels ?? {}))
        this.enqueueNamespace(n.metadata.name);
    });
    this.namespaces.on('add', (n) => this.enqueueNamespace(n.metadata.name));
    // Our own pool status writes come back as updates: only spec or label changes reload.
    for (const [k, inf] of Object.entries(this.crs) as [ConfigKey, Informer<CR>][]) {
      const kind = CONFIG_KINDS[k].kind;
      inf.on('add', (o) => this.scheduleConfig(kind, o, 'add'));
      inf.on('update', (o, old) => specOrLabelsChanged(o, old) && this.scheduleConfig(kind, o, 'update'));
      inf.on('delete', (o) => this.scheduleConfig(kind, o, 'delete'));
    }
    await Promise.all([
      this.services.start(),
      this.namespaces.start(),
      ...Object.values(this.crs).map((i) => i.start()),
      this.conflicts.start(),
    ]);
    this.loadConfig();
    this.synced = true;
    this.poolStatus.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopLeading('stopping');
    this.clearTimer(this.configTimer);
    this.status.stop();
    this.poolStatus.stop();
    await Promise.all([
      this.services.stop(),
      this.namespaces.stop(),
      ...Object.values(this.crs).map((i) => i.stop()),
      this.conflicts.stop(),
    ]);
  }

  // ------------------------------------------------------------------------------------------ leadership

  /** Called when this replica becomes leader: rebuild from status first, then reconcile everything. */
  async startLeading(): Promise<void> {
    if (this.leading || this.stopped) return;
    this.leading = true;
    const term = ++this.term;
    this.o.metrics.isLeader.set(1);
    // Rebuild from a fresh (quorum) list, not the cache: after an apiserver or etcd restart the watch
    // may not yet carry the previous leader's last writes, and IPs it gave would be given twice.
    let fresh: Service[] | undefined;
    try {
      fresh = await listServices(this.o.client);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not list Services; rebuilding from the cache');
    }
    if (!this.acting(term)) return;
    this.rebuild(fresh);
    this.status.forget();
    this.poolStatusDirty = true;
    this.status.configStateLater(term);
    this.queue.start();
    for (const s of this.services.list()) this.queue.add(serviceKey(s));
    this.o.log.info(
      { services: this.services.size, assignments: this.allocator.assignmentCount },
      'leading: rebuilt allocations from Service status',
    );
  }

  /** Called when leadership is lost: stop acting at once. */
  stopLeading(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.term++;
    this.queue.stop();
    this.o.metrics.isLeader.set(0);
    this.o.metrics.queueDepth.set(0);
    this.o.log.warn({ reason }, 'no longer leading: stopped acting');
  }

  private acting(term: number): boolean {
    return this.leading && term === this.term && !this.stopped;
  }

  /** Rebuilds the allocator from every Service's status.loadBalancer.ingress, oldest Service first. */
  private rebuild(services?: readonly Service[]): void {
    const pools = this.config ? [...this.config.pools.values()] : undefined;
    const r = rebuildAllocator(pools, services ?? this.services.list(), this.o.lbClass, (s) =>
      this.nsLabels(s),
    );
    this.allocator = r.allocator;
    this.failed.clear();
    this.pendingClear.clear();
    for (const [service, lost] of r.lost) {
      this.pendingClear.set(service, lost);
      this.o.log.warn({ service, ...lost }, `Service ${service} cannot keep ${lost.ips.join(', ')}`);
    }
  }

  // ------------------------------------------------------------------------------------------ events in

  private onService(s: Service): void {
    this.enqueue(serviceKey(s));
  }

  private enqueue(key: string): void {
    if (!this.leading) return;
    this.queue.add(key);
    this.o.metrics.queueDepth.set(this.queue.depth);
  }

  private enqueueNamespace(ns: string): void {
    if (!this.leading) return;
    for (const s of this.services.list())
      if (s.metadata.namespace === ns && isOurs(s, this.o.lbClass)) this.enqueue(serviceKey(s));
  }

  private nsLabels(s: Service): Record<string, string> {
    return this.namespaces.get(s.metadata.namespace ?? '')?.metadata.labels ?? {};
  }

  /** A configuration object changed: reload (debounced). Says at debug level which one asked. */
  private scheduleConfig(kind: string, o: CR, event: 'add' | 'update' | 'delete'): void {
    if (!this.synced) return;
    this.o.log.debug(
      { object: { kind, namespace: o.metadata.namespace, name: o.metadata.name }, event },
      'configuration reload scheduled',
    );
    this.clearTimer(this.configTimer);
    this.configTimer = this.clock.setTimer(() => this.loadConfig(), 50);
  }

  private clearTimer(t: TimerHandle | undefined): void {
    if (t) this.clock.clearTimer(t);
  }

  // ------------------------------------------------------------------------------------------ config

  private loadConfig(): void {
    const res = parseConfig(configInput(this.crs));
    this.o.metrics.updates.inc();
    logConfigResult(this.o.log, res);
    if (!res.ok) {
      this.configErrors = res.errors;
      this.o.metrics.configStale.set(this.config ? 1 : 0);
      this.o.metrics.updateErrors.inc();
      if (this.leading) {
        const term = this.term;
        for (const e of res.errors) this.events.invalidConfig(e);
        this.status.configStateLater(term);
      }
      return;
    }
    this.config = res.config;
    this.configErrors = [];
    this.o.metrics.configLoaded.set(1);
    this.o.metrics.configStale.set(0);
    this.o.log.info({ pools: res.config.pools.size }, 'configuration loaded');
    if (!this.leading) return;
    const dropped = this.allocator.setPools([...res.config.pools.values()]);
    for (const [k, c] of dropped) this.pendingClear.set(k, c);
    this.poolStatusDirty = true;
    this.status.configStateLater(this.term);
    for (const s of this.services.list()) if (isOurs(s, this.o.lbClass)) this.enqueue(serviceKey(s));
  }

  // ------------------------------------------------------------------------------------------ reconcile

  private freed(): void {
    this.poolStatusDirty = true;
    for (const k of this.failed) this.queue.add(k);
  }

  private async reconcile(key: string): Promise<void> {
    const term = this.term;
    if (!this.acting(term)) return;
    this.o.metrics.queueDepth.set(this.queue.depth);
    const t0 = process.hrtime.bigint();
    let result = 'ok';
    try {
      result = await this.reconcileService(key, term);
    } catch (err) {
      result = 'error';
      throw err;
    } finally {
      this.o.metrics.reconcileSeconds.observe({ result }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  private async reconcileService(key: string, term: number): Promise<string> {
    const slash = key.indexOf('/');
    const svc = this.services.get(key.slice(0, slash), key.slice(slash + 1));
    if (!svc) {
      this.failed.delete(key);
      this.pendingClear.delete(key);
      this.status.serviceGone(key);
      this.conflicts.forget(key);
      if (this.allocator.release(key).length > 0) {
        this.o.log.info({ service: key }, `released the IPs of deleted Service ${key}`);
        this.freed();
      }
      return 'deleted';
    }
    if (!isOurs(svc, this.o.lbClass)) return this.notOurs(key, svc, term);
    if (!this.config) return 'waiting-for-config';

    const rr = serviceRequest(svc, this.nsLabels(svc));
    for (const d of rr.deprecated) {
      const name = d.slice(DEPRECATED_PREFIX.length);
      this.events.service(
        svc,
        'Warning',
        'deprecatedAnnotation',
        `annotation ${d} is deprecated, use ${ANNOTATION_PREFIX}${name}`,
      );
    }
    const pending = this.pendingClear.get(key);
    this.pendingClear.delete(key);
    if (!rr.ok) {
      const released = this.allocator.release(key);
      if (released.length) this.freed();
      this.failed.delete(key);
      await this.allocationFailed(svc, key, rr.reason, term);
      return 'invalid';
    }
    this.adoptStatus(key, svc, rr.request);
    // Status IPs that could not be adopted (outside the pools, held by another Service…), written by
    // another field manager: a foreign writer. Our status goes back only when the conflict's delay
    // allows (no write loop with the other writer).
    const { foreign, write } = this.conflicts.mayWrite(svc, this.allocator.assignment(key)?.ips);
    const res = this.allocator.ensure(rr.request);
    const cleared = res.cleared ?? pending;
    if (cleared && !sameList(cleared.ips, res.ok ? res.assignment.ips : [])) {
      this.events.service(
        svc,
        'Warning',
        'ClearAssignment',
        `Cleared ${cleared.ips.join(', ')}: ${cleared.reason}`,
      );
      this.o.log.warn(
        { service: key, ips: cleared.ips, reason: cleared.reason },
        `cleared the IPs of Service ${key}`,
      );
      this.freed();
    }
    if (!res.ok) {
      this.failed.add(key);
      await this.allocationFailed(svc, key, res.reason, term);
      return 'failed';
    }
    this.failed.delete(key);
    const { ips, pool } = res.assignment;
    const had = statusIPs(svc);
    if (res.changed) this.poolStatusDirty = true;
    const wrote = write && (await this.status.service(svc, ips, pool, term));
    if (this.acting(term)) await this.conflicts.sync(svc, sameList([...had].sort(), [...ips].sort()));
    if (wrote && !sameList(had, ips) && !foreign) {
      this.events.service(
        svc,
        'Normal',
        'IPAllocated',
        `Assigned IP ${JSON.stringify(ips)} from pool ${pool}`,
      );
      this.o.metrics.allocations.inc({ result: 'allocated' });
      this.o.log.info({ service: key, ips, pool }, `assigned ${ips.join(', ')} to Service ${key}`);
    }
    return 'ok';
  }

  /** No address for the Service: an Event, the metric, a log line, and its status cleared. */
  private async allocationFailed(svc: Service, key: string, reason: string, term: number): Promise<void> {
    this.events.service(svc, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${key}": ${reason}`);
    this.o.metrics.allocations.inc({ result: 'failed' });
    this.o.log.warn({ service: key, reason }, `cannot allocate for Service ${key}: ${reason}`);
    await this.status.service(svc, [], undefined, term);
  }

  /**
   * The Service's status names IPs the allocator does not give it (a previous leader wrote them after
   * this replica's cache was read, e.g. around an apiserver or etcd restart): the status wins, as in
   * the rebuild. An allocation of ours that was never written to any Service's status gives way (its
   * Service is reconciled again); an IP another Service holds in its own status does not.
   */
  private adoptStatus(key: string, svc: Service, request: Parameters<Allocator['ensure']>[0]): void {
    const ips = statusIPs(svc);
    const cur = this.allocator.assignment(key)?.ips ?? [];
    if (ips.length === 0 || sameList([...cur].sort(), [...ips].sort())) return;
    const others = [...new Set(ips.flatMap((ip) => this.allocator.usersOf(ip)))].filter((k) => k !== key);
    const unwritten = others.filter((k) => {
      const o = this.services.get(k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1));
      return !o || !statusIPs(o).some((ip) => ips.includes(ip));
    });
    if (unwritten.length !== others.length) return; // held in another Service's status: ensure() decides
    for (const k of unwritten) {
      this.allocator.release(k);
      this.enqueue(k);
    }
    const r = this.allocator.claim(request, ips);
    if (r.ok) {
      this.poolStatusDirty = true;
      this.o.log.info({ service: key, ips }, `Service ${key} keeps ${ips.join(', ')} from its status`);
    }
  }

  /** A Service that is not (or no longer) ours: release what we held; clean up only what we wrote. */
  private async notOurs(key: string, svc: Service, term: number): Promise<string> {
    this.failed.delete(key);
    this.conflicts.forget(key);
    this.pendingClear.delete(key);
    const released = this.allocator.release(key);
    if (released.length === 0) return 'not-ours';
    this.freed();
    const why =
      svc.spec?.type !== 'LoadBalancer'
        ? `the Service is no longer of type LoadBalancer (now ${svc.spec?.type ?? 'ClusterIP'})`
        : `the Service's loadBalancerClass is now ${svc.spec?.loadBalancerClass ?? '(none)'}`;
    this.events.service(svc, 'Normal', 'ClearAssignment', `Released ${released.join(', ')}: ${why}`);
    this.o.log.info({ service: key, ips: released, reason: why }, `released the IPs of Service ${key}`);
    // Clear our status only when the Service left type LoadBalancer; another class's controller owns it otherwise.
    if (svc.spec?.type !== 'LoadBalancer') await this.status.service(svc, [], undefined, term);
    else if (svc.metadata.annotations?.[ANN_ALLOCATED_FROM] !== undefined)
      await this.status.allocatedFrom(svc, undefined, term);
    return 'released';
  }

  // ------------------------------------------------------------------------------------------ pool status

  private async writePoolStatus(): Promise<void> {
    const stats = this.allocator.stats();
    this.o.metrics.setPoolStats(stats);
    this.o.metrics.queueDepth.set(this.queue.depth);
    if (!this.poolStatusDirty || !this.leading) return;
    this.poolStatusDirty = false;
    if (!(await this.status.pools(stats, this.term))) this.poolStatusDirty = true;
  }
}
