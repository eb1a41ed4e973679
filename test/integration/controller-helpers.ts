// Shared by the controller integration tests: install CRDs and RBAC into a real apiserver, create and
// read objects as the admin, and wait for conditions by polling.
import { readFileSync, readdirSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { repoPath } from '../support/repo.js';

export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

const CORE_PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  Service: 'services',
  Secret: 'secrets',
  Pod: 'pods',
  ConfigMap: 'configmaps',
};
const OTHER_PLURALS: Record<string, string> = {
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  CustomResourceDefinition: 'customresourcedefinitions',
  IPAddressPool: 'ipaddresspools',
  L2Advertisement: 'l2advertisements',
  BGPAdvertisement: 'bgpadvertisements',
  BGPPeer: 'bgppeers',
  BFDProfile: 'bfdprofiles',
  Community: 'communities',
  ServiceL2Status: 'servicel2statuses',
  ServiceBGPStatus: 'servicebgpstatuses',
  ConfigurationState: 'configurationstates',
  Lease: 'leases',
};
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

/** The REST path of an object's collection (name = undefined) or of the object. */
export function pathOf(
  o: { apiVersion?: string; kind?: string; metadata: { name?: string; namespace?: string } },
  withName = true,
): string {
  const kind = o.kind ?? '';
  const apiVersion = o.apiVersion ?? 'v1';
  const plural = CORE_PLURALS[kind] ?? OTHER_PLURALS[kind];
  if (!plural) throw new Error(`pathOf: unknown kind ${kind}`);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = CLUSTER_SCOPED.has(kind) ? '' : `/namespaces/${o.metadata.namespace ?? 'default'}`;
  return `${base}${ns}/${plural}${withName && o.metadata.name ? '/' + o.metadata.name : ''}`;
}

export async function create(cp: ControlPlane, o: Obj): Promise<Obj> {
  const r = await cp.request('POST', pathOf(o, false), o);
  if (r.status !== 201 && r.status !== 200)
    throw new Error(`create ${o.kind} ${o.metadata.name}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as Obj;
}

export async function tryCreate(cp: ControlPlane, o: Obj): Promise<{ status: number; body: string }> {
  return cp.request('POST', pathOf(o, false), o);
}

export async function get(cp: ControlPlane, o: Obj): Promise<Obj | undefined> {
  const r = await cp.request('GET', pathOf(o));
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`get ${o.kind} ${o.metadata.name}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as Obj;
}

export async function mergePatch(cp: ControlPlane, o: Obj, patch: unknown): Promise<Obj> {
  const r = await cp.request('PATCH', pathOf(o), patch, 'application/merge-patch+json');
  if (r.status !== 200) throw new Error(`patch ${o.kind} ${o.metadata.name}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as Obj;
}

export async function remove(cp: ControlPlane, o: Obj): Promise<void> {
  const r = await cp.request('DELETE', pathOf(o));
  if (r.status !== 200 && r.status !== 202 && r.status !== 404)
    throw new Error(`delete ${o.kind} ${o.metadata.name}: ${r.status} ${r.body}`);
}

/** Creates every document of a YAML manifest (409 = already there, fine). */
export async function applyManifest(cp: ControlPlane, file: string): Promise<Obj[]> {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);
  for (const d of docs) {
    const r = await cp.request('POST', pathOf(d, false), d);
    if (r.status !== 201 && r.status !== 200 && r.status !== 409)
      throw new Error(`apply ${d.kind} ${d.metadata.name}: ${r.status} ${r.body}`);
  }
  return docs;
}

/** Installs every CRD under deploy/crds and waits until each is Established. */
export async function installCRDs(cp: ControlPlane): Promise<string[]> {
  const dir = repoPath('deploy', 'crds');
  const names: string[] = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.startsWith('metallb.io_') && n.endsWith('.yaml'))
    .sort()) {
    const [crd] = await applyManifest(cp, `${dir}/${f}`);
    if (crd) names.push(crd.metadata.name);
  }
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const r = await cp.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        const conds =
          (JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } }).status
            ?.conditions ?? [];
        return conds.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      30_000,
    );
  }
  // Discovery for the group may lag behind Established by a moment.
  await waitFor(
    'metallb.io discovery',
    async () => ((await cp.request('GET', '/apis/metallb.io/v1beta1')).status === 200 ? true : undefined),
    30_000,
  );
  return names;
}

export interface EventSummary {
  reason: string;
  type: string;
  note: string;
  name: string;
}

/** Events (events.k8s.io/v1) about one object. */
export async function eventsFor(
  cp: ControlPlane,
  namespace: string,
  name: string,
  kind = 'Service',
): Promise<EventSummary[]> {
  const r = await cp.request('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  const items = (
    JSON.parse(r.body) as {
      items: {
        reason?: string;
        type?: string;
        note?: string;
        regarding?: { name?: string; kind?: string };
      }[];
    }
  ).items;
  return items
    .filter((e) => e.regarding?.name === name && e.regarding?.kind === kind)
    .map((e) => ({ reason: e.reason ?? '', type: e.type ?? '', note: e.note ?? '', name }));
}

export async function waitForEvent(
  cp: ControlPlane,
  namespace: string,
  name: string,
  reason: string,
  match?: RegExp,
  kind = 'Service',
  timeoutMs = 20_000,
): Promise<EventSummary> {
  return waitFor(
    `event ${reason} on ${namespace}/${name}`,
    async () =>
      (await eventsFor(cp, namespace, name, kind)).find(
        (e) => e.reason === reason && (!match || match.test(e.note)),
      ),
    timeoutMs,
  );
}

export function ingressIPs(svc: Obj | undefined): string[] {
  const lb = (svc?.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer;
  return (lb?.ingress ?? []).map((i) => i.ip ?? '').filter((s) => s !== '');
}

export function lbService(
  namespace: string,
  name: string,
  extra: {
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    spec?: Record<string, unknown>;
  } = {},
): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, annotations: extra.annotations, labels: extra.labels },
    spec: {
      type: 'LoadBalancer',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      selector: { app: name },
      ...extra.spec,
    },
  };
}

export function pool(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  labels?: Record<string, string>,
): Obj {
  return {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name, namespace, labels },
    spec,
  };
}

export function namespaceObj(name: string, labels?: Record<string, string>): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/** Waits until the Service has exactly `count` ingress IPs (or any, by default), returns them. */
export async function waitForIPs(
  cp: ControlPlane,
  namespace: string,
  name: string,
  count?: number,
  timeoutMs = 20_000,
): Promise<string[]> {
  return waitFor(
    `ingress IPs on ${namespace}/${name}`,
    async () => {
      const ips = ingressIPs(await get(cp, lbService(namespace, name)));
      if (count === undefined ? ips.length > 0 : ips.length === count) return ips;
      return undefined;
    },
    timeoutMs,
  );
}
