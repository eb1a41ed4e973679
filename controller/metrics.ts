// The controller's Prometheus metrics, with MetalLB's names where MetalLB has them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolStats } from './allocator.js';
import { registerSharedMetrics } from '../k8s/shared-metrics.js';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly addressesTotal: Gauge<'pool'>;
  readonly addressesInUse: Gauge<'pool'>;
  readonly ipv4Total: Gauge<'pool'>;
  readonly ipv4InUse: Gauge<'pool'>;
  readonly ipv6Total: Gauge<'pool'>;
  readonly ipv6InUse: Gauge<'pool'>;
  readonly servicesAllocated: Gauge<'pool'>;
  readonly updates: Counter;
  readonly updateErrors: Counter;
  readonly configLoaded: Gauge;
  readonly configStale: Gauge;
  readonly reconcileSeconds: Histogram<'result'>;
  readonly queueDepth: Gauge;
  readonly isLeader: Gauge;
  readonly allocations: Counter<'result'>;
  /** Conflicts with other LoadBalancer implementations (controller/conflicts.ts), by kind. */
  readonly conflicts: Gauge<'kind'>;
  private knownPools = new Set<string>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = [this.registry];
    const g = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ['pool'] as const, registers: r });
    this.addressesTotal = g('metallb_allocator_addresses_total', 'Number of usable IP addresses, per pool');
    this.addressesInUse = g(
      'metallb_allocator_addresses_in_use_total',
      'Number of IP addresses in use, per pool',
    );
    this.ipv4Total = g('metallb_allocator_ipv4_addresses_total', 'Number of usable IPv4 addresses, per pool');
    this.ipv4InUse = g(
      'metallb_allocator_ipv4_addresses_in_use_total',
      'Number of IPv4 addresses in use, per pool',
    );
    this.ipv6Total = g('metallb_allocator_ipv6_addresses_total', 'Number of usable IPv6 addresses, per pool');
    this.ipv6InUse = g(
      'metallb_allocator_ipv6_addresses_in_use_total',
      'Number of IPv6 addresses in use, per pool',
    );
    // MetalLB's name (a gauge despite _total); its v0.16 allocator registers it but never sets it.
    this.servicesAllocated = g(
      'metallb_allocator_services_allocated_total',
      'Number of Services holding addresses from the pool, per pool',
    );
    this.updates = new Counter({
      name: 'metallb_k8s_client_updates_total',
      help: 'Number of k8s object updates that have been processed.',
      registers: r,
    });
    this.updateErrors = new Counter({
      name: 'metallb_k8s_client_update_errors_total',
      help: 'Number of k8s object updates that failed for some reason.',
      registers: r,
    });
    this.configLoaded = new Gauge({
      name: 'metallb_k8s_client_config_loaded_bool',
      help: '1 if the configuration was ever loaded successfully.',
      registers: r,
    });
    this.configStale = new Gauge({
      name: 'metallb_k8s_client_config_stale_bool',
      help: '1 if running on a stale configuration, because the latest config failed to load.',
      registers: r,
    });
    this.reconcileSeconds = new Histogram({
      name: 'bollard_controller_reconcile_duration_seconds',
      help: 'Time to reconcile one Service (decision and API writes).',
      labelNames: ['result'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.queueDepth = new Gauge({
      name: 'bollard_controller_workqueue_depth',
      help: 'Service keys waiting to be reconciled.',
      registers: r,
    });
    this.isLeader = new Gauge({
      name: 'bollard_controller_is_leader',
      help: '1 if this replica is the leader.',
      registers: r,
    });
    this.allocations = new Counter({
      name: 'bollard_controller_allocations_total',
      help: 'Allocation outcomes.',
      labelNames: ['result'] as const,
      registers: r,
    });
    this.conflicts = new Gauge({
      name: 'bollard_conflicts',
      help: 'Conflicts with other LoadBalancer implementations: foreign_status_writer = Services whose status.loadBalancer another client rewrites; other_load_balancer = workloads of another implementation serving Services without a loadBalancerClass.',
      labelNames: ['kind'] as const,
      registers: r,
    });
    registerSharedMetrics(this.registry);
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  setPoolStats(stats: readonly PoolStats[]): void {
    const seen = new Set<string>();
    for (const s of stats) {
      seen.add(s.pool);
      const l = { pool: s.pool };
      this.addressesTotal.set(l, Number(s.total[4] + s.total[6]));
      this.addressesInUse.set(l, Number(s.assigned[4] + s.assigned[6]));
      this.ipv4Total.set(l, Number(s.total[4]));
      this.ipv4InUse.set(l, Number(s.assigned[4]));
      this.ipv6Total.set(l, Number(s.total[6]));
      this.ipv6InUse.set(l, Number(s.assigned[6]));
      this.servicesAllocated.set(l, s.services);
    }
    for (const p of this.knownPools) {
      if (seen.has(p)) continue;
      for (const gauge of [
        this.addressesTotal,
        this.addressesInUse,
        this.ipv4Total,
        this.ipv4InUse,
        this.ipv6Total,
        this.ipv6InUse,
        this.servicesAllocated,
      ])
        gauge.remove({ pool: p });
    }
    this.knownPools = seen;
  }
}
