// What an informer keeps of each object (InformerOptions.transform): only the fields a decision reads.
// A Service as served is 2–5 kB of JSON (managedFields, kubectl's last-applied-configuration, ports,
// clusterIPs…); a speaker reads a dozen fields of it. At 10,000 Services the difference is most of the
// speaker's heap. Each projection builds a new, small object (the served one is garbage at once) and
// keeps metadata.resourceVersion, which the informer compares to tell an update from a resync.
// The speaker's and the controller's read types (speaker/k8s-types.ts, controller/request.ts) name what
// they read; test/integration/memory.test.ts checks that the speaker decides the same on projected
// objects as on served ones.
import type { ServiceCondition } from './service-conditions.js';

/** Annotations Bollard reads: MetalLB's, old and new. */
export const OUR_ANNOTATION_PREFIXES = ['metallb.io/', 'metallb.universe.tf/'] as const;

export interface MetaView {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface WithMeta {
  metadata?: MetaView & { managedFields?: unknown };
}

function ourAnnotations(a: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!a) return undefined;
  let out: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(a))
    if (OUR_ANNOTATION_PREFIXES.some((p) => k.startsWith(p))) (out ??= {})[k] = v;
  return out;
}

/** name, namespace, uid, resourceVersion, generateName, labels; annotations only if `annotations`. */
export function leanMeta(m: MetaView | undefined, annotations: 'ours' | 'none' = 'none'): MetaView {
  const out: MetaView = {};
  if (!m) return out;
  if (m.name !== undefined) out.name = m.name;
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.generateName !== undefined) out.generateName = m.generateName;
  if (m.labels && Object.keys(m.labels).length > 0) out.labels = m.labels;
  const ann = annotations === 'ours' ? ourAnnotations(m.annotations) : undefined;
  if (ann) out.annotations = ann;
  return out;
}

/**
 * Any object without metadata.managedFields and without annotations that are not MetalLB's (kubectl's
 * last-applied-configuration is often the largest field of an object). The rest stays as served.
 */
export function withoutForeignMetadata<T extends WithMeta>(obj: T): T {
  const m = obj.metadata;
  if (!m) return obj;
  delete m.managedFields;
  if (m.annotations) {
    const ann = ourAnnotations(m.annotations);
    if (ann) m.annotations = ann;
    else delete m.annotations;
  }
  return obj;
}

export interface ServiceView extends WithMeta {
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    externalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    ports?: { port?: number; protocol?: string }[];
  };
  status?: {
    loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] };
    conditions?: ConditionView[];
  };
}

/** A metav1.Condition as Service status.conditions carries it. */
export type ConditionView = ServiceCondition;

/** The condition types Bollard writes on Services (the speaker keeps these, to compare before writing). */
export const OUR_CONDITION_PREFIX = 'bollard.io/';

/** A Service as the speaker reads it (speaker/service-index.ts serviceFactsOf). */
export function speakerService<T extends ServiceView>(o: T): T {
  const s = o.spec;
  const out: ServiceView = { metadata: leanMeta(o.metadata, 'ours') };
  const generation = (o.metadata as { generation?: number } | undefined)?.generation;
  if (generation !== undefined) (out.metadata as { generation?: number }).generation = generation;
  if (s) {
    const spec: NonNullable<ServiceView['spec']> = {};
    if (s.type !== undefined) spec.type = s.type;
    if (s.loadBalancerClass !== undefined) spec.loadBalancerClass = s.loadBalancerClass;
    if (s.externalTrafficPolicy !== undefined) spec.externalTrafficPolicy = s.externalTrafficPolicy;
    if (s.healthCheckNodePort !== undefined) spec.healthCheckNodePort = s.healthCheckNodePort;
    // (the owner's delivery check connects to each TCP port)
    if (s.ports && s.ports.length > 0)
      spec.ports = s.ports.map((p) => ({
        ...(p.port !== undefined ? { port: p.port } : {}),
        ...(p.protocol !== undefined ? { protocol: p.protocol } : {}),
      }));
    out.spec = spec;
  }
  const ingress = o.status?.loadBalancer?.ingress;
  if (ingress && ingress.length > 0)
    out.status = {
      ...out.status,
      loadBalancer: {
        ingress: ingress.map((i) => {
          const x: { ip?: string; hostname?: string } = {};
          if (i.ip !== undefined) x.ip = i.ip;
          if (i.hostname !== undefined) x.hostname = i.hostname;
          return x;
        }),
      },
    };
  const conditions = o.status?.conditions?.filter((c) => c.type.startsWith(OUR_CONDITION_PREFIX));
  if (conditions && conditions.length > 0) (out.status ??= {}).conditions = conditions;
  return out as T;
}

