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

export class EndpointController {
  private readonly services: Informer<Service & { metadata: object }>;
  private readonly applied = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();
  private pending: Promise<void> | undefined;
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
    const kick = () => void this.sync().catch((err: unknown) => onError(err as Error));
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
    await this.services.stop();
    await this.chain.catch(() => undefined);
  }

  /** Reconciles every slice; resolves once the reconcile that covers this call has finished. */
  sync(): Promise<void> {
    if (this.pending) return this.pending;
    const run = this.chain
      .catch(() => undefined)
      .then(async () => {
        this.pending = undefined;
        if (!this.stopped) await this.reconcile();
      });
    this.pending = run;
    this.chain = run;
    return run;
  }

  private async reconcile(): Promise<void> {
    const pods = this.pods();
    const want = new Map<string, Record<string, unknown>>();
    for (const svc of this.services.list()) {
      if (!managed(svc)) continue;
      const families = (svc.spec?.ipFamilies ?? ['IPv4']).filter(
        (f): f is Family => f === 'IPv4' || f === 'IPv6',
      );
      for (const fam of families) {
        const slice = desiredSlice(svc, fam, pods);
        const meta = slice['metadata'] as { name: string; namespace: string };
        want.set(`${meta.namespace}/${meta.name}`, slice);
      }
    }
    const existing = await this.client.get<{ items: SliceMeta[] }>(
      '/apis/discovery.k8s.io/v1/endpointslices',
      {
        labelSelector: `endpointslice.kubernetes.io/managed-by=${MANAGED_BY}`,
      },
    );
    const have = new Set(existing.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`));
    for (const key of have) {
      if (want.has(key)) continue;
      const [ns, name] = key.split('/') as [string, string];
      try {
        await this.client.delete(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`);
      } catch (err) {
        if (!(err instanceof ApiError && err.notFound)) throw err;
      }
      this.applied.delete(key);
    }
    for (const [key, slice] of want) {
      const text = JSON.stringify(slice);
      if (have.has(key) && this.applied.get(key) === text) continue;
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
      this.applied.set(key, text);
    }
  }
}
