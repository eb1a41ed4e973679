// The I/O of `bollard explain`: one read of the cluster (as the user's kubeconfig allows) and one
// scrape of each speaker's /metrics. Everything after this is pure (service.ts, pool.ts, node.ts).
import { ApiError, KubeClient, RESOURCES, resourcePath } from '../../k8s/client.js';
import { METALLB } from '../../k8s/status.js';
import type { CRObject } from '../../config/types.js';
import {
  internalIPs,
  type EndpointSliceObj,
  type L2StatusObj,
  type NodeObj,
} from '../../speaker/k8s-types.js';
import { parsePrometheusText } from './prom.js';
import {
  ExplainError,
  type BGPStatusObj,
  type ConfigStateObj,
  type EventObj,
  type ServiceObject,
  type Snapshot,
  type SpeakerScrape,
} from './types.js';

export interface GatherOptions {
  kubeconfig?: string;
  /** Overrides the kubeconfig's server URL (like kubectl --server). */
  server?: string;
  namespace: string;
  lbClass: string;
  /** host:port of each speaker's /metrics; default: every Node's InternalIP + speakerPort. */
  speakerMetrics?: readonly string[];
  speakerPort: number;
  /** Read the Events of this namespace (explain service); none when unset. */
  eventsNamespace?: string;
  /** Per scrape (default 2000 ms). */
  timeoutMs?: number;
}

interface List<T> {
  items?: T[];
}

async function list<T>(client: KubeClient, path: string, optional = false): Promise<T[]> {
  try {
    return (await client.get<List<T>>(path)).items ?? [];
  } catch (err) {
    if (optional && err instanceof ApiError && (err.notFound || err.status === 403)) return [];
    if (err instanceof ApiError)
      throw new ExplainError(
        path,
        `${err.status || ''} ${err.message}`.trim() + (err.status === 403 ? ' (RBAC)' : ''),
      );
    throw err;
  }
}

/** A scrape result from Prometheus text. */
function scraped(endpoint: string, text: string, node: string | undefined): SpeakerScrape {
  const samples = parsePrometheusText(text);
  const info = samples.find((s) => s.name === 'bollard_speaker_info')?.labels.node;
  return { endpoint, node: info ?? node, reachable: true, samples };
}

/**
 * A speaker pod's /metrics through the apiserver's proxy subresource, as `kubectl get --raw` reads it:
 * reaches the speakers from wherever kubectl works, without a route to the nodes.
 */
export async function scrapeViaApiserver(
  client: KubeClient,
  namespace: string,
  pod: string,
  port: number,
  timeoutMs: number,
  node?: string,
): Promise<SpeakerScrape> {
  const endpoint = `pods/${pod}:${port} (apiserver proxy)`;
  try {
    const text = await client.getText(
      `/api/v1/namespaces/${namespace}/pods/${pod}:${port}/proxy/metrics`,
      timeoutMs,
    );
    return scraped(endpoint, text, node);
  } catch (err) {
    const e = err as Error & { status?: number };
    return {
      endpoint,
      node,
      reachable: false,
      error: e.status ? `HTTP ${e.status}` : e.message,
      samples: [],
    };
  }
}

