// The controller's informers: Services, Namespaces (for namespace selectors) and the metallb.io
// configuration kinds of the install namespace, each retrying its watch and counting the failures.
import type { KubernetesObject } from '@kubernetes/client-node';
import { RESOURCES, resourcePath, type KubeClient } from '../k8s/client.js';
import { Informer } from '../k8s/informer.js';
import { logListenerError } from '../k8s/informer-delivery.js';
import type { ObjectReference } from '../k8s/events.js';
import type { Logger } from '../k8s/logger.js';
import { METALLB } from '../k8s/status.js';
import { controllerService } from '../k8s/projection.js';
import type { CRObject, ConfigInput } from '../config/types.js';
import type { ControllerMetrics } from './metrics.js';
import type { ServiceLike } from './request.js';

export type Service = ServiceLike & KubernetesObject & { metadata: ServiceLike['metadata'] };
export type Namespace = KubernetesObject & { metadata: { name: string; labels?: Record<string, string> } };
export type CR = KubernetesObject & CRObject;

export const CONFIG_KINDS = {
  ipAddressPools: { ref: METALLB.ipAddressPools, kind: 'IPAddressPool' },
  l2Advertisements: { ref: METALLB.l2Advertisements, kind: 'L2Advertisement' },
  bgpAdvertisements: { ref: METALLB.bgpAdvertisements, kind: 'BGPAdvertisement' },
  bgpPeers: { ref: METALLB.bgpPeers, kind: 'BGPPeer' },
  bfdProfiles: { ref: METALLB.bfdProfiles, kind: 'BFDProfile' },
  communities: { ref: METALLB.communities, kind: 'Community' },
} as const;
export type ConfigKey = keyof typeof CONFIG_KINDS;

export interface ControllerInformers {
  readonly services: Informer<Service>;
  readonly namespaces: Informer<Namespace>;
  readonly crs: Record<ConfigKey, Informer<CR>>;
}

export function controllerInformers(o: {
  client: KubeClient;
  namespace: string;
  log: Logger;
  metrics: ControllerMetrics;
}): ControllerInformers {
  const onError = (what: string) => (err: Error) => {
    o.metrics.updateErrors.inc();
    o.log.warn({ err: err.message, informer: what }, `watch of ${what} failed; retrying`);
  };
  const onListenerError = logListenerError(o.log);
  const services = new Informer<Service>(o.client, {
    resource: RESOURCES.services,
    transform: controllerService,
    onError: onError('services'),
    onListenerError,
  });
  const namespaces = new Informer<Namespace>(o.client, {
    resource: RESOURCES.namespaces,
    onError: onError('namespaces'),
    onListenerError,
  });
  const crs = {} as Record<ConfigKey, Informer<CR>>;
  for (const [k, v] of Object.entries(CONFIG_KINDS) as [ConfigKey, (typeof CONFIG_KINDS)[ConfigKey]][]) {
    crs[k] = new Informer<CR>(o.client, {
      resource: v.ref,
      namespace: o.namespace,
      onError: onError(v.ref.plural),
      onListenerError,
    });
  }
  return { services, namespaces, crs };
}

/** The Service as the object an Event is about. */
export function svcRef(s: Service): ObjectReference {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    namespace: s.metadata.namespace,
    name: s.metadata.name,
    uid: s.metadata.uid,
    resourceVersion: s.metadata.resourceVersion,
  };
}

/** Every Service from a fresh (quorum) list, in pages of 500, not from the cache. */
export async function listServices(client: KubeClient): Promise<Service[]> {
  const out: Service[] = [];
  let cont: string | undefined;
  do {
    const page = await client.get<{ items: Service[]; metadata?: { continue?: string } }>(
      resourcePath(RESOURCES.services),
      { limit: 500, continue: cont },
    );
    out.push(...page.items);
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return out;
}

/** The configuration objects in the caches, as parseConfig takes them. */
export function configInput(crs: Record<ConfigKey, Informer<CR>>): ConfigInput {
  const list = (k: ConfigKey) => crs[k].list();
  return {
    ipAddressPools: list('ipAddressPools'),
    l2Advertisements: list('l2Advertisements'),
    bgpAdvertisements: list('bgpAdvertisements'),
    bgpPeers: list('bgpPeers'),
    bfdProfiles: list('bfdProfiles'),
    communities: list('communities'),
  };
}

/** A configuration object of this kind from the caches, if there. */
export function configObject(
  crs: Record<ConfigKey, Informer<CR>>,
  kind: string,
  namespace: string,
  name: string,
): CR | undefined {
  const key = (Object.keys(CONFIG_KINDS) as ConfigKey[]).find((k) => CONFIG_KINDS[k].kind === kind);
  return key ? crs[key].get(namespace, name) : undefined;
}
