// The speaker (layer 2): watches Services, EndpointSlices, Nodes and the metallb.io configuration;
// membership among speakers decides who is alive; the pure election picks one owner per Service;
// this node answers ARP/NDP for what it owns and writes ServiceL2Status objects, Events and metrics.
//
// API down is not an outage: the informers keep their caches and ownership changes only with
// membership and health; writes that fail are retried by the next reconcile.
import { hostname } from 'node:os';
import { KubeClient, RESOURCES, resourcePath, ApiError } from '../k8s/client.js';
import { Informer, specOrLabelsChanged } from '../k8s/informer.js';
import { speakerEndpointSlice, speakerNode, speakerService, statusObject } from '../k8s/projection.js';
import { logListenerError } from '../k8s/informer-delivery.js';
import { background } from '../k8s/background.js';
import { makeLogger, objRef, type Logger } from '../k8s/logger.js';
import { EventRecorder, type ObjectReference } from '../k8s/events.js';
import { METALLB, configCondition, writeConfigurationState } from '../k8s/status.js';
import { startMetricsServer, type MetricsServer } from '../k8s/metrics-server.js';
import { parseConfig, summarizeErrors } from '../config/parse.js';
import type { LabelSelector } from '../config/selector.js';
import type { Config, CRObject } from '../config/types.js';
import { DEFAULT_INTERFACE_EXCLUDES } from '../net/interfaces.js';
import { Layer2Responder } from './layer2/responder.js';
import { announcementsOf, decideLayer2, type ServiceDecision, type ServiceFacts } from './layer2/decide.js';
import { ElectionHashes } from './layer2/election.js';
import { PassScheduler, type PassScope } from './pass-scheduler.js';
import { AnnouncedSeries } from './announced-series.js';
import type { MembershipHandle } from './membership/agent.js';
import { ThreadedMembership } from './membership/threaded.js';
import type { MembershipOptions } from './membership/core.js';
import { HealthProber, type HealthTarget } from './health.js';
import { SpeakerMetrics } from './metrics.js';
import { endpointUsable, type EndpointFacts, type NodeFacts } from './eligibility.js';
import { BgpController } from './bgp/controller.js';
import { EndpointIndex, serviceFactsOf, serviceKey, splitServiceKey } from './service-index.js';
import {
  condition,
  internalIPs,
  type EndpointSliceObj,
  type L2StatusObj,
  type NodeObj,
  type SecretObj,
  type ServiceObj,
} from './k8s-types.js';

export const MEMBERLIST_SECRET = 'memberlist';
export const MEMBERLIST_KEY = 'secretkey';

export interface SpeakerOptions {
  kubeconfig?: string;
  node: string;
  namespace?: string;
  metricsBind?: string;
  /** Membership among speakers (default true); false = Node Ready condition decides liveness. */
  membership?: boolean;
  membershipPort?: number;
  membershipOptions?: Partial<MembershipOptions>;
  interfacesExclude?: readonly string[];
  /** Handle only Services with this loadBalancerClass ("" = only those with none). */
  lbClass?: string;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  logLevel?: string;
  logger?: Logger;
  /** BGP sessions towards the BGPPeers of this node (default true). */
  bgp?: boolean;
  /**
   * Layer 2: answer ARP/NDP for the VIPs this node is elected for (default true). false opens no
   * packet socket (the speaker then needs no NET_RAW); only for nodes no L2Advertisement selects.
   */
  layer2?: boolean;
  /** Port the BGP speaker accepts connections on (default 179; 0 = dial only). */
  bgpListenPort?: number;
}

/** What asked for a decision pass (bollard_speaker_reconcile_triggers_total). */
type PassTrigger =
  | 'service'
  | 'endpoints'
  | 'node'
  | 'membership'
  | 'failover'
  | 'member-health'
  | 'health'
  | 'config'
  | 'bgp'
  | 'periodic'
  | 'start';

export interface SpeakerHandle {
  readonly metricsPort: number;
  /** Current decisions (for tests and diagnostics). */
  decisions(): ReadonlyMap<string, ServiceDecision>;
  stop(): Promise<void>;
}

/** A metallb.io object as served (checked by parseConfig, not trusted). */
interface CrObj {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: Record<string, unknown>;
}

