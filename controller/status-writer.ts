// The reconciler's writes to the apiserver: a Service's status.loadBalancer.ingress and its
// ip-allocated-from-pool annotation, the IPAddressPools' status, and the controller's ConfigurationState
// (k8s/config-state: one write at a time, retried with the one backoff). Each write checks first that its term is still the one
// leading (`acting`), and is skipped when what it would write is already there.
import { ApiError, resourcePath, RESOURCES, type KubeClient } from '../k8s/client.js';
import { background } from '../k8s/background.js';
import type { Logger } from '../k8s/logger.js';
import { METALLB, configCondition, patchStatusWithRetry } from '../k8s/status.js';
import { ConfigStatePublisher } from '../k8s/config-state.js';
import { canonicalIP } from '../config/ip.js';
import type { ConfigError } from '../config/errors.js';
import { summarizeErrors } from '../config/parse.js';
import type { Clock } from '../proto/clock.js';
import type { PoolStats } from './allocator.js';
import type { ControllerMetrics } from './metrics.js';
import { ANN_ALLOCATED_FROM, statusIPs } from './request.js';
import type { Service } from './informers.js';
import { CONTROLLER_FIELD_MANAGER } from './conflicts.js';

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The ConfigurationState the controller publishes. */
export interface ConfigStateStatus {
  result: 'Valid' | 'Invalid' | 'Unknown';
  errorSummary: string;
}

/** The ConfigurationState for the configuration in force (if any) and the errors of the last parse. */
export function configStateStatus(loaded: boolean, errors: readonly ConfigError[]): ConfigStateStatus {
  const invalid = errors.length > 0;
  return {
    result: invalid ? 'Invalid' : loaded ? 'Valid' : 'Unknown',
    errorSummary: invalid ? summarizeErrors(errors) : '',
  };
}

export interface StatusWriterOptions {
  client: KubeClient;
  namespace: string;
  log: Logger;
  metrics: ControllerMetrics;
  clock: Clock;
  /** Whether this term still leads (writes of an older term are dropped). */
  acting: (term: number) => boolean;
  /** The configuration state to publish, read when a write of it is asked for. */
  configState: () => ConfigStateStatus;
}

export class StatusWriter {
  private readonly writtenPoolStatus = new Map<string, string>();
  /**
   * The ip-allocated-from-pool value last patched onto each Service (by uid), until the informer shows
   * it: our status write comes back through the watch before the annotation's event does, and without
   * this the Service would get the same annotation patch twice. By Service key; `uid` tells a
   * re-created Service apart.
   */
  private readonly annotationInFlight = new Map<
    string,
    { uid: string | undefined; pool: string | undefined }
  >();
  /** The controller's ConfigurationState: one write at a time, the newest status wins, failures retried. */
  private readonly configStates: ConfigStatePublisher;

  constructor(private readonly o: StatusWriterOptions) {
    this.configStates = new ConfigStatePublisher({
      client: o.client,
      namespace: o.namespace,
      name: 'controller',
      spec: { type: 'Controller' },
      clock: o.clock,
      onError: (err, retryInMs) => {
        o.metrics.updateErrors.inc();
        o.log.warn(
          {
            err: err.message,
            retryInMs,
            object: { kind: 'ConfigurationState', namespace: o.namespace, name: 'controller' },
          },
          'could not write ConfigurationState',
        );
      },
    });
  }

  /** The Service is gone: nothing of it is in flight any more. */
  serviceGone(key: string): void {
    this.annotationInFlight.delete(key);
  }

  /** A new term: what earlier terms wrote is not trusted to be there; everything is written again. */
  forget(): void {
    this.configStates.forget();
    this.annotationInFlight.clear();
    this.writtenPoolStatus.clear();
  }

  stop(): void {
    this.configStates.stop();
  }

