// The speaker process, wired: informers for Services, EndpointSlices, Nodes and the memberlist Secret;
// the configuration (config-source.ts: one parse of every metallb.io object); membership among the
// speakers (membership/link.ts); this node's kube-proxy health (health.ts); the protocols
// (protocol.ts: layer 2 and BGP); and the pass scheduler (pass-scheduler.ts) that runs a decision pass
// over the Services some event concerns, handing the protocols one PassInput each pass.
//
// API down is not an outage: the informers keep their caches and ownership changes only with
// membership and health; writes that fail are retried by a later pass.
import { hostname } from 'node:os';
import { monotonicClock } from '../proto/clock.js';
import { KubeClient, RESOURCES } from '../k8s/client.js';
import { Informer } from '../k8s/informer.js';
import { speakerEndpointSlice, speakerNode, speakerService } from '../k8s/projection.js';
import { logListenerError } from '../k8s/informer-delivery.js';
import { background } from '../k8s/background.js';
import { makeLogger, objRef, type Logger } from '../k8s/logger.js';
import { EventRecorder } from '../k8s/events.js';
import { startMetricsServer, type MetricsServer } from '../k8s/metrics-server.js';
import { ConfigSource } from './config-source.js';
import { Layer2Controller } from './layer2/controller.js';
import type { ServiceDecision } from './layer2/decide.js';
import { BgpController } from './bgp/controller.js';
import type { PassInput, Protocol } from './protocol.js';
import { PassScheduler, type PassScope } from './pass-scheduler.js';
import { MembershipLink } from './membership/link.js';
import { withMacFacts } from './layer2/prober.js';
import { leavingOf } from './layer2/handover.js';
import type { MembershipOptions } from './membership/messages.js';
import { HealthProber, type HealthTarget } from './health.js';
import { SpeakerMetrics } from './metrics.js';
import { KubeProxyConflicts } from './kube-proxy-conflict.js';
import { EXCLUDE_LB_LABEL, endpointUsable } from './eligibility.js';
import { FlowHandover } from './flows/handover.js';
import { DEFAULT_FLOW_WINDOW_MS, DRAINING_FACT, FLOW_LEAD_MS } from './flows/core.js';
import { serviceKey } from './service-index.js';
import { ServiceView, nodeFactsOf, nodeSignature } from './service-view.js';
import {
  internalIPs,
  type EndpointSliceObj,
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
  /**
   * Graceful shutdown: how long routes stay announced with GRACEFUL_SHUTDOWN before they are withdrawn,
   * on SIGTERM and when the node is excluded (default 5000; 0 = at once). speaker/bgp/drain.ts.
   */
  drainMs?: number;
  /**
   * Flow handover (speaker/flows): after a planned move of a VIP, stray TCP packets of connections in
   * flight go to the node that knows them, for the drain time (needs iptables). Default false here, so
   * an in-process speaker (tests) never touches the host's iptables; the command line's default is true.
   */
  flowHandover?: boolean;
}

/** What asked for a decision pass (bollard_speaker_reconcile_triggers_total). */
type PassTrigger =
  | 'service'
  | 'endpoints'
  | 'node'
  | 'membership'
  | 'failover'
  | 'handover'
  | 'member-health'
  | 'health'
  | 'config'
  | 'bgp'
  | 'periodic'
  | 'start';

export interface SpeakerHandle {
  readonly metricsPort: number;
  /** Current layer 2 decisions (for tests and diagnostics). */
  decisions(): ReadonlyMap<string, ServiceDecision>;
  stop(): Promise<void>;
}

