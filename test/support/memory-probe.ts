// The speaker's per-Service memory, measured by the process itself: N Services and their EndpointSlices,
// as an apiserver serves them (managedFields, kubectl's last-applied-configuration, ports, targetRefs…),
// go through the speaker's real informers (k8s/informer.ts, fed in-process by a list that returns them
// and a watch that stays open), its projections (k8s/projection.ts) and its service index
// (speaker/service-index.ts). Heap used after a full GC, with 0 and with N Services, gives bytes per
// Service. Run with --expose-gc (test/integration/memory.test.ts, bench/memory.ts):
//   node --expose-gc dist/test/support/memory-probe.js N [before|after]
// before = the informers' transform as it was (managedFields dropped, nothing else); after = the
// speaker's projections. Prints one JSON line.
import { getHeapStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import type { KubeClient, RequestInit, WatchLine } from '../../k8s/client.js';
import { RESOURCES } from '../../k8s/client.js';
import { Informer, type InformerOptions, type ListWatchClient } from '../../k8s/informer.js';
import { speakerEndpointSlice, speakerService } from '../../k8s/projection.js';
import type { KubernetesObject } from '@kubernetes/client-node';
import { EndpointIndex, serviceFactsOf } from '../../speaker/service-index.js';
import type { ServiceFacts } from '../../speaker/protocol.js';
import type { EndpointSliceObj, ServiceObj } from '../../speaker/k8s-types.js';

const uid = (i: number, salt: number): string =>
  `${(i * 2654435761 + salt).toString(16).padStart(8, '0')}-1c2d-4e5f-8a9b-${String(i).padStart(12, '0')}`;

/** Service i as kube-apiserver serves it after `kubectl apply` and Bollard's controller assigned a VIP. */
export function servedService(i: number): Record<string, unknown> {
  const name = `svc-${i}`;
  const spec = {
    type: 'LoadBalancer',
    selector: { app: name },
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    externalTrafficPolicy: i % 4 === 0 ? 'Local' : 'Cluster',
  };
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace: `ns-${i % 20}`,
      uid: uid(i, 1),
      resourceVersion: String(100_000 + i),
      creationTimestamp: '2026-12-01T10:00:00Z',
      labels: { app: name, tier: 'web' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { annotations: {}, labels: { app: name, tier: 'web' }, name, namespace: `ns-${i % 20}` },
          spec,
        }),
        'metallb.io/ip-allocated-from-pool': 'default',
      },
      managedFields: [
        {
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-12-01T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} },
              'f:labels': { '.': {}, 'f:app': {}, 'f:tier': {} },
            },
            'f:spec': {
              'f:externalTrafficPolicy': {},
              'f:internalTrafficPolicy': {},
              'f:ports': {
                '.': {},
                'k:{"port":80,"protocol":"TCP"}': {
                  '.': {},
                  'f:name': {},
                  'f:port': {},
                  'f:protocol': {},
                  'f:targetPort': {},
                },
              },
              'f:selector': {},
              'f:sessionAffinity': {},
              'f:type': {},
            },
          },
        },
        {
          manager: 'bollard-controller',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-12-01T10:00:01Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:metallb.io/ip-allocated-from-pool': {} } } },
        },
        {
          manager: 'bollard-controller',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-12-01T10:00:01Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } },
          subresource: 'status',
        },
      ],
    },
    spec: {
      ...spec,
      ports: [{ ...spec.ports[0], nodePort: 30000 + (i % 2000) }],
      clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
      clusterIPs: [`10.96.${(i >> 8) & 255}.${i & 255}`],
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      allocateLoadBalancerNodePorts: true,
      internalTrafficPolicy: 'Cluster',
      ...(i % 4 === 0 ? { healthCheckNodePort: 32000 + (i % 700) } : {}),
    },
    status: { loadBalancer: { ingress: [{ ip: `172.20.${(i >> 8) & 255}.${i & 255}`, ipMode: 'VIP' }] } },
  };
}

