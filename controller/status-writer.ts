// The reconciler's writes to the apiserver: a Service's status.loadBalancer.ingress and its
// ip-allocated-from-pool annotation, the IPAddressPools' status, and the controller's ConfigurationState
// (retried with the one backoff, k8s/backoff). Each write checks first that its term is still the one
// leading (`acting`), and is skipped when what it would write is already there.
import { ApiError, resourcePath, RESOURCES, type KubeClient } from '../k8s/client.js';
import { Backoff } from '../k8s/backoff.js';
import { background } from '../k8s/background.js';
import type { Logger } from '../k8s/logger.js';
import { METALLB, configCondition, patchStatusWithRetry, writeConfigurationState } from '../k8s/status.js';
import { canonicalIP } from '../config/ip.js';
import type { ConfigError } from '../config/errors.js';
import { summarizeErrors } from '../config/parse.js';
import type { Clock, TimerHandle } from '../proto/clock.js';
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
  /** The configuration state to publish, read when it is written (and again on a retry). */
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
  private lastConfigState = '';
  /** Retries of a ConfigurationState write that failed. */
  private readonly configStateBackoff = new Backoff({ initialMs: 2000, maxMs: 30_000 });
  private configStateRetry: TimerHandle | undefined;

  constructor(private readonly o: StatusWriterOptions) {}

  /** A new term: what earlier terms wrote is not trusted to be there; everything is written again. */
  /** The Service is gone: nothing of it is in flight any more. */
  serviceGone(key: string): void {
    this.annotationInFlight.delete(key);
  }

  forget(): void {
    this.lastConfigState = '';
    this.annotationInFlight.clear();
    this.writtenPoolStatus.clear();
  }

  stop(): void {
    if (this.configStateRetry) this.o.clock.clearTimer(this.configStateRetry);
    this.configStateRetry = undefined;
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

  /** Publishes the ConfigurationState without waiting (a failure is logged and retried with backoff). */
  configStateLater(term: number): void {
    background(this.o.log, 'publish ConfigurationState', this.configState(term), {
      object: { kind: 'ConfigurationState', namespace: this.o.namespace, name: 'controller' },
    });
  }

  private async configState(term: number): Promise<void> {
    const status = this.o.configState();
    const sig = JSON.stringify(status);
    if (sig === this.lastConfigState || !this.o.acting(term)) return;
    try {
      await writeConfigurationState(
        this.o.client,
        this.o.namespace,
        'controller',
        { type: 'Controller' },
        { ...status, conditions: [configCondition('poolReconcilerValid', status.errorSummary)] },
      );
      this.lastConfigState = sig;
      this.configStateBackoff.succeed();
    } catch (err) {
      this.o.metrics.updateErrors.inc();
      this.o.log.warn(
        {
          err: (err as Error).message,
          object: { kind: 'ConfigurationState', namespace: this.o.namespace, name: 'controller' },
        },
        'could not write ConfigurationState',
      );
      this.stop();
      this.configStateRetry = this.o.clock.setTimer(
        () => this.configStateLater(term),
        this.configStateBackoff.fail(),
      );
    }
  }
}
