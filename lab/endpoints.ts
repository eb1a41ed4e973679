// The lab is the endpoint controller (there is no kube-controller-manager): for every Service with a
// selector it writes one EndpointSlice per IP family from the lab's pods, as the EndpointSlice
// controller would (label kubernetes.io/service-name, conditions ready/serving/terminating, nodeName,
// targetRef), and deletes the slices of Services that are gone.
import type { KubeClient } from '../k8s/client.js';
import { ApiError } from '../k8s/client.js';
import { Informer } from '../k8s/informer.js';
import type { LabPod } from './pods.js';

export const MANAGED_BY = 'lab.bollard.io';
const FIELD_MANAGER = 'bollard-lab';

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: {
    type?: string;
    selector?: Record<string, string>;
    ipFamilies?: string[];
    ports?: ServicePort[];
  };
}

interface SliceMeta {
  metadata?: { name?: string; namespace?: string };
}

type Family = 'IPv4' | 'IPv6';

/** The EndpointSlice the lab wants for one Service and one family (pure). */
export function desiredSlice(svc: Service, family: Family, pods: readonly LabPod[]): Record<string, unknown> {
  const ns = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const selector = svc.spec?.selector ?? {};
  const members = pods
    .filter((p) => p.namespace === ns && Object.entries(selector).every(([k, v]) => p.labels[k] === v))
    .filter((p) => (family === 'IPv4' ? true : p.ipv6 !== undefined))
    .sort((a, b) => a.name.localeCompare(b.name));
  const ports = (svc.spec?.ports ?? []).flatMap((p) => {
    const target = p.targetPort ?? p.port;
    const port =
      typeof target === 'number' ? target : target === 'http' ? (members[0]?.port ?? 80) : Number(target);
    return Number.isInteger(port) && port > 0
      ? [{ name: p.name ?? '', port, protocol: p.protocol ?? 'TCP' }]
      : [];
  });
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-lab-${family.toLowerCase()}`,
      namespace: ns,
      labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
      ...(svc.metadata?.uid
        ? {
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'Service',
                name,
                uid: svc.metadata.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    addressType: family,
    endpoints: members.map((p) => ({
      addresses: [family === 'IPv4' ? p.ipv4 : (p.ipv6 as string)],
      conditions: { ready: p.ready, serving: p.ready, terminating: false },
      nodeName: p.node,
      targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid },
    })),
    ports,
  };
}

function managed(svc: Service): boolean {
  return Object.keys(svc.spec?.selector ?? {}).length > 0 && svc.spec?.type !== 'ExternalName';
}

/** Reconciles the slices of changed Services as they change, and of every Service when pods change. */
export class EndpointController {
  private readonly services: Informer<Service & { metadata: object }>;
  /** slice "ns/name" -> the JSON last applied */
  private readonly applied = new Map<string, string>();
  /** slices of ours that exist ("ns/name"), from a list at start and on every pods change */
  private readonly have = new Set<string>();
  /** Services ("ns/name") whose slices are due; 'all' = every Service (pods changed) */
  private dirty: Set<string> | 'all' = 'all';
  private chain: Promise<void> = Promise.resolve();
  private pending: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly client: KubeClient,
    private readonly pods: () => readonly LabPod[],
    private readonly onError: (err: Error) => void,
  ) {
    this.services = new Informer(client, {
      resource: { group: '', version: 'v1', plural: 'services', namespaced: true },
      onError,
    });
    const kick = (svc: Service) => {
      if (this.dirty !== 'all')
        this.dirty.add(`${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`);
      this.run().catch((err: unknown) => onError(err as Error));
    };
    this.services.on('add', kick);
    this.services.on('update', kick);
    this.services.on('delete', kick);
  }

  async start(): Promise<void> {
    await this.services.start();
    await this.sync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.services.stop();
    await this.chain.catch(() => undefined);
  }

  /** Reconciles every slice; resolves once the reconcile that covers this call has finished. */
  sync(): Promise<void> {
    this.dirty = 'all';
    return this.run();
  }

  private run(): Promise<void> {
    if (this.pending) return this.pending;
    const run = this.chain.then(async () => {
      this.pending = undefined;
      if (this.stopped) return;
      const scope = this.dirty;
      this.dirty = new Set();
      try {
        await this.reconcile(scope);
      } catch (err) {
        // what failed is due again, a second later (the apiserver may be restarting)
        this.markDue(scope);
        this.retry ??= setTimeout(() => {
          this.retry = undefined;
          this.run().catch((e: unknown) => this.onError(e as Error));
        }, 1000);
        this.onError(err as Error);
      }
    });
    this.pending = run;
    this.chain = run;
    return run;
  }

  private markDue(keys: Set<string> | 'all'): void {
    const cur = this.dirty as Set<string> | 'all';
    if (keys === 'all' || cur === 'all') this.dirty = 'all';
    else for (const k of keys) cur.add(k);
  }

  private families(svc: Service): Family[] {
    return (svc.spec?.ipFamilies ?? ['IPv4']).filter((f): f is Family => f === 'IPv4' || f === 'IPv6');
  }

  private async reconcile(scope: Set<string> | 'all'): Promise<void> {
    const pods = this.pods();
    const want = new Map<string, Record<string, unknown>>();
    const due = new Set<string>();
    if (scope === 'all') {
      const existing = await this.client.get<{ items: SliceMeta[] }>(
        '/apis/discovery.k8s.io/v1/endpointslices',
        { labelSelector: `endpointslice.kubernetes.io/managed-by=${MANAGED_BY}` },
      );
      this.have.clear();
      for (const s of existing.items) this.have.add(`${s.metadata?.namespace}/${s.metadata?.name}`);
      for (const k of this.have) due.add(k);
    }
    const services =
      scope === 'all'
        ? this.services.list()
        : [...scope].flatMap((key) => {
            const i = key.indexOf('/');
            const ns = key.slice(0, i);
            const name = key.slice(i + 1);
            for (const fam of ['ipv4', 'ipv6']) due.add(`${ns}/${name}-lab-${fam}`);
            const svc = this.services.get(ns, name);
            return svc ? [svc] : [];
          });
    for (const svc of services) {
      if (!managed(svc)) continue;
      for (const fam of this.families(svc)) {
        const slice = desiredSlice(svc, fam, pods);
        const meta = slice['metadata'] as { name: string; namespace: string };
        want.set(`${meta.namespace}/${meta.name}`, slice);
      }
    }
    for (const key of due) {
      if (want.has(key) || !this.have.has(key)) continue;
      const [ns, name] = key.split('/') as [string, string];
      try {
        await this.client.delete(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`);
      } catch (err) {
        if (!(err instanceof ApiError && err.notFound)) throw err;
      }
      this.have.delete(key);
      this.applied.delete(key);
    }
    for (const [key, slice] of want) {
      const text = JSON.stringify(slice);
      if (this.have.has(key) && this.applied.get(key) === text) continue;
      const [ns, name] = key.split('/') as [string, string];
      await this.client.patch(
        `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`,
        slice,
        'apply',
        {
          fieldManager: FIELD_MANAGER,
          force: true,
        },
      );
      this.have.add(key);
      this.applied.set(key, text);
    }
  }
}
