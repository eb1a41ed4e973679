// Status writes shared by the controller and the speaker: status subresource patches with a
// resourceVersion precondition and retry on conflict, and the ConfigurationState object.
import { ApiError, resourcePath, type KubeClient, type ResourceRef } from './client.js';

export const METALLB = {
  ipAddressPools: { group: 'metallb.io', version: 'v1beta1', plural: 'ipaddresspools', namespaced: true },
  l2Advertisements: { group: 'metallb.io', version: 'v1beta1', plural: 'l2advertisements', namespaced: true },
  bgpAdvertisements: {
    group: 'metallb.io',
    version: 'v1beta1',
    plural: 'bgpadvertisements',
    namespaced: true,
  },
  bgpPeers: { group: 'metallb.io', version: 'v1beta2', plural: 'bgppeers', namespaced: true },
  bfdProfiles: { group: 'metallb.io', version: 'v1beta1', plural: 'bfdprofiles', namespaced: true },
  communities: { group: 'metallb.io', version: 'v1beta1', plural: 'communities', namespaced: true },
  serviceL2Statuses: {
    group: 'metallb.io',
    version: 'v1beta1',
    plural: 'servicel2statuses',
    namespaced: true,
  },
  serviceBGPStatuses: {
    group: 'metallb.io',
    version: 'v1beta1',
    plural: 'servicebgpstatuses',
    namespaced: true,
  },
  configurationStates: {
    group: 'metallb.io',
    version: 'v1beta1',
    plural: 'configurationstates',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceRef>;

interface WithMeta {
  metadata?: { resourceVersion?: string; name?: string; namespace?: string };
}

/**
 * Merge-patches `status` through the status subresource, with `resourceVersion` as precondition. On a
 * conflict, re-reads the object, asks `still(obj)` whether the write is still wanted, and retries.
 */
export async function patchStatusWithRetry<T extends WithMeta>(
  client: KubeClient,
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
  resourceVersion: string | undefined,
  status: unknown,
  opts: { attempts?: number; still?: (fresh: T) => boolean; fieldManager?: string } = {},
): Promise<T | undefined> {
  let rv = resourceVersion;
  const attempts = opts.attempts ?? 4;
  for (let i = 0; ; i++) {
    try {
      return await client.patch<T>(
        resourcePath(ref, namespace, name, 'status'),
        { metadata: rv ? { resourceVersion: rv } : {}, status },
        'merge',
        opts.fieldManager ? { fieldManager: opts.fieldManager } : undefined,
      );
    } catch (err) {
      if (!(err instanceof ApiError) || !err.conflict || i + 1 >= attempts) throw err;
      const fresh = await client.get<T>(resourcePath(ref, namespace, name));
      if (opts.still && !opts.still(fresh)) return undefined;
      rv = fresh.metadata?.resourceVersion;
    }
  }
}

export type ConfigResult = 'Valid' | 'Invalid' | 'Unknown';

export interface ConfigurationStateStatus {
  result: ConfigResult;
  errorSummary: string;
  conditions?: {
    type: string;
    status: 'True' | 'False' | 'Unknown';
    reason: string;
    message: string;
    lastTransitionTime: string;
  }[];
}

type Condition = NonNullable<ConfigurationStateStatus['conditions']>[number];

/**
 * The condition a component's configuration reconciler reports, with MetalLB's type names
 * (poolReconcilerValid for the controller, configReconcilerValid for a speaker) and reasons
 * (Reconciled, ConfigurationError). `errorSummary` empty = valid.
 */
export function configCondition(
  type: 'poolReconcilerValid' | 'configReconcilerValid',
  errorSummary: string,
  now: Date = new Date(),
): Condition {
  const valid = errorSummary === '';
  return {
    type,
    status: valid ? 'True' : 'False',
    reason: valid ? 'Reconciled' : 'ConfigurationError',
    message: errorSummary.slice(0, 30000),
    lastTransitionTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

export interface ConfigurationStateSpec {
  type: 'Controller' | 'Speaker';
  nodeName?: string;
}

/** MetalLB's labels on a ConfigurationState: metallb.io/component-type, and metallb.io/node-name for a speaker. */
export function configurationStateLabels(spec: ConfigurationStateSpec): Record<string, string> {
  return {
    'metallb.io/component-type': spec.type === 'Controller' ? 'controller' : 'speaker',
    ...(spec.type === 'Speaker' && spec.nodeName ? { 'metallb.io/node-name': spec.nodeName } : {}),
  };
}

/** Creates (if missing) and updates the ConfigurationState `name` in `namespace`, labels included. */
export async function writeConfigurationState(
  client: KubeClient,
  namespace: string,
  name: string,
  spec: ConfigurationStateSpec,
  status: ConfigurationStateStatus,
): Promise<void> {
  const ref = METALLB.configurationStates;
  const labels = configurationStateLabels(spec);
  let existing: { metadata?: { labels?: Record<string, string> } } | undefined;
  try {
    existing = await client.get(resourcePath(ref, namespace, name));
  } catch (err) {
    if (!(err instanceof ApiError) || !err.notFound) throw err;
    try {
      await client.create(resourcePath(ref, namespace), {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'ConfigurationState',
        metadata: { name, namespace, labels },
        spec,
      });
    } catch (e) {
      if (!(e instanceof ApiError) || !e.conflict) throw e;
    }
  }
  // one written by an older version (or edited): the labels are put back
  if (existing && Object.entries(labels).some(([k, v]) => existing?.metadata?.labels?.[k] !== v))
    await client.patch(resourcePath(ref, namespace, name), { metadata: { labels } });
  await client.patch(resourcePath(ref, namespace, name, 'status'), { status });
}