  /** Writes status and annotation when they differ from what is wanted. Returns whether status was written or already right. */
  async service(
    svc: Service,
    ips: readonly string[],
    pool: string | undefined,
    term: number,
  ): Promise<boolean> {
    const current = svc.status?.loadBalancer?.ingress ?? [];
    const want = ips.map((ip) => ({ ip, ipMode: 'VIP' }));
    const same =
      current.length === want.length &&
      current.every((c, i) => c.ip !== undefined && canonicalIP(c.ip) === want[i]?.ip && c.ipMode === 'VIP');
    let rv = svc.metadata.resourceVersion;
    if (!same) {
      if (!this.o.acting(term)) return false;
      try {
        const updated = await patchStatusWithRetry<Service>(
          this.o.client,
          RESOURCES.services,
          svc.metadata.namespace,
          svc.metadata.name,
          rv,
          { loadBalancer: { ingress: want } },
          {
            fieldManager: CONTROLLER_FIELD_MANAGER,
            // On a conflict, write only if the status is still the one this decision was made from:
            // otherwise someone (a previous leader) wrote an IP we had not seen yet, and overwriting it
            // would move the Service. The informer brings the fresh object and we decide again.
            still: (fresh) =>
              this.o.acting(term) &&
              fresh.metadata.uid === svc.metadata.uid &&
              sameList(statusIPs(fresh), statusIPs(svc)),
          },
        );
        if (!updated) return false;
        this.o.metrics.updates.inc();
        rv = updated.metadata.resourceVersion;
      } catch (err) {
        if (err instanceof ApiError && err.notFound) return false; // deleted meanwhile; the delete event follows
        throw err;
      }
    }
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    const inFlight = this.annotationInFlight.get(key);
    if ((svc.metadata.annotations?.[ANN_ALLOCATED_FROM] ?? undefined) === pool)
      this.annotationInFlight.delete(key);
    else if (inFlight?.uid !== svc.metadata.uid || inFlight?.pool !== pool) {
      this.annotationInFlight.set(key, { uid: svc.metadata.uid, pool });
      try {
        await this.allocatedFrom(svc, pool, term);
      } catch (err) {
        this.annotationInFlight.delete(key);
        throw err;
      }
    }
    return true;
  }

  /** Sets (or, with no pool, removes) the ip-allocated-from-pool annotation. */
  async allocatedFrom(svc: Service, pool: string | undefined, term: number): Promise<void> {
    if (!this.o.acting(term)) return;
    try {
      await this.o.client.patch(resourcePath(RESOURCES.services, svc.metadata.namespace, svc.metadata.name), {
        metadata: { annotations: { [ANN_ALLOCATED_FROM]: pool ?? null } },
      });
      this.o.metrics.updates.inc();
    } catch (err) {
      if (err instanceof ApiError && err.notFound) return;
      throw err;
    }
  }

  /** Writes every pool's status that changed since it was last written. Returns false if one failed. */
  async pools(stats: readonly PoolStats[], term: number): Promise<boolean> {
    let ok = true;
    const cap = (v: bigint) => (v > 9223372036854775807n ? 9223372036854775807n : v).toString();
    for (const s of stats) {
      const body = `{"status":{"assignedIPv4":${cap(s.assigned[4])},"assignedIPv6":${cap(s.assigned[6])},"availableIPv4":${cap(s.available[4])},"availableIPv6":${cap(s.available[6])}}}`;
      if (this.writtenPoolStatus.get(s.pool) === body || !this.o.acting(term)) continue;
      try {
        await this.o.client.request(
          'PATCH',
          resourcePath(METALLB.ipAddressPools, this.o.namespace, s.pool, 'status'),
          {
            body,
            contentType: 'application/merge-patch+json',
          },
        );
        this.writtenPoolStatus.set(s.pool, body);
      } catch (err) {
        ok = false;
        if (!(err instanceof ApiError && err.notFound)) {
          this.o.metrics.updateErrors.inc();
          this.o.log.warn(
            {
              err: (err as Error).message,
              object: { kind: 'IPAddressPool', namespace: this.o.namespace, name: s.pool },
            },
            'could not write pool status',
          );
        }
      }
    }
    return ok;
  }

  /** Publishes the ConfigurationState without waiting (a failed write is logged and retried with backoff). */
  configStateLater(term: number): void {
    if (!this.o.acting(term)) return;
    const status = this.o.configState();
    background(
      this.o.log,
      'publish ConfigurationState',
      this.configStates.publish(
        { ...status, conditions: [configCondition('poolReconcilerValid', status.errorSummary)] },
        () => this.o.acting(term),
      ),
      { object: { kind: 'ConfigurationState', namespace: this.o.namespace, name: 'controller' } },
    );
  }
}