export async function runSpeaker(opts: SpeakerOptions): Promise<SpeakerHandle> {
  const self = opts.node;
  const namespace = opts.namespace ?? 'metallb-system';
  const log = opts.logger ?? makeLogger({ component: 'speaker', level: opts.logLevel ?? 'info' });
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
  /** Records an Event without waiting for it (failures are the recorder's to report). */
  const recordEvent = (...args: Parameters<EventRecorder['emit']>): void => {
    const [regarding, , reason] = args;
    background(log, 'record Event', events.emit(...args), {
      ...objRef(regarding.kind, regarding.namespace, regarding.name),
      reason,
    });
  };

  // --- informers ---
  const onListenerError = logListenerError(log);
  const informer = <T extends object>(
    resource: (typeof RESOURCES)[keyof typeof RESOURCES],
    what: string,
    extra: { namespace?: string; fieldSelector?: string; transform?: (o: T) => T } = {},
  ): Informer<T> =>
    new Informer<T>(client, {
      resource,
      ...extra,
      onError: (err) => log.warn({ err: err.message, resource: what }, 'watch error; retrying'),
      onListenerError,
    });
  // each keeps only the fields a decision reads (k8s/projection.ts)
  const services = informer<ServiceObj & { metadata?: { name?: string } }>(RESOURCES.services, 'services', {
    transform: speakerService,
  });
  const slices = informer<EndpointSliceObj>(RESOURCES.endpointSlices, 'endpointslices', {
    transform: speakerEndpointSlice,
  });
  const nodes = informer<NodeObj>(RESOURCES.nodes, 'nodes', { transform: speakerNode });
  const secrets = informer<SecretObj>(RESOURCES.secrets, 'secrets', {
    namespace,
    fieldSelector: `metadata.name=${MEMBERLIST_SECRET}`,
  });
  const informers = [services, slices, nodes, secrets];
  let synced = false;

  const metricsServer: MetricsServer | undefined = opts.metricsBind
    ? await startMetricsServer({
        bind: opts.metricsBind,
        registry: metrics.registry,
        ready: () => synced,
        notReadyReason: () => 'caches not synced',
      })
    : undefined;

  // --- configuration: one parse of every metallb.io object ---
  const config = new ConfigSource({
    client,
    namespace,
    node: self,
    log,
    metrics,
    bgp: opts.bgp !== false,
    nodes: () =>
      nodes.list().map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} })),
    onChange: (trigger) => schedule(trigger),
  });

  // --- flow handover: strays of moved connections to the node that knows them (speaker/flows) ---
  const flowsOn = opts.flowHandover ?? false;
  const flows = flowsOn
    ? new FlowHandover({
        self,
        log,
        registry: metrics.registry,
        clock: monotonicClock,
        windowMs: opts.drainMs || DEFAULT_FLOW_WINDOW_MS,
        addressesOf: (n) => internalIPs(nodes.get(n) ?? {}),
      })
    : undefined;
  /** SIGTERM received: the other speakers are told (a planned stop, DRAINING_FACT). */
  let draining = false;

  // --- the protocols ---
  const layer2 = new Layer2Controller({
    ...(flows ? { flows } : {}),
    client,
    namespace,
    node: self,
    log,
    metrics,
    recordEvent,
    enabled: opts.layer2 ?? true,
    onFactsChange: () => republishFacts(),
    requestPass: () => schedule('handover'),
    onHandover: (end) => metrics.handovers.inc({ end }),
    ...(opts.interfacesExclude ? { interfacesExclude: opts.interfacesExclude } : {}),
  });
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
          passwords: config.passwords,
          onChange: () => schedule('bgp'),
          ...(opts.bgpListenPort !== undefined ? { listenPort: opts.bgpListenPort } : {}),
          ...(opts.drainMs !== undefined ? { drainMs: opts.drainMs } : {}),
          ...(flowsOn ? { leadMs: FLOW_LEAD_MS } : {}),
        });
  // kube-proxy IPVS without strictARP on this node: a condition on the layer 2 Services it announces.
  const kubeProxy = new KubeProxyConflicts({
    client,
    node: self,
    log,
    recordEvent,
    interfaces: () => layer2.interfaces().map((i) => i.name),
    announced: () =>
      [...layer2.decisions().values()]
        .filter((d) => d.owner === self)
        .map((d) => {
          const svc = services.get(d.service.namespace, d.service.name);
          return {
            namespace: d.service.namespace,
            name: d.service.name,
            conditions: svc?.status?.conditions,
            ...(svc?.metadata?.generation !== undefined ? { generation: svc.metadata.generation } : {}),
            ...(svc?.metadata?.uid !== undefined ? { uid: svc.metadata.uid } : {}),
          };
        }),
    setGauge: (n) => metrics.conflicts.set({ kind: 'ipvs_without_strict_arp' }, n),
    onChange: () => schedule('periodic'),
  });
  // Layer 2 first: its gratuitous announcements after a failover go out before BGP's work.
  const protocols: Protocol[] = bgp ? [layer2, bgp] : [layer2];

  // --- membership and health ---
  const view = new ServiceView(services, opts.lbClass ?? '');
  const membershipOn = opts.membership ?? true;
  /** The peers that said "leaving", as last seen. */
  const leavingPeers = new Set<string>();
  const membership = new MembershipLink({
    self,
    port: opts.membershipPort ?? 7946,
    ...(opts.membershipOptions ? { options: opts.membershipOptions } : {}),
    log,
    key: () => {
      const v = secrets.get(namespace, MEMBERLIST_SECRET)?.data?.[MEMBERLIST_KEY];
      const b = v ? Buffer.from(v, 'base64') : undefined;
      return b && b.length > 0 ? b : undefined;
    },
    keySource: objRef('Secret', namespace, MEMBERLIST_SECRET),
    peers: () => {
      const out = new Map<string, string>();
      for (const n of nodes.list()) {
        const ip = internalIPs(n)[0];
        if (n.metadata?.name && ip) out.set(n.metadata.name, ip);
      }
      return out;
    },
    healthy: () => published(prober.healthy()),
    onStarted: (a) => metrics.setAgent(a),
    onLiveChange: (lost) => {
      // Failover first: the Services a lost node announced are decided at once, before the pass over
      // everything (which at thousands of Services takes far longer).
      const orphaned = protocols.flatMap((p) => p.ownedBy(lost));
      if (orphaned.length > 0) {
        metrics.passTriggers.inc({ trigger: 'failover' });
        passes.requestFirst(orphaned);
      }
      schedule('membership', { reannounce: true });
    },
    // (and the Services this node verifies that those nodes own: their facts may have changed)
    onHealth: (nodes) => {
      // A speaker that says "leaving" (or no longer does): its Services are decided at once, as after
      // a failover, then everything (layer 2 handover, speaker/layer2/handover.ts).
      const mv = membership.view();
      const turned = new Set(
        nodes.filter((n) => n !== self && leavingOf(mv?.healthOf(n)) !== leavingPeers.has(n)),
      );
      if (turned.size > 0) {
        for (const n of turned) if (!leavingPeers.delete(n)) leavingPeers.add(n);
        const handed = protocols.flatMap((p) => p.ownedBy(turned));
        metrics.passTriggers.inc({ trigger: 'handover' });
        if (handed.length > 0) passes.requestFirst(handed);
        schedule('handover');
      }
      schedule('member-health', { keys: [...view.localServices(), ...layer2.probedOwnedBy(nodes)] });
    },
  });
  // Not before every cache is filled: the peers come from the Node objects.
  const syncMembership = (): void => {
    if (membershipOn && synced) membership.sync();
  };
  const prober = new HealthProber({
    intervalMs: opts.healthIntervalMs ?? 300,
    timeoutMs: opts.healthTimeoutMs ?? 250,
    onChange: (healthy) => {
      log.info({ healthy: [...healthy] }, 'health-check results changed');
      membership.setHealth(published(healthy));
      schedule('health', { keys: view.localServices() });
    },
  });
  metrics.setNode(self, () => prober.results());
  // The other speakers learn our MACs with our health results (layer 2 verification tells a speaker's
  // answer from a stranger's by them); sent again when the interfaces change.
  let publishedFacts = '';
  const published = (healthy: ReadonlySet<string>): Set<string> => {
    const facts = layer2.facts();
    publishedFacts = facts.join('\n');
    return withMacFacts(healthy, draining ? [...facts, DRAINING_FACT] : facts);
  };
  const republishFacts = (): void => {
    if (layer2.facts().join('\n') !== publishedFacts) membership.setHealth(published(prober.healthy()));
  };

  // --- passes ---
  let reannounceQueued = false;
  /** One pass over `scope`; false when nothing can be decided yet. */
  const pass = (scope: PassScope): boolean => {
    const cfg = config.current;
    if (!synced || !cfg) return false;
    view.refresh(scope);
    const mv = membership.view();
    const nodeIPs = internalIPs(nodes.get(self) ?? {});
    const input: PassInput = {
      config: cfg,
      scope,
      services: view.facts,
      endpoints: (k) => view.endpoints.of(k),
      nodes: nodeFactsOf(nodes.list(), mv?.live),
      nodeIPs,
      healthy: prober.healthy(),
      membership: mv,
      reannounce: reannounceQueued,
    };
    reannounceQueued = false;
    if (flows) {
      // before the protocols move anything: the rules for what this pass may move are in place first
      const live = mv?.live ?? new Set(input.nodes.filter((n) => n.alive).map((n) => n.name));
      flows.observe(
        {
          self,
          live,
          draining: new Set([...live].filter((n) => n !== self && mv?.healthOf(n)?.has(DRAINING_FACT))),
          excluded: new Set(
            input.nodes
              .filter((n) => Object.prototype.hasOwnProperty.call(n.labels, EXCLUDE_LB_LABEL))
              .map((n) => n.name),
          ),
        },
        () => (bgp && cfg.peers.size > 0 ? [...view.facts.values()].flatMap((s) => s.ips) : []),
      );
    }
    for (const p of protocols) p.reconcile(input);
    kubeProxy.syncLater();

    // Health targets: this node's kube-proxy for the Local Services a protocol announces and this node
    // has endpoints for.
    const myIp = nodeIPs[0];
    const targets = new Map<string, HealthTarget>();
    if (myIp) {
      for (const s of view.facts.values()) {
        if (s.externalTrafficPolicy !== 'Local' || !s.healthCheckNodePort) continue;
        if (!protocols.some((p) => p.wantsHealth(s.key))) continue;
        const local = view.endpoints.of(s.key).some((e) => e.nodeName === self && endpointUsable(e));
        if (local) targets.set(s.key, { host: myIp, port: s.healthCheckNodePort });
      }
    }
    prober.setTargets(targets);
    return true;
  };
  const passes = new PassScheduler({
    run: (scope) => {
      try {
        return pass(scope);
      } catch (err) {
        log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'reconcile failed');
        return false;
      }
    },
    onPass: (scope, ms) =>
      metrics.passDuration.observe({ scope: scope === 'all' ? 'all' : 'changed' }, ms / 1000),
    clock: monotonicClock,
    soon: (fn) => setImmediate(fn),
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

  // --- events -> passes ---
  // A Service or its EndpointSlices changed: that Service's decision only.
  const svcKeyOf = (o: ServiceObj): string => serviceKey(o.metadata?.namespace, o.metadata?.name);
  services.on('add', (o) => schedule('service', { keys: [svcKeyOf(o)] }));
  services.on('update', (o) => schedule('service', { keys: [svcKeyOf(o)] }));
  services.on('delete', (o) => schedule('service', { keys: [svcKeyOf(o)] }));
  // (set replaces the slice: the Service it belonged to before is in the list too)
  slices.on('add', (o) => schedule('endpoints', { keys: view.endpoints.set(o) }));
  slices.on('update', (o) => schedule('endpoints', { keys: view.endpoints.set(o) }));
  slices.on('delete', (o) => schedule('endpoints', { keys: view.endpoints.remove(o) }));
  slices.on('synced', () => {
    view.endpoints.reset(slices.list());
    schedule('endpoints');
  });
  // Node status is rewritten every few seconds; only what the decisions read asks for a pass.
  // (the BGP configuration's verdict depends on the Nodes and their labels too)
  const nodesChanged = (): void => {
    syncMembership();
    config.nodesChanged();
    schedule('node');
  };
  nodes.on('add', nodesChanged);
  nodes.on('delete', nodesChanged);
  nodes.on('update', (n, old) => {
    if (nodeSignature(n) === nodeSignature(old)) return;
    syncMembership();
    if (JSON.stringify(n.metadata?.labels ?? {}) !== JSON.stringify(old.metadata?.labels ?? {}))
      config.nodesChanged();
    schedule('node');
  });
  for (const ev of ['add', 'update', 'delete'] as const) secrets.on(ev, () => syncMembership());

  log.info(
    {
      node: self,
      namespace,
      membership: membershipOn,
      metrics: metricsServer ? `${metricsServer.host}:${metricsServer.port}` : null,
    },
    'speaker starting',
  );
  await Promise.all([...informers.map((i) => i.start()), config.start(), ...protocols.map((p) => p.start())]);
  flows?.start();
  synced = true;
  config.load();
  syncMembership();
  schedule('start');
  kubeProxy.start();
  // A periodic pass: retries failed writes, picks up interface changes.
  const periodic = setInterval(() => {
    republishFacts();
    schedule('periodic');
  }, 5000);
  log.info({ interfaces: layer2.interfaces() }, 'speaker running');

  return {
    metricsPort: metricsServer?.port ?? 0,
    decisions: () => layer2.decisions(),
    stop: async () => {
      // The other speakers learn first that this stop is planned (their flow handover may target this
      // node while its speaker is gone), and have the time to put their rules in place.
      if (flows && membershipOn) {
        draining = true;
        membership.setHealth(published(prober.healthy()));
        await new Promise<void>((resolve) => setTimeout(resolve, FLOW_LEAD_MS));
      }
      // Then, before anything stops, each protocol hands over, passes and membership still running: layer 2
      // says "leaving" and answers with the next owners' MACs until they announce the VIPs; BGP drains
      // (routes marked GRACEFUL_SHUTDOWN for the drain time), then Cease to every peer.
      await Promise.all(protocols.map((p) => p.shutdown()));
      clearInterval(periodic);
      kubeProxy.stop();
      passes.stop();
      prober.stop();
      membership.stop();
      await Promise.all([...informers.map((i) => i.stop()), config.stop()]);
      await Promise.all(protocols.map((p) => p.stop()));
      flows?.stop();
      await metricsServer?.close();
      client.close();
    },
  };
}
