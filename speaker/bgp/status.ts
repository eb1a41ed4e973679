// ServiceBGPStatus objects: one per Service this node announces over BGP (generateName bgp-, in the
// speaker's namespace, labelled with the node and the Service), naming the peers it goes to. Only the
// Services whose status is due are written: their peers changed, or someone changed their objects;
// what fails is due again 5 s later (the apiserver may be away).
import { sameJson } from '../../k8s/same-json.js';
import { ApiError, resourcePath, type KubeClient } from '../../k8s/client.js';
import { Informer } from '../../k8s/informer.js';
import { logListenerError } from '../../k8s/informer-delivery.js';
import { background } from '../../k8s/background.js';
import { METALLB } from '../../k8s/status.js';
import type { Log } from './types.js';

interface StatusObj {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  status?: { node?: string; serviceName?: string; serviceNamespace?: string; peers?: string[] };
}

/** What a Service's status should say: announced to these peers (undefined: not announced). */
export interface BgpStatusWant {
  readonly svc: { readonly namespace: string; readonly name: string };
  readonly peers: readonly string[];
}

export interface BgpStatusOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly node: string;
  readonly log: Log;
  readonly want: (serviceKey: string) => BgpStatusWant | undefined;
}

export class BgpStatusWriter {
  private readonly informer: Informer<StatusObj>;
  /** This node's ServiceBGPStatus objects by Service key, then object name (kept by the informer). */
  private readonly byKey = new Map<string, Map<string, StatusObj>>();
  /** Service keys whose ServiceBGPStatus may be wrong: their peers changed, or their objects did. */
  private readonly due = new Set<string>();
  private retry: NodeJS.Timeout | undefined;
  /** Writes start after the first pass (before it, nothing is known to be announced). */
  private active = false;
  private running = false;
  private stopped = false;

  constructor(private readonly o: BgpStatusOptions) {
    this.informer = new Informer<StatusObj>(o.client, {
      resource: METALLB.serviceBGPStatuses,
      namespace: o.namespace,
      labelSelector: `metallb.io/node=${o.node}`,
      onError: (err) =>
        o.log.warn({ err: err.message, resource: 'servicebgpstatuses' }, 'watch error; retrying'),
      onListenerError: logListenerError(o.log),
    });
    // Our statuses, indexed; a change by anyone (a deletion, an edit) makes that Service's status due.
    this.informer.on('add', (s) => this.index(s, true));
    this.informer.on('update', (s, old) => {
      this.index(old, false);
      this.index(s, true);
    });
    this.informer.on('delete', (s) => this.index(s, false));
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.informer.stop();
  }

  /** The statuses of `keys` may be wrong: written in the background. */
  markDue(keys: Iterable<string>): void {
    for (const k of keys) this.due.add(k);
    this.active = true;
    this.syncLater();
  }

  private index(o: StatusObj, present: boolean): void {
    const l = o.metadata?.labels ?? {};
    const k = `${l['metallb.io/service-namespace'] ?? ''}/${l['metallb.io/service-name'] ?? ''}`;
    const name = o.metadata?.name ?? '';
    let byName = this.byKey.get(k);
    if (present) {
      if (!byName) this.byKey.set(k, (byName = new Map()));
      byName.set(name, o);
    } else if (byName) {
      byName.delete(name);
      if (byName.size === 0) this.byKey.delete(k);
    }
    this.due.add(k);
    if (this.active) this.syncLater();
  }

  private syncLater(): void {
    background(this.o.log, 'write ServiceBGPStatus objects', this.sync());
  }

  private async sync(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const failed = new Set<string>();
    try {
      while (this.due.size > 0 && !this.stopped) {
        const due = [...this.due];
        this.due.clear();
        for (const k of due) {
          if (this.stopped) return;
          try {
            await this.write(k);
          } catch (err) {
            failed.add(k);
            this.o.log.debug(
              { err: err instanceof Error ? err.message : String(err), service: k },
              'ServiceBGPStatus not written; will retry',
            );
          }
        }
      }
    } finally {
      this.running = false;
    }
    if (failed.size > 0 && !this.stopped) {
      for (const k of failed) this.due.add(k);
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        this.syncLater();
      }, 5000);
      this.retry.unref();
    }
  }

  /** Makes the Service's objects say what `want` says (none when it is not announced). */
  private async write(k: string): Promise<void> {
    const { client, namespace: ns, node } = this.o;
    const path = (name?: string, sub?: string): string =>
      resourcePath(METALLB.serviceBGPStatuses, ns, name, sub);
    const want = this.o.want(k);
    const objs = [...(this.byKey.get(k)?.values() ?? [])];
    if (!want) {
      for (const o of objs) {
        try {
          await client.delete(path(o.metadata?.name));
        } catch (err) {
          if (!(err instanceof ApiError && err.notFound)) throw err;
        }
      }
      return;
    }
    const { svc, peers } = want;
    const status = { node, serviceName: svc.name, serviceNamespace: svc.namespace, peers: [...peers] };
    const [first, ...extra] = objs;
    if (!first) {
      const created = await client.create<StatusObj>(path(), {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'ServiceBGPStatus',
        metadata: {
          generateName: 'bgp-',
          namespace: ns,
          labels: {
            'metallb.io/node': node,
            'metallb.io/service-name': svc.name,
            'metallb.io/service-namespace': svc.namespace,
          },
        },
      });
      // known at once (the informer's event follows), so a second pass does not create another
      const name = created.metadata?.name ?? '';
      if (!this.byKey.has(k)) this.byKey.set(k, new Map([[name, created]]));
      await client.patch(path(created.metadata?.name, 'status'), { status });
    } else if (!sameJson(first.status ?? {}, status)) {
      await client.patch(path(first.metadata?.name, 'status'), { status });
    }
    for (const x of extra) await client.delete(path(x.metadata?.name));
  }
}
