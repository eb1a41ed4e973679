// Applying deploy/'s manifests to the lab's apiserver: server-side apply of any kind, with the
// resource found by discovery (so CRDs and RBAC written by other hands apply as they are), waiting
// for CRDs to be Established; and the lab's demo objects (pools, advertisements, peers, Services).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ApiError, type KubeClient } from '../k8s/client.js';
import { LabError } from './errors.js';
import { waitFor } from './process.js';
import type { Topology } from './topology.js';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/** Parses every object in a YAML file (skips empty documents and `List`s are flattened). */
export function readManifests(file: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) throw new LabError(file, doc.errors[0]?.message ?? 'bad YAML');
    const obj = doc.toJS() as Manifest | { kind: 'List'; items: Manifest[] } | null;
    if (!obj) continue;
    if (obj.kind === 'List' && 'items' in obj) out.push(...(obj.items as Manifest[]));
    else if ('apiVersion' in obj && obj.apiVersion && obj.metadata?.name) out.push(obj as Manifest);
  }
  return out;
}

/** The YAML files of a deploy/ folder (sorted), or none if it does not exist yet. */
export function manifestFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort()
    .map((f) => join(dir, f));
}

export class Applier {
  private readonly discovery = new Map<string, ApiResourceList>();

  constructor(private readonly client: KubeClient) {}

  private async resourceFor(m: Manifest): Promise<{ plural: string; namespaced: boolean }> {
    const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
    const find = (list: ApiResourceList | undefined) =>
      list?.resources.find((r) => r.kind === m.kind && !r.name.includes('/'));
    let found = find(this.discovery.get(base));
    if (!found) {
      // A CRD just made may take a moment to appear in discovery.
      found = await waitFor(
        `discovery of ${m.apiVersion} ${m.kind}`,
        async () => {
          try {
            const list = await this.client.get<ApiResourceList>(base);
            this.discovery.set(base, list);
            return find(list);
          } catch (err) {
            if (err instanceof ApiError && err.notFound) return undefined;
            throw err;
          }
        },
        20_000,
        100,
      );
    }
    return { plural: found.name, namespaced: found.namespaced };
  }

  async path(m: Manifest): Promise<string> {
    const { plural, namespaced } = await this.resourceFor(m);
    const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
    const ns = namespaced ? `/namespaces/${m.metadata.namespace ?? 'default'}` : '';
    return `${base}${ns}/${plural}/${m.metadata.name}`;
  }

  /** Server-side apply (creates or updates; the lab owns the fields it sets). */
  async apply(m: Manifest): Promise<void> {
    const { namespaced } = await this.resourceFor(m);
    const body = namespaced
      ? { ...m, metadata: { ...m.metadata, namespace: m.metadata.namespace ?? 'default' } }
      : m;
    await this.client.patch(await this.path(m), body, 'apply', { fieldManager: 'bollard-lab', force: true });
  }

  async applyAll(ms: readonly Manifest[]): Promise<void> {
    // Namespaces first, then everything else in file order.
    for (const m of ms.filter((x) => x.kind === 'Namespace')) await this.apply(m);
    for (const m of ms.filter((x) => x.kind !== 'Namespace')) await this.apply(m);
  }

  /** Applies CRDs and waits for each to be Established. Returns the CRD names. */
  async applyCrds(files: readonly string[]): Promise<string[]> {
    const crds = files.flatMap(readManifests).filter((m) => m.kind === 'CustomResourceDefinition');
    await Promise.all(crds.map((m) => this.apply(m)));
    await Promise.all(
      crds.map((m) =>
        waitFor(
          `CRD ${m.metadata.name} Established`,
          async () => {
            const crd = await this.client.get<{
              status?: { conditions?: { type: string; status: string }[] };
            }>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${m.metadata.name}`);
            return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
              ? true
              : undefined;
          },
          30_000,
          100,
        ),
      ),
    );
    return crds.map((m) => m.metadata.name);
  }
}

export const METALLB_NAMESPACE = 'metallb-system';

/** The ServiceAccount a component's RBAC file defines (the first one), if the file exists. */
export function serviceAccountOf(file: string): { namespace: string; name: string } | undefined {
  if (!existsSync(file)) return undefined;
  const sa = readManifests(file).find((m) => m.kind === 'ServiceAccount');
  return sa ? { namespace: sa.metadata.namespace ?? METALLB_NAMESPACE, name: sa.metadata.name } : undefined;
}

/** The metallb.io objects of the demo: an L2 pool + L2Advertisement; a BGP pool + BGPAdvertisement + peers. */
export function metallbDemoObjects(topo: Topology): Manifest[] {
  const ns = METALLB_NAMESPACE;
  const objs: Manifest[] = [
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: topo.l2Pool.name, namespace: ns },
      spec: { addresses: topo.l2Pool.addresses },
    },
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: topo.l2Pool.name, namespace: ns },
      spec: { ipAddressPools: [topo.l2Pool.name] },
    },
  ];
  if (topo.router.kind === 'none') return objs;
  objs.push(
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: topo.bgpPool.name, namespace: ns },
      // Only Services that ask for it (annotation metallb.io/address-pool: lab-bgp) get a BGP VIP.
      spec: { addresses: topo.bgpPool.addresses, autoAssign: false },
    },
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'BGPAdvertisement',
      metadata: { name: topo.bgpPool.name, namespace: ns },
      spec: { ipAddressPools: [topo.bgpPool.name] },
    },
    {
      apiVersion: 'metallb.io/v1beta2',
      kind: 'BGPPeer',
      metadata: { name: 'lab-router-v4', namespace: ns },
      spec: { myASN: topo.nodes[0]?.asn, peerASN: topo.router.asn, peerAddress: topo.router.ipv4.ip },
    },
  );
  if (topo.router.ipv6) {
    objs.push({
      apiVersion: 'metallb.io/v1beta2',
      kind: 'BGPPeer',
      metadata: { name: 'lab-router-v6', namespace: ns },
      spec: { myASN: topo.nodes[0]?.asn, peerASN: topo.router.asn, peerAddress: topo.router.ipv6.ip },
    });
  }
  return objs;
}

export interface ServiceOptions {
  namespace: string;
  name: string;
  /** Pods with these labels back it (default {app: name}). */
  selector?: Record<string, string>;
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  externalTrafficPolicy?: 'Cluster' | 'Local';
  annotations?: Record<string, string>;
  port?: number;
  /** Dual-stack when the lab is (default: the lab's setting). */
  dualStack?: boolean;
}

export function serviceObject(opts: ServiceOptions, topo: Topology): Manifest {
  const dual = (opts.dualStack ?? true) && topo.ipv6;
  const type = opts.type ?? 'LoadBalancer';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: opts.name,
      namespace: opts.namespace,
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    spec: {
      type,
      selector: opts.selector ?? { app: opts.name },
      ipFamilyPolicy: dual ? 'PreferDualStack' : 'SingleStack',
      ...(dual ? { ipFamilies: ['IPv4', 'IPv6'] } : { ipFamilies: ['IPv4'] }),
      ...(type !== 'ClusterIP' && opts.externalTrafficPolicy
        ? { externalTrafficPolicy: opts.externalTrafficPolicy }
        : {}),
      ports: [{ name: 'http', port: opts.port ?? 80, targetPort: topo.podPort, protocol: 'TCP' }],
    },
  };
}