function toCR(list: CrObj[]): CRObject[] {
  return list.flatMap((o) =>
    o.metadata?.name ? [{ ...o, metadata: { ...o.metadata, name: o.metadata.name } }] : [],
  );
}

/** What the decisions read of a Node: labels, Ready, NetworkUnavailable, InternalIPs. */
function nodeSignature(n: NodeObj): string {
  return JSON.stringify([
    n.metadata?.labels ?? {},
    condition(n, 'Ready'),
    condition(n, 'NetworkUnavailable'),
    internalIPs(n),
  ]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function serviceRef(svc: ServiceFacts, uid?: string): ObjectReference {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    namespace: svc.namespace,
    name: svc.name,
    ...(uid ? { uid } : {}),
  };
}

export async function runSpeaker(opts: SpeakerOptions): Promise<SpeakerHandle> {
  const self = opts.node;
  const namespace = opts.namespace ?? 'metallb-system';
  const log = opts.logger ?? makeLogger({ component: 'speaker', level: opts.logLevel ?? 'info' });
  const lbClass = opts.lbClass ?? '';
  const client = KubeClient.load(opts.kubeconfig);
  const metrics = new SpeakerMetrics();
  const events = new EventRecorder(client, {
    controller: 'metallb-speaker',
    instance: `${self}/${hostname()}`,
    onError: (err, ev) =>
      log.warn(
        {
          err: err.message,
          reason: ev.reason,
          ...objRef(ev.regarding.kind, ev.regarding.namespace, ev.regarding.name),
        },
        'event not written',
      ),
  });

  const layer2 = opts.layer2 ?? true;
  const responder = new Layer2Responder({
    excludes: opts.interfacesExclude ?? DEFAULT_INTERFACE_EXCLUDES,
    ...(layer2 ? {} : { scan: () => [], rescanMs: 0 }),
    counters: {
      request: (ip) => metrics.requests.inc({ ip }),
      response: (ip) => metrics.responses.inc({ ip }),
      gratuitous: (ip) => metrics.gratuitous.inc({ ip }),
    },
    log: {
      info: (o, m) => log.info(o, m),
      warn: (o, m) => log.warn(o, m),
      debug: (o, m) => log.debug(o, m),
    },
  });

  const onInformerError = (what: string) => (err: Error) =>
    log.warn({ err: err.message, resource: what }, 'watch error; retrying');
  const onListenerError = logListenerError(log);
  const services = new Informer<ServiceObj & { metadata?: { name?: string } }>(client, {
    resource: RESOURCES.services,
    transform: speakerService,
    onError: onInformerError('services'),
    onListenerError,
  });
  const slices = new Informer<EndpointSliceObj>(client, {
    resource: RESOURCES.endpointSlices,
    transform: speakerEndpointSlice,
    onError: onInformerError('endpointslices'),
    onListenerError,
  });
  const nodes = new Informer<NodeObj>(client, {
    resource: RESOURCES.nodes,
    transform: speakerNode,
    onError: onInformerError('nodes'),
    onListenerError,
  });
  const pools = new Informer<CrObj>(client, {
    resource: METALLB.ipAddressPools,
    namespace,
    onError: onInformerError('ipaddresspools'),
    onListenerError,
  });
  const l2advs = new Informer<CrObj>(client, {
    resource: METALLB.l2Advertisements,
    namespace,
    onError: onInformerError('l2advertisements'),
    onListenerError,
  });
  const secrets = new Informer<SecretObj>(client, {
    resource: RESOURCES.secrets,
    namespace,
    fieldSelector: `metadata.name=${MEMBERLIST_SECRET}`,
    onError: onInformerError('secrets'),
    onListenerError,
  });
  const statuses = new Informer<L2StatusObj>(client, {
    resource: METALLB.serviceL2Statuses,
    transform: statusObject,
    namespace,
    labelSelector: `metallb.io/node=${self}`,
    onError: onInformerError('servicel2statuses'),
    onListenerError,
  });
  const informers = [services, slices, nodes, pools, l2advs, secrets, statuses];
  let synced = false;
  // BGP (speaker/bgp): its own informers and sessions; fed by every reconcile below.
  const bgp =
    opts.bgp === false
      ? undefined
      : new BgpController({
          client,
          namespace,
          node: self,
          log,
          registry: metrics.registry,
          announced: metrics.announced,
          onChange: () => {
            // BGPPeer/BGPAdvertisement/… errors (a missing password Secret) go into ConfigurationState too
            if (synced) loadConfig();
            schedule('bgp');
          },
          ...(opts.bgpListenPort !== undefined ? { listenPort: opts.bgpListenPort } : {}),
          nodes: () =>
            nodes.list().map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} })),
        });

  const metricsServer: MetricsServer | undefined = opts.metricsBind
    ? await startMetricsServer({
        bind: opts.metricsBind,
        registry: metrics.registry,
        ready: () => synced,
        notReadyReason: () => 'caches not synced',
      })
    : undefined;

  // --- configuration ---
  let config: Config | undefined;
  let serviceSelectors = new Map<string, readonly LabelSelector[]>();
  let lastConfigState = '';
  const loadConfig = (): void => {
    const r = parseConfig({ ipAddressPools: toCR(pools.list()), l2Advertisements: toCR(l2advs.list()) });
    const bgpErrors = bgp?.configErrors ?? '';
    const valid = r.ok && bgpErrors === '';
    const errorSummary = [r.ok ? '' : summarizeErrors(r.errors), bgpErrors]
      .filter((x) => x !== '')
      .join('\n');
    const state = valid ? 'Valid' : `Invalid\n${errorSummary}`;
    if (r.ok) {
      config = r.config;
      serviceSelectors = new Map(r.config.l2Advertisements.map((a) => [a.name, a.serviceSelectors]));
      metrics.configLoaded.set(1);
      metrics.configStale.set(0);
    } else {
      metrics.configStale.set(config ? 1 : 0);
      log.warn(
        { errors: r.errors.map((e) => e.message) },
        'invalid configuration; the last good one stays in force',
      );
    }
    if (state !== lastConfigState) {
      lastConfigState = state;
      writeConfigurationState(
        client,
        namespace,
        `speaker-${self}`,
        { type: 'Speaker', nodeName: self },
        {
          result: valid ? 'Valid' : 'Invalid',
          errorSummary,
          conditions: [configCondition('configReconcilerValid', valid ? '' : errorSummary)],
        },
      ).catch((err: Error) => {
        lastConfigState = '';
        log.debug({ err: err.message }, 'configuration state not written');
      });
    }
  };

  // --- membership ---
  let agent: MembershipHandle | undefined;
  let agentStarting = false;
  const membershipOn = opts.membership ?? true;
  const memberlistKey = (): Buffer | undefined => {
    const v = secrets.get(namespace, MEMBERLIST_SECRET)?.data?.[MEMBERLIST_KEY];
    if (!v) return undefined;
    const b = Buffer.from(v, 'base64');
    return b.length > 0 ? b : undefined;
  };
  const peers = (): Map<string, string> => {
    const out = new Map<string, string>();
    for (const n of nodes.list()) {
      const ip = internalIPs(n)[0];
      if (n.metadata?.name && ip) out.set(n.metadata.name, ip);
    }
    return out;
  };
  const syncMembership = (): void => {
    // Not before every cache is filled: the peers come from the Node objects.
    if (!membershipOn || !synced) return;
    const key = memberlistKey();
    if (!key) {
      if (!agent)
        log.warn(
          { ...objRef('Secret', namespace, MEMBERLIST_SECRET) },
          'no membership key yet; liveness from Node Ready until it exists',
        );
      return;
    }
    if (agent) {
      agent.setKey(key);
      agent.setPeers(peers());
      return;
    }
    if (agentStarting) return;
    agentStarting = true;
    // on a thread of its own: stalls of this thread (passes, garbage collection) delay no ping or ack
    const a = new ThreadedMembership({
      self,
      port: opts.membershipPort ?? 7946,
      key,
      ...(opts.membershipOptions ? { options: opts.membershipOptions } : {}),
      onError: (err) => log.warn({ err: err.message }, 'membership error'),
    });
    // alive <-> suspect changes nothing (a suspect still counts as alive): log it, decide nothing
    let lastLive = '';
    let lastLiveNodes: ReadonlySet<string> = new Set();
    a.on('change', (changes) => {
      const liveNodes = a.liveNodes();
      const live = [...liveNodes].sort().join(',');
      log.info({ changes, live }, 'membership changed');
      if (live === lastLive) return;
      const lost = new Set([...lastLiveNodes].filter((n) => !liveNodes.has(n)));
      lastLive = live;
      lastLiveNodes = liveNodes;
      // Failover first: the Services a lost node owned are decided at once, before the pass over
      // everything (which at thousands of Services takes far longer). Owners of other Services do not
      // change when a node that did not own them leaves.
      const orphaned = [...decisions].flatMap(([k, d]) =>
        d.owner !== undefined && lost.has(d.owner) ? [k] : [],
      );
      if (orphaned.length > 0) {
        metrics.passTriggers.inc({ trigger: 'failover' });
        passes.requestFirst(orphaned);
      }
      schedule('membership', { reannounce: true });
    });
    a.on('health', () => schedule('member-health', { keys: localServices() }));
    a.start()
      .then(() => {
        agent = a;
        metrics.setAgent(a);
        a.setPeers(peers());
        a.setHealth(prober.healthy());
        log.info({ port: opts.membershipPort ?? 7946, peers: peers().size }, 'membership started');
        schedule('membership', { reannounce: true });
      })
      .catch((err: Error) => {
        agentStarting = false;
        log.error({ err: err.message }, 'membership could not start; retrying');
        setTimeout(syncMembership, 2000).unref();
      });
  };

  // --- health of this node's kube-proxy for ETP Local Services ---
  const prober = new HealthProber({
    intervalMs: opts.healthIntervalMs ?? 300,
    timeoutMs: opts.healthTimeoutMs ?? 250,
    onChange: (healthy) => {
      log.info({ healthy: [...healthy] }, 'health-check results changed');
      agent?.setHealth(healthy);
      schedule('health', { keys: localServices() });
    },
  });

  metrics.setNode(self, () => prober.results());

  // --- decisions ---
  let decisions = new Map<string, ServiceDecision>();
  const owned = new Map<string, ServiceDecision>();
  const warned = new Set<string>();
  /** Service key -> the VIPs its metallb_speaker_announced series carry */
  const announced = new AnnouncedSeries(metrics.announced, 'layer2', self);
  let reannounceQueued = false;

  // Passes (speaker/pass-scheduler.ts): a change to some Services or their EndpointSlices recomputes
  // those Services only; anything else recomputes every Service, at once.
  const facts = new Map<string, ServiceFacts>();
  const endpointIndex = new EndpointIndex();
  const hashes = new ElectionHashes();
  const passes = new PassScheduler({
    run: (scope) => {
      try {
        return reconcile(scope);
      } catch (err) {
        log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'reconcile failed');
        return false;
      }
    },
    onPass: (scope, ms) => {
      metrics.passDuration.observe({ scope: scope === 'all' ? 'all' : 'changed' }, ms / 1000);
      syncStatusesLater();
    },
    timers: {
      now: () => performance.now(),
      after: (fn, ms) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      },
      soon: (fn) => setImmediate(fn),
    },
  });

  /**
   * Asks for a pass: `keys` = only these Services ("ns/name") changed; none = everything may have.
   * `reannounce`: send gratuitous ARP/NA for every owned VIP once the pass is done.
   */
  const schedule = (
    trigger: PassTrigger,
    { keys, reannounce = false }: { keys?: Iterable<string>; reannounce?: boolean } = {},
  ): void => {
    metrics.passTriggers.inc({ trigger });
    if (reannounce) reannounceQueued = true;
    passes.request(keys);
  };

  // The facts of a Service object, computed once per object (the informer replaces an object when it
  // changes), so unchanged Services keep the same facts object from pass to pass and the BGP side can
  // tell them apart by identity.
  const factsByObject = new WeakMap<ServiceObj, ServiceFacts | null>();
  const factsFor = (s: ServiceObj): ServiceFacts | undefined => {
    let f = factsByObject.get(s);
    if (f === undefined) {
      f = serviceFactsOf(s, lbClass) ?? null;
      factsByObject.set(s, f);
    }
    return f ?? undefined;
  };

  /** Health results only matter to externalTrafficPolicy: Local Services. */
  const localServices = (): string[] =>
    [...facts.values()].filter((f) => f.externalTrafficPolicy === 'Local').map((f) => f.key);

  /** One pass over `scope`; false when nothing can be decided yet. */
  const reconcile = (scope: PassScope): boolean => {
    if (!synced || !config) return false;
    if (scope === 'all') {
      facts.clear();
      for (const s of services.list()) {
        const f = factsFor(s);
        if (f) facts.set(f.key, f);
      }
    } else {
      for (const k of scope) {
        const s = services.get(...splitServiceKey(k));
        const f = s ? factsFor(s) : undefined;
        if (f) facts.set(k, f);
        else facts.delete(k);
      }
    }
    const live = agent?.liveNodes();
    const nodeFacts: NodeFacts[] = nodes.list().map((n) => ({
      name: n.metadata?.name ?? '',
      labels: n.metadata?.labels ?? {},
      networkUnavailable: condition(n, 'NetworkUnavailable') === 'True',
      alive: live ? live.has(n.metadata?.name ?? '') : condition(n, 'Ready') === 'True',
    }));
    const endpointsOf = (k: string): readonly EndpointFacts[] => endpointIndex.of(k);
    const svcs = [...facts.values()];
    const myHealth = prober.healthy();
    const decide = (services: readonly ServiceFacts[]): Map<string, ServiceDecision> =>
      decideLayer2({
        self,
        config: config as Config,
        serviceSelectors,
        services,
        nodes: nodeFacts,
        endpoints: endpointsOf,
        health: (node, k) =>
          node === self ? myHealth.has(k) : agent ? agent.healthOf(node)?.has(k) : undefined,
        unknownHealth: agent ? 'ineligible' : 'eligible',
        hashes,
      });
    if (!layer2) decisions.clear();
    else if (scope === 'all') {
      decisions = decide(svcs);
      hashes.sweep();
    } else {
      const changed: ServiceFacts[] = [];
      for (const k of scope) {
        decisions.delete(k);
        const f = facts.get(k);
        if (f) changed.push(f);
      }
      for (const [k, d] of decide(changed)) decisions.set(k, d);
    }

    bgp?.reconcile({
      services: svcs,
      endpoints: endpointsOf,
      nodes: nodeFacts,
      healthy: myHealth,
      nodeIPs: internalIPs(nodes.get(self) ?? {}),
    });

    // Health targets: this node's kube-proxy for Local Services it has endpoints for.
    const myIp = internalIPs(nodes.get(self) ?? {})[0];
    const targets = new Map<string, HealthTarget>();
    if (myIp) {
      for (const s of svcs) {
        if (s.externalTrafficPolicy !== 'Local' || !s.healthCheckNodePort) continue;
        if (!decisions.has(s.key) && !bgp?.wantsHealth(s.key)) continue;
        const local = endpointIndex.of(s.key).some((e) => e.nodeName === self && endpointUsable(e));
        if (local) targets.set(s.key, { host: myIp, port: s.healthCheckNodePort });
      }
    }
    prober.setTargets(targets);

    // What changed: on a pass over everything, every key we know; otherwise the Services in scope.
    const touched =
      scope === 'all'
        ? new Set([...decisions.keys(), ...owned.keys(), ...warned, ...announced.services()])
        : scope;

    // Gains and losses first, and the responder with them: the data path (gratuitous announcements
    // for what we gained) goes out before the logs, Events and metrics of the same pass.
    let ownershipChanged = scope === 'all';
    const gained: ServiceDecision[] = [];
    const withdrawn: ServiceDecision[] = [];
    for (const k of touched) {
      const d = decisions.get(k);
      if (d && d.owner === self) {
        const before = owned.get(k);
        if (!before) gained.push(d);
        if (
          !before ||
          !sameList(before.service.ips, d.service.ips) ||
          !sameList(before.eligible.get(self) ?? [], d.eligible.get(self) ?? [])
        )
          ownershipChanged = true;
        owned.set(k, d);
      } else if (owned.delete(k)) {
        ownershipChanged = true;
        if (d) withdrawn.push(d);
      }
    }
    // The responder answers for what we own (rebuilt only when that changed).
    if (ownershipChanged) responder.setAnnouncements(announcementsOf(self, owned));
    if (reannounceQueued) {
      reannounceQueued = false;
      responder.reannounce();
    }

    for (const d of gained) {
      log.info(
        {
          ...objRef('Service', d.service.namespace, d.service.name),
          ips: d.service.ips,
          interfaces: responder.interfacesFor(d.service.ips[0] as string),
        },
        'announcing',
      );
      recordEvent(
        serviceRef(d.service),
        'Normal',
        'nodeAssigned',
        `announcing from node "${self}" with protocol "layer2"`,
      );
    }
    for (const d of withdrawn)
      log.info(
        { ...objRef('Service', d.service.namespace, d.service.name), owner: d.owner ?? null },
        'withdrawn',
      );

    // Warnings and metrics. One speaker (the first live one by name) reports Services nobody can
    // announce, so each gets one Event, not N.
    const reporter = [...(live ?? new Set(nodeFacts.filter((n) => n.alive).map((n) => n.name)))].sort()[0];
    for (const k of touched) {
      const d = decisions.get(k);
      if (d && d.owner === undefined) {
        if (reporter === self && !warned.has(k)) {
          warned.add(k);
          const why = [...d.ineligible].map(([n, r]) => `${n}: ${r}`).join(', ');
          recordEvent(
            serviceRef(d.service),
            'Warning',
            'announceFailed',
            `no node is eligible to announce ${d.service.ips.join(', ')} in layer 2 (${why || 'no nodes'})`,
          );
          log.warn({ ...objRef('Service', d.service.namespace, d.service.name), why }, 'no eligible node');
        }
      } else warned.delete(k);

      // metallb_speaker_announced: only the series that changed
      announced.update(k, owned.get(k)?.service.ips ?? []);
    }

    return true;
  };

  /** Records an Event without waiting for it (failures are the recorder's to report). */
  const recordEvent = (...args: Parameters<EventRecorder['emit']>): void => {
    const [regarding, , reason] = args;
    background(log, 'record Event', events.emit(...args), {
      ...objRef(regarding.kind, regarding.namespace, regarding.name),
      reason,
    });
  };

  // --- ServiceL2Status objects (one per owned Service, in our namespace) ---
  let statusRunning = false;
  let statusDirty = false;
  const syncStatuses = async (): Promise<void> => {
    if (statusRunning) {
      statusDirty = true;
      return;
    }
    statusRunning = true;
    try {
      do {
        statusDirty = false;
        const existing = new Map<string, L2StatusObj[]>();
        for (const o of statuses.list()) {
          const k = serviceKey(
            o.metadata?.labels?.['metallb.io/service-namespace'],
            o.metadata?.labels?.['metallb.io/service-name'],
          );
          existing.set(k, [...(existing.get(k) ?? []), o]);
        }
        for (const [k, d] of owned) {
          const ifaces = responder.interfacesFor(d.service.ips[0] as string).map((name) => ({ name }));
          const status = {
            node: self,
            serviceName: d.service.name,
            serviceNamespace: d.service.namespace,
            interfaces: ifaces,
          };
          const [first, ...extra] = existing.get(k) ?? [];
          try {
            if (!first) {
              const created = await client.create<L2StatusObj>(
                resourcePath(METALLB.serviceL2Statuses, namespace),
                {
                  apiVersion: 'metallb.io/v1beta1',
                  kind: 'ServiceL2Status',
                  metadata: {
                    generateName: 'l2-',
                    namespace,
                    labels: {
                      'metallb.io/node': self,
                      'metallb.io/service-name': d.service.name,
                      'metallb.io/service-namespace': d.service.namespace,
                    },
                  },
                },
              );
              await client.patch(
                resourcePath(METALLB.serviceL2Statuses, namespace, created.metadata?.name, 'status'),
                { status },
              );
              metrics.k8sUpdates.inc();
            } else if (JSON.stringify(first.status ?? {}) !== JSON.stringify(status)) {
              await client.patch(
                resourcePath(METALLB.serviceL2Statuses, namespace, first.metadata?.name, 'status'),
                { status },
              );
              metrics.k8sUpdates.inc();
            }
            for (const x of extra)
              await client.delete(resourcePath(METALLB.serviceL2Statuses, namespace, x.metadata?.name));
          } catch (err) {
            metrics.k8sUpdateErrors.inc();
            log.debug({ err: (err as Error).message, service: k }, 'ServiceL2Status not written; will retry');
          }
        }
        for (const [k, list] of existing) {
          if (owned.has(k)) continue;
          for (const o of list) {
            try {
              await client.delete(resourcePath(METALLB.serviceL2Statuses, namespace, o.metadata?.name));
              metrics.k8sUpdates.inc();
            } catch (err) {
              if (!(err instanceof ApiError && err.notFound)) {
                metrics.k8sUpdateErrors.inc();
                log.debug(
                  { err: (err as Error).message, service: k },
                  'ServiceL2Status not deleted; will retry',
                );
              }
            }
          }
        }
      } while (statusDirty);
    } finally {
      statusRunning = false;
    }
  };
  const syncStatusesLater = (): void => background(log, 'write ServiceL2Status objects', syncStatuses());

  // --- wiring ---
  // A Service or its EndpointSlices changed: that Service's decision only.
  const svcKeyOf = (o: ServiceObj): string => serviceKey(o.metadata?.namespace, o.metadata?.name);
  services.on('add', (o) => schedule('service', { keys: [svcKeyOf(o)] }));
  services.on('update', (o) => schedule('service', { keys: [svcKeyOf(o)] }));
  services.on('delete', (o) => schedule('service', { keys: [svcKeyOf(o)] }));
  slices.on('add', (o) => schedule('endpoints', { keys: endpointIndex.set(o) }));
  // (set replaces the slice: the Service it belonged to before is in the list too)
  slices.on('update', (o) => schedule('endpoints', { keys: endpointIndex.set(o) }));
  slices.on('delete', (o) => schedule('endpoints', { keys: endpointIndex.remove(o) }));
  slices.on('synced', () => {
    endpointIndex.reset(slices.list());
    schedule('endpoints');
  });
  // Configuration: status writes to pools (the controller's counts) change nothing here.
  const configChanged = (): void => {
    if (synced) loadConfig();
    schedule('config');
  };
  for (const inf of [pools, l2advs]) {
    inf.on('add', configChanged);
    inf.on('update', (o, old) => specOrLabelsChanged(o, old) && configChanged());
    inf.on('delete', configChanged);
    inf.on('synced', () => synced && loadConfig());
  }
  // Node status is rewritten every few seconds; only what the decisions read asks for a pass.
  // (the BGP configuration's verdict depends on the Nodes and their labels too)
  nodes.on('add', () => {
    syncMembership();
    bgp?.nodesChanged();
    schedule('node');
  });
  nodes.on('delete', () => {
    syncMembership();
    bgp?.nodesChanged();
    schedule('node');
  });
  nodes.on('update', (n, old) => {
    if (nodeSignature(n) === nodeSignature(old)) return;
    syncMembership();
    if (JSON.stringify(n.metadata?.labels ?? {}) !== JSON.stringify(old.metadata?.labels ?? {}))
      bgp?.nodesChanged();
    schedule('node');
  });
  for (const ev of ['add', 'update', 'delete'] as const) secrets.on(ev, () => syncMembership());
  // Our ServiceL2Status deleted by someone: written again (no decision changed).
  statuses.on('delete', () => syncStatusesLater());

  log.info(
    {
      node: self,
      namespace,
      membership: membershipOn,
      metrics: metricsServer ? `${metricsServer.host}:${metricsServer.port}` : null,
    },
    'speaker starting',
  );
  await Promise.all(informers.map((i) => i.start()));
  await bgp?.start();
  synced = true;
  loadConfig();
  syncMembership();
  schedule('start');
  // A periodic pass: retries failed writes, picks up interface changes.
  const periodic = setInterval(() => schedule('periodic'), 5000);
  log.info({ interfaces: responder.interfaces() }, 'speaker running');

  return {
    metricsPort: metricsServer?.port ?? 0,
    decisions: () => decisions,
    stop: async () => {
      // BGP first: Cease to every peer within milliseconds of SIGTERM.
      await bgp?.shutdown();
      clearInterval(periodic);
      passes.stop();
      prober.stop();
      agent?.stop();
      responder.stop();
      await Promise.all(informers.map((i) => i.stop()));
      await bgp?.stop();
      await metricsServer?.close();
      client.close();
    },
  };
}
