// The demo workload on real nodes: one Deployment per node (`<app>-<node>`, pinned there by
// kubernetes.io/hostname) running the lab's small web image, so a test can say where a Service's
// endpoints are. The kubelet runs them, probes them and reports readiness; the EndpointSlice
// controller turns that into `ready`, `serving` and `terminating` endpoints.
import type { KubeClient } from '../k8s/client.js';
import { ApiError } from '../k8s/client.js';
import type { Manifest } from './deploy.js';
import { LabError } from './errors.js';
import { waitFor } from './process.js';

export interface WebDeploymentOptions {
  namespace: string;
  /** The app label the Service selects (`app: <app>`). */
  app: string;
  node: string;
  image: string;
  replicas?: number;
  port: number;
  /** How long a terminating pod keeps serving after SIGTERM (the image's DRAIN_SECONDS). */
  drainSeconds?: number;
}

export function webDeploymentName(app: string, node: string): string {
  return `${app}-${node}`;
}

export function webDeployment(o: WebDeploymentOptions): Manifest {
  const name = webDeploymentName(o.app, o.node);
  const labels = { app: o.app, 'bollard.dev/lab-node': o.node };
  const field = (path: string): { valueFrom: { fieldRef: { fieldPath: string } } } => ({
    valueFrom: { fieldRef: { fieldPath: path } },
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: o.namespace, labels },
    spec: {
      replicas: o.replicas ?? 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': o.node },
          terminationGracePeriodSeconds: (o.drainSeconds ?? 0) + 10,
          enableServiceLinks: false,
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'web',
              image: o.image,
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'PORT', value: String(o.port) },
                { name: 'DRAIN_SECONDS', value: String(o.drainSeconds ?? 0) },
                { name: 'POD_NAME', ...field('metadata.name') },
                { name: 'POD_NAMESPACE', ...field('metadata.namespace') },
                { name: 'NODE_NAME', ...field('spec.nodeName') },
              ],
              ports: [{ name: 'http', containerPort: o.port, protocol: 'TCP' }],
              readinessProbe: {
                httpGet: { path: '/healthz', port: 'http' },
                periodSeconds: 1,
                failureThreshold: 1,
                successThreshold: 1,
              },
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
              },
            },
          ],
        },
      },
    },
  };
}

export interface PodSummary {
  namespace: string;
  name: string;
  node: string;
  ips: string[];
  phase: string;
  ready: boolean;
  deleting: boolean;
  labels: Record<string, string>;
  images: string[];
}

interface PodObject {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: { nodeName?: string; containers?: { image?: string }[] };
  status?: {
    phase?: string;
    podIPs?: { ip?: string }[];
    conditions?: { type?: string; status?: string }[];
  };
}

export function podSummary(p: PodObject): PodSummary {
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    node: p.spec?.nodeName ?? '',
    ips: (p.status?.podIPs ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
    phase: p.status?.phase ?? 'Unknown',
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    deleting: p.metadata?.deletionTimestamp !== undefined,
    labels: p.metadata?.labels ?? {},
    images: (p.spec?.containers ?? []).flatMap((c) => (c.image ? [c.image] : [])),
  };
}

/** Pods in a namespace (all namespaces when undefined) matching a label selector string. */
export async function listPods(
  client: KubeClient,
  namespace?: string,
  selector?: string,
): Promise<PodSummary[]> {
  const base = namespace ? `/api/v1/namespaces/${namespace}/pods` : '/api/v1/pods';
  const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : '';
  const list = await client.get<{ items: PodObject[] }>(`${base}${q}`);
  return list.items
    .map(podSummary)
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** Resolves once `count` pods match, every one Running and Ready and none deleting. */
export async function waitPodsReady(
  client: KubeClient,
  namespace: string,
  selector: string,
  count: number,
  timeoutMs = 120_000,
): Promise<PodSummary[]> {
  return waitFor(
    `${count} ready pods ${namespace} ${selector}`,
    async () => {
      const pods = (await listPods(client, namespace, selector)).filter((p) => !p.deleting);
      return pods.length === count && pods.every((p) => p.ready) ? pods : undefined;
    },
    timeoutMs,
    250,
  );
}

interface RolloutObject {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
  };
}

/** Whether a Deployment or DaemonSet has rolled out its current template everywhere (kubectl rollout status). */
export function rolledOut(kind: 'Deployment' | 'DaemonSet', o: RolloutObject): boolean {
  const s = o.status ?? {};
  if ((s.observedGeneration ?? 0) < (o.metadata?.generation ?? 1)) return false;
  if (kind === 'Deployment') {
    const want = o.spec?.replicas ?? 1;
    return s.updatedReplicas === want && s.availableReplicas === want && (s.replicas ?? 0) === want;
  }
  const want = s.desiredNumberScheduled ?? -1;
  return want > 0 && s.updatedNumberScheduled === want && s.numberAvailable === want;
}

/** Resolves once the Deployment or DaemonSet has rolled out. */
export async function waitRolledOut(
  client: KubeClient,
  kind: 'Deployment' | 'DaemonSet',
  namespace: string,
  name: string,
  timeoutMs = 180_000,
): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${namespace}/${kind === 'Deployment' ? 'deployments' : 'daemonsets'}/${name}`;
  await waitFor(
    `${kind} ${namespace}/${name} rolled out`,
    async () => {
      try {
        return rolledOut(kind, await client.get<RolloutObject>(path)) ? true : undefined;
      } catch (err) {
        if (err instanceof ApiError && err.notFound) return undefined;
        throw err;
      }
    },
    timeoutMs,
    500,
  );
}

/** Deletes a pod (the kubelet stops it with SIGTERM and its grace period, as `kubectl delete pod`). */
export async function deletePod(client: KubeClient, namespace: string, name: string): Promise<void> {
  try {
    await client.delete(`/api/v1/namespaces/${namespace}/pods/${name}`);
  } catch (err) {
    if (err instanceof ApiError && err.notFound) return;
    throw err;
  }
}

/** The one pod of `selector` on `node` (e.g. the speaker there). */
export async function podOn(
  client: KubeClient,
  namespace: string,
  selector: string,
  node: string,
): Promise<PodSummary> {
  const pods = (await listPods(client, namespace, selector)).filter((p) => p.node === node && !p.deleting);
  const pod = pods[0];
  if (!pod) throw new LabError(`${namespace} ${selector}`, `no pod on ${node}`);
  return pod;
}