/** Service i's EndpointSlice: three endpoints on three nodes. */
export function servedSlice(i: number): Record<string, unknown> {
  const name = `svc-${i}`;
  const ns = `ns-${i % 20}`;
  return {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: {
      name: `${name}-x7k2p`,
      generateName: `${name}-`,
      namespace: ns,
      uid: uid(i, 2),
      resourceVersion: String(200_000 + i),
      creationTimestamp: '2026-12-01T10:00:00Z',
      labels: {
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
        'kubernetes.io/service-name': name,
        app: name,
        tier: 'web',
      },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-12-01T10:00:00Z' },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          name,
          uid: uid(i, 1),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'discovery.k8s.io/v1',
          time: '2026-12-01T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:addressType': {},
            'f:endpoints': {},
            'f:metadata': { 'f:labels': {} },
            'f:ports': {},
          },
        },
      ],
    },
    addressType: 'IPv4',
    endpoints: [1, 2, 3].map((n) => ({
      addresses: [`10.244.${n}.${i & 255}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${n}`,
      targetRef: { kind: 'Pod', name: `${name}-pod-${n}`, namespace: ns, uid: uid(i * 3 + n, 3) },
    })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

/** A list that returns `items` in pages, as served (fresh objects parsed from JSON), and a watch that stays open. */
function feed(make: (i: number) => Record<string, unknown>, n: number): ListWatchClient {
  const get = <T>(_path: string, query?: RequestInit['query']): Promise<T> => {
    const from = Number(query?.continue ?? 0);
    const limit = Number(query?.limit ?? 500);
    const items: Record<string, unknown>[] = [];
    for (let i = from; i < Math.min(n, from + limit); i++) items.push(make(i));
    const next = from + limit < n ? String(from + limit) : undefined;
    const text = JSON.stringify({ metadata: { resourceVersion: '999999', continue: next }, items });
    return Promise.resolve(JSON.parse(text) as T);
  };
  const watch = (
    _path: string,
    _query: RequestInit['query'],
    _onEvent: (ev: WatchLine) => void,
    signal: AbortSignal,
  ): Promise<void> =>
    new Promise((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  return { get: get as KubeClient['get'], watch };
}

export type ProbeMode = 'before' | 'after';

/** The informers' transform before this projection work: managedFields dropped, the rest as served. */
function managedFieldsOnly<T extends KubernetesObject>(o: T): T {
  delete o.metadata?.managedFields;
  return o;
}

/** What the speaker holds for N Services: its two large informers, the facts and the endpoint index. */
export class SpeakerCaches {
  readonly services: Informer<ServiceObj & KubernetesObject>;
  readonly slices: Informer<EndpointSliceObj & KubernetesObject>;
  readonly facts = new Map<string, ServiceFacts>();
  readonly endpoints = new EndpointIndex();

  constructor(n: number, mode: ProbeMode) {
    const common = { resyncMs: 0, onError: () => undefined };
    const svcOpts: InformerOptions<ServiceObj & KubernetesObject> = {
      resource: RESOURCES.services,
      ...common,
      transform: mode === 'after' ? speakerService : managedFieldsOnly,
    };
    const sliceOpts: InformerOptions<EndpointSliceObj & KubernetesObject> = {
      resource: RESOURCES.endpointSlices,
      ...common,
      transform: mode === 'after' ? speakerEndpointSlice : managedFieldsOnly,
    };
    this.services = new Informer(feed(servedService, n), svcOpts);
    this.slices = new Informer(feed(servedSlice, n), sliceOpts);
  }

  async start(): Promise<void> {
    await Promise.all([this.services.start(), this.slices.start()]);
    for (const s of this.services.list()) {
      const f = serviceFactsOf(s, '');
      if (f) this.facts.set(f.key, f);
    }
    this.endpoints.reset(this.slices.list());
    for (const k of this.facts.keys()) this.endpoints.of(k);
  }

  async stop(): Promise<void> {
    await Promise.all([this.services.stop(), this.slices.stop()]);
  }
}

export interface ProbeResult {
  mode: ProbeMode;
  services: number;
  heapBaseBytes: number;
  heapBytes: number;
  bytesPerService: number;
  rssBytes: number;
}

function usedAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory-probe needs --expose-gc');
  gc();
  gc();
  return getHeapStatistics().used_heap_size;
}

export async function probe(n: number, mode: ProbeMode): Promise<ProbeResult> {
  // A warm-up round of 0 Services loads and compiles everything the round with N runs.
  const empty = new SpeakerCaches(0, mode);
  await empty.start();
  const base = usedAfterGc();
  const full = new SpeakerCaches(n, mode);
  await full.start();
  const used = usedAfterGc();
  const result: ProbeResult = {
    mode,
    services: full.facts.size,
    heapBaseBytes: base,
    heapBytes: used,
    bytesPerService: n > 0 ? (used - base) / n : 0,
    rssBytes: process.memoryUsage().rss,
  };
  await full.stop();
  await empty.stop();
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const n = Number(process.argv[2] ?? 1000);
  const mode: ProbeMode = process.argv[3] === 'before' ? 'before' : 'after';
  process.stdout.write(`${JSON.stringify(await probe(n, mode))}\n`);
}