export async function scrape(endpoint: string, timeoutMs: number, node?: string): Promise<SpeakerScrape> {
  try {
    const r = await fetch(`http://${endpoint}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!r.ok) return { endpoint, node, reachable: false, error: `HTTP ${r.status}`, samples: [] };
    return scraped(endpoint, await r.text(), node);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { endpoint, node, reachable: false, error: e.cause?.code ?? e.message, samples: [] };
  }
}

function bracket(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

interface PodObj {
  metadata?: { name?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

/**
 * Every node's speaker: its pod's metrics through the apiserver's proxy (what works from a laptop
 * with a kubeconfig), else the node's InternalIP directly (speakers run as host processes, or a
 * user without pods/proxy rights on a network that reaches the nodes).
 */
async function scrapeSpeakers(
  client: KubeClient,
  namespace: string,
  nodes: readonly NodeObj[],
  port: number,
  timeoutMs: number,
): Promise<SpeakerScrape[]> {
  const pods = await list<PodObj>(
    client,
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/component=speaker')}`,
    true,
  ).catch(() => [] as PodObj[]);
  const podOn = new Map(
    pods
      .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      .map((p) => [p.spec?.nodeName ?? '', p.metadata?.name ?? '']),
  );
  return Promise.all(
    nodes.map(async (n) => {
      const name = n.metadata?.name;
      const pod = name ? podOn.get(name) : undefined;
      const ip = internalIPs(n)[0];
      const direct = ip ? `${bracket(ip)}:${port}` : undefined;
      if (pod) {
        const viaProxy = await scrapeViaApiserver(client, namespace, pod, port, timeoutMs, name);
        if (viaProxy.reachable || !direct) return viaProxy;
        const d = await scrape(direct, timeoutMs, name);
        return d.reachable ? d : viaProxy;
      }
      return direct
        ? scrape(direct, timeoutMs, name)
        : { endpoint: name ?? '?', node: name, reachable: false, error: 'no InternalIP', samples: [] };
    }),
  );
}

export async function gather(opts: GatherOptions): Promise<Snapshot> {
  let client: KubeClient;
  try {
    // The whole library, loaded only here: the CLI reads any kubeconfig a user has (exec plugins, proxies…).
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    if (opts.server) {
      const current = kc.getCurrentCluster()?.name;
      kc.loadFromOptions({
        clusters: kc.clusters.map((c) => (c.name === current ? { ...c, server: opts.server as string } : c)),
        users: kc.users,
        contexts: kc.contexts,
        currentContext: kc.currentContext,
      });
    }
    client = new KubeClient(kc);
  } catch (err) {
    throw new ExplainError('kubeconfig', (err as Error).message);
  }
  try {
    const ns = opts.namespace;
    const m = (r: (typeof METALLB)[keyof typeof METALLB], optional = false) =>
      list<CRObject>(client, resourcePath(r, ns), optional);
    const [
      services,
      namespaces,
      nodes,
      endpointSlices,
      ipAddressPools,
      l2Advertisements,
      bgpAdvertisements,
      bgpPeers,
      bfdProfiles,
      communities,
      l2Statuses,
      bgpStatuses,
      configStates,
      events,
    ] = await Promise.all([
      list<ServiceObject>(client, resourcePath(RESOURCES.services)),
      list<{ metadata?: { name?: string; labels?: Record<string, string> } }>(
        client,
        resourcePath(RESOURCES.namespaces),
      ),
      list<NodeObj>(client, resourcePath(RESOURCES.nodes)),
      list<EndpointSliceObj>(client, resourcePath(RESOURCES.endpointSlices)),
      m(METALLB.ipAddressPools),
      m(METALLB.l2Advertisements),
      m(METALLB.bgpAdvertisements),
      m(METALLB.bgpPeers, true),
      m(METALLB.bfdProfiles, true),
      m(METALLB.communities, true),
      list<L2StatusObj>(client, resourcePath(METALLB.serviceL2Statuses, ns), true),
      list<BGPStatusObj>(client, resourcePath(METALLB.serviceBGPStatuses, ns), true),
      list<ConfigStateObj>(client, resourcePath(METALLB.configurationStates, ns), true),
      opts.eventsNamespace !== undefined
        ? list<EventObj>(client, resourcePath(RESOURCES.events, opts.eventsNamespace), true)
        : Promise.resolve([]),
    ]);
    const timeoutMs = opts.timeoutMs ?? 2000;
    const speakers =
      opts.speakerMetrics && opts.speakerMetrics.length > 0
        ? await Promise.all(opts.speakerMetrics.map((e) => scrape(e, timeoutMs)))
        : await scrapeSpeakers(client, ns, nodes, opts.speakerPort, timeoutMs);
    return {
      namespace: ns,
      lbClass: opts.lbClass,
      services,
      namespaceLabels: new Map(namespaces.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}])),
      nodes,
      endpointSlices,
      config: { ipAddressPools, l2Advertisements, bgpAdvertisements, bgpPeers, bfdProfiles, communities },
      l2Statuses,
      bgpStatuses,
      configStates,
      events: events.filter((e) => (e.regarding ?? e.involvedObject)?.kind === 'Service'),
      speakers,
    };
  } finally {
    client.close();
  }
}