interface Endpoint {
  nodeName?: string;
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
}

export interface EndpointSliceView extends WithMeta {
  addressType?: string;
  endpoints?: Endpoint[];
}

/** The label that names a slice's Service: the only label the speaker reads of a slice. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** An EndpointSlice as the speaker reads it: its Service, each endpoint's node and conditions. */
export function speakerEndpointSlice<T extends EndpointSliceView>(o: T): T {
  const meta = leanMeta(o.metadata);
  const svc = o.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (svc !== undefined) meta.labels = { [SERVICE_NAME_LABEL]: svc };
  else delete meta.labels;
  const out: EndpointSliceView = { metadata: meta };
  if (o.addressType !== undefined) out.addressType = o.addressType;
  if (o.endpoints)
    out.endpoints = o.endpoints.map((e) => {
      // Built by assignment: an object spread of conditional parts ({...(x ? {a} : {})}) makes a
      // dictionary-mode object, four times the size (464 B against 111 B per endpoint, Node 20).
      const x: Endpoint = {};
      if (e.nodeName !== undefined) x.nodeName = e.nodeName;
      const c = e.conditions;
      if (c) {
        const conditions: NonNullable<Endpoint['conditions']> = {};
        if (c.ready !== undefined) conditions.ready = c.ready;
        if (c.serving !== undefined) conditions.serving = c.serving;
        if (c.terminating !== undefined) conditions.terminating = c.terminating;
        x.conditions = conditions;
      }
      return x;
    });
  return out as T;
}

export interface NodeView extends WithMeta {
  status?: {
    addresses?: { type?: string; address?: string }[];
    conditions?: { type?: string; status?: string }[];
  };
}

/** A Node as the speaker reads it: labels, addresses, conditions' type and status (not its images). */
export function speakerNode<T extends NodeView>(o: T): T {
  const out: NodeView = { metadata: leanMeta(o.metadata) };
  const st = o.status;
  if (st) {
    const status: NonNullable<NodeView['status']> = {};
    if (st.addresses) status.addresses = st.addresses.map((a) => ({ type: a.type, address: a.address }));
    if (st.conditions) status.conditions = st.conditions.map((c) => ({ type: c.type, status: c.status }));
    out.status = status;
  }
  return out as T;
}

export interface StatusObjectView extends WithMeta {
  status?: unknown;
}

/** A status object (ServiceL2Status, ServiceBGPStatus): its metadata and status, not its spec. */
export function statusObject<T extends StatusObjectView>(o: T): T {
  const out: StatusObjectView = {
    metadata: leanMeta(o.metadata),
  };
  if (o.status !== undefined) out.status = o.status;
  return out as T;
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  time?: string;
  fieldsV1?: unknown;
}

/** Whether a managedFields entry's fieldsV1 owns something under status.loadBalancer. */
function ownsLoadBalancerStatus(fieldsV1: unknown): boolean {
  if (typeof fieldsV1 !== 'object' || fieldsV1 === null) return false;
  const status = (fieldsV1 as Record<string, unknown>)['f:status'];
  return typeof status === 'object' && status !== null && 'f:loadBalancer' in status;
}

/** The field manager of the controller's writes to a Service's status. */
export const CONTROLLER_FIELD_MANAGER = 'bollard-controller';

/**
 * A Service as the controller keeps it: as served, without the annotations that are not MetalLB's, and
 * with managedFields cut to the names of the other managers that own part of status.loadBalancer (not
 * their field sets, not the controller's own entry): who else writes the status Bollard writes
 * (controller/conflicts.ts). Usually nothing is kept.
 */
export function controllerService<T extends WithMeta>(obj: T): T {
  const mf = obj.metadata?.managedFields;
  withoutForeignMetadata(obj);
  if (!Array.isArray(mf) || !obj.metadata) return obj;
  const kept: { manager?: string }[] = [];
  for (const e of mf as ManagedFieldsEntry[]) {
    if (e.manager === CONTROLLER_FIELD_MANAGER || !ownsLoadBalancerStatus(e.fieldsV1)) continue;
    kept.push(e.manager !== undefined ? { manager: e.manager } : {});
  }
  if (kept.length > 0) obj.metadata.managedFields = kept;
  return obj;
}
