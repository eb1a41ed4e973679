// ServiceL2Status objects: one per Service this node announces in layer 2 (generateName l2-, in the
// speaker's namespace, labelled with the node and the Service), naming the interfaces it answers on.
// Written after each pass and whenever someone deletes one of ours; what fails is written by a later
// pass (the periodic one at the latest).
import { Rerun } from '../../k8s/rerun.js';
import { sameJson } from '../../k8s/same-json.js';
import { ApiError, resourcePath, type KubeClient } from '../../k8s/client.js';
import { Informer } from '../../k8s/informer.js';
import { logListenerError } from '../../k8s/informer-delivery.js';
import { background } from '../../k8s/background.js';
import type { Logger } from '../../k8s/logger.js';
import { METALLB } from '../../k8s/status.js';
import { statusObject } from '../../k8s/projection.js';
import type { SpeakerMetrics } from '../metrics.js';
import type { L2StatusObj } from '../k8s-types.js';
import { serviceKey } from '../service-index.js';
import type { ServiceDecision } from './decide.js';

export interface L2StatusOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly node: string;
  readonly log: Logger;
  readonly metrics: Pick<SpeakerMetrics, 'k8sUpdates' | 'k8sUpdateErrors'>;
  /** What this node announces now, by Service key. */
  readonly owned: () => ReadonlyMap<string, ServiceDecision>;
  /** The interfaces a VIP is answered on. */
  readonly interfacesFor: (ip: string) => string[];
}

export class L2StatusWriter {
  private readonly statuses: Informer<L2StatusObj>;
  private readonly writes = new Rerun(() => this.syncOnce());

  constructor(private readonly o: L2StatusOptions) {
    this.statuses = new Informer<L2StatusObj>(o.client, {
      resource: METALLB.serviceL2Statuses,
      transform: statusObject,
      namespace: o.namespace,
      labelSelector: `metallb.io/node=${o.node}`,
      onError: (err) =>
        o.log.warn({ err: err.message, resource: 'servicel2statuses' }, 'watch error; retrying'),
      onListenerError: logListenerError(o.log),
    });
    // Our ServiceL2Status deleted by someone: written again (no decision changed).
    this.statuses.on('delete', () => this.syncLater());
  }

  start(): Promise<void> {
    return this.statuses.start();
  }

  stop(): Promise<void> {
    return this.statuses.stop();
  }

  /** Writes the statuses in the background (a write already running goes round once more). */
  syncLater(): void {
    background(this.o.log, 'write ServiceL2Status objects', this.writes.run());
  }

  private async syncOnce(): Promise<void> {
    const { client, namespace, node: self, metrics, log } = this.o;
    const path = (name?: string, sub?: string): string =>
      resourcePath(METALLB.serviceL2Statuses, namespace, name, sub);
    const owned = this.o.owned();
    const existing = new Map<string, L2StatusObj[]>();
    for (const o of this.statuses.list()) {
      const k = serviceKey(
        o.metadata?.labels?.['metallb.io/service-namespace'],
        o.metadata?.labels?.['metallb.io/service-name'],
      );
      existing.set(k, [...(existing.get(k) ?? []), o]);
    }
    for (const [k, d] of owned) {
      const ifaces = this.o.interfacesFor(d.service.ips[0] as string).map((name) => ({ name }));
      const [first, ...extra] = existing.get(k) ?? [];
      // The Service's bollard.io/* conditions (verification, conflicts) are mirrored here.
      const conditions = d.service.conditions ?? [];
      const status = {
        node: self,
        serviceName: d.service.name,
        serviceNamespace: d.service.namespace,
        interfaces: ifaces,
        ...(conditions.length > 0 ? { conditions } : {}),
      };
      // (a merge patch removes a list only when told: null)
      const patch = {
        status: {
          ...status,
          ...(conditions.length === 0 && first?.status?.conditions ? { conditions: null } : {}),
        },
      };
      try {
        if (!first) {
          const created = await client.create<L2StatusObj>(path(), {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'ServiceL2Status',
            metadata: {
              generateName: 'l2-',
              namespace,
              labels: {
                'metallb.io/node': self,
                'metallb.io/service-name': d.service.name,
                'metallb.io/service-namespace': d.service.namespace,
              },
            },
          });
          await client.patch(path(created.metadata?.name, 'status'), { status });
          metrics.k8sUpdates.inc();
        } else if (!sameJson(first.status ?? {}, status)) {
          await client.patch(path(first.metadata?.name, 'status'), patch);
          metrics.k8sUpdates.inc();
        }
        for (const x of extra) await client.delete(path(x.metadata?.name));
      } catch (err) {
        metrics.k8sUpdateErrors.inc();
        log.debug({ err: (err as Error).message, service: k }, 'ServiceL2Status not written; will retry');
      }
    }
    for (const [k, list] of existing) {
      if (owned.has(k)) continue;
      for (const o of list) {
        try {
          await client.delete(path(o.metadata?.name));
          metrics.k8sUpdates.inc();
        } catch (err) {
          if (!(err instanceof ApiError && err.notFound)) {
            metrics.k8sUpdateErrors.inc();
            log.debug({ err: (err as Error).message, service: k }, 'ServiceL2Status not deleted; will retry');
          }
        }
      }
    }
  }
}
