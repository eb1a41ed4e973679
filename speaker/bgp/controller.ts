// The BGP protocol of the speaker: on every pass (Services, EndpointSlices, Nodes, this node's
// kube-proxy health, the configuration) computes this node's eligibility and routes with the pure
// export and hands them to the BgpSpeaker (sessions, speaker.ts) through the PeerApplier. Writes one
// ServiceBGPStatus per announced Service (status.ts). API down is not an outage: nothing is withdrawn
// for it.
import { createHash } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { KubeClient } from '../../k8s/client.js';
import type { Config } from '../../config/types.js';
import { monotonicClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import {
  EXCLUDE_LB_LABEL,
  eligibleNodes,
  endpointUsable,
  type EndpointFacts,
  type NodeFacts,
} from '../eligibility.js';
import { AnnouncedSeries, type AnnouncedGauge } from '../announced-series.js';
import type { PassInput, Protocol, ServiceFacts } from '../protocol.js';
import { exportRoutes, peersForNode, type ExportMemo, type ExportService } from './export.js';
import type { PasswordSecrets } from './password-secrets.js';
import { PeerApplier } from './peer-applier.js';
import { BgpSpeaker, type PeerSpec } from './speaker.js';
import { BgpStatusWriter } from './status.js';
import {
  DEFAULT_DRAIN_MS,
  anyRoute,
  decideDrain,
  drainedPeers,
  withGracefulShutdown,
  type DrainState,
} from './drain.js';
import type { ExportedRoute } from './types.js';
import { UnnumberedDiscovery } from './unnumbered.js';
import type { Log } from './types.js';

export interface BgpControllerOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly node: string;
  readonly log: Log;
  readonly registry?: Registry;
  /** metallb_speaker_announced (protocol "bgp"). */
  readonly announced?: AnnouncedGauge;
  /** The peers' passwords (the Secrets the configuration source read). */
  readonly passwords: Pick<PasswordSecrets, 'password'>;
  readonly listenPort?: number;
  /** Asks for a pass: an unnumbered peer's link-local address was learned or changed, a drain ended. */
  readonly onChange?: () => void;
  /**
   * Graceful shutdown (RFC 8326, speaker/bgp/drain.ts): how long routes stay announced with
   * GRACEFUL_SHUTDOWN before the withdraw, on SIGTERM and on exclusion (default 5 s; 0 = withdraw at once).
   */
  readonly drainMs?: number;
  /** An exclusion's lead before its drain starts (flow handover; speaker/bgp/drain.ts). */
  readonly leadMs?: number;
  readonly clock?: Clock;
}

export class BgpController implements Protocol {
  readonly name = 'bgp';
  private readonly speaker: BgpSpeaker;
  private readonly statuses: BgpStatusWriter;
  private localKeys = new Set<string>();
  /** Per-Service eligibility and routes, valid for one config and one set of this node's facts. */
  private cache: {
    config: Config | undefined;
    node: string;
    services: Map<
      string,
      {
        facts: ServiceFacts;
        eps: readonly EndpointFacts[];
        healthy: boolean;
        local: boolean;
        svc: ExportService;
      }
    >;
    memo: ExportMemo;
  } = { config: undefined, node: '', services: new Map(), memo: new WeakMap() };
  private servicePeers = new Map<string, { svc: ServiceFacts; peers: readonly string[] }>();
  private readonly announced: AnnouncedSeries | undefined;
  private readonly peerApplier: PeerApplier;
  private stopped = false;
  private readonly unnumbered: UnnumberedDiscovery;
  private readonly clock: Clock;
  private readonly drainMs: number;
  private drain: DrainState | undefined;
  /** SIGTERM received: routes carry GRACEFUL_SHUTDOWN until the sessions close. */
  private terminating = false;
  private gracefulShutdownOn = false;
  private wake: { at: number; timer: TimerHandle } | undefined;
  private lastInput: PassInput | undefined;
  private lastRoutes: ReadonlyMap<string, readonly ExportedRoute[]> = new Map();
  private shuttingDown: Promise<void> | undefined;

  constructor(private readonly o: BgpControllerOptions) {
    this.announced = o.announced ? new AnnouncedSeries(o.announced, 'bgp', o.node) : undefined;
    this.clock = o.clock ?? monotonicClock;
    this.drainMs = o.drainMs ?? DEFAULT_DRAIN_MS;
    this.speaker = new BgpSpeaker({
      nodeName: o.node,
      log: o.log,
      // A speaker cannot tell its first start from a restart; the R bit (RFC 4724) tells graceful-restart
      // peers to keep our previous routes until our End-of-RIB, which is right in both cases.
      restarted: true,
      ...(o.registry ? { registry: o.registry } : {}),
      ...(o.listenPort !== undefined ? { listenPort: o.listenPort } : {}),
    });
    this.unnumbered = new UnnumberedDiscovery({ log: o.log, onChange: () => o.onChange?.() });
    this.peerApplier = new PeerApplier({ sessions: this.speaker, clock: monotonicClock, log: o.log });
    this.statuses = new BgpStatusWriter({
      client: o.client,
      namespace: o.namespace,
      node: o.node,
      log: o.log,
      want: (k) => this.servicePeers.get(k),
    });
  }

  start(): Promise<void> {
    return this.statuses.start();
  }

  /** Each node announces for itself: losing another node moves nothing here. */
  ownedBy(): string[] {
    return [];
  }

  /** Service keys whose healthCheckNodePort this node should probe for BGP (ETP Local with a local endpoint). */
  wantsHealth(key: string): boolean {
    return this.localKeys.has(key);
  }

  private peerSpecs(
    config: Config,
    nodeLabels: Readonly<Record<string, string>>,
    nodeIPs: readonly string[],
  ): PeerSpec[] {
    const out: PeerSpec[] = [];
    const unnumbered: string[] = [];
    for (const p of peersForNode(config.peers, { name: this.o.node, labels: nodeLabels })) {
      // BGPPeer.interface: the session waits until speaker/bgp/unnumbered.ts learned the peer's address.
      if (p.interface) unnumbered.push(p.interface);
      const peerAddress = p.peerAddress ?? (p.interface && this.unnumbered.peerAddress(p.interface));
      if (!peerAddress) continue;
      const bfd = p.bfdProfile ? config.bfdProfiles.get(p.bfdProfile) : undefined;
      const pw = this.o.passwords.password(p);
      const routerId = p.routerID ?? nodeIPs.find((ip) => !ip.includes(':'));
      out.push({
        name: p.name,
        peerAddress,
        peerPort: p.peerPort,
        myASN: p.myASN,
        ...(p.localASN !== undefined ? { localASN: p.localASN } : {}),
        peerASN: p.peerASN ?? (p.dynamicASN === 'internal' ? 'internal' : 'external'),
        ...(routerId ? { routerId } : {}),
        ...(p.sourceAddress ? { sourceAddress: p.sourceAddress } : {}),
        holdTimeMs: p.holdTimeMs,
        keepaliveTimeMs: p.keepaliveTimeMs,
        ...(p.connectTimeMs !== undefined ? { connectTimeMs: p.connectTimeMs } : {}),
        ...(pw ? { password: pw } : {}),
        ebgpMultiHop: p.ebgpMultiHop,
        gracefulRestart: p.enableGracefulRestart,
        ...(bfd
          ? {
              bfd: {
                receiveIntervalMs: bfd.receiveInterval,
                transmitIntervalMs: bfd.transmitInterval,
                detectMultiplier: bfd.detectMultiplier,
                passiveMode: bfd.passiveMode,
                minimumTtl: bfd.minimumTtl,
                echoMode: bfd.echoMode,
                echoIntervalMs: bfd.echoInterval,
              },
            }
          : {}),
        ...(p.vrf ? { vrf: p.vrf } : {}),
        // an unnumbered session carries both families (IPv4 with IPv6 next hops, RFC 8950)
        dualStack: p.dualStackAddressFamily || !p.peerAddress,
        ...(!p.peerAddress && p.interface ? { interface: p.interface } : {}),
      });
    }
    this.unnumbered.setInterfaces(unnumbered);
    return out;
  }

  /** One pass: eligibility of this node, export, sessions, statuses. Never throws. */
  reconcile(input: PassInput): void {
    if (this.stopped) return;
    this.lastInput = input;
    try {
      this.reconcileInner(input, input.config);
    } catch (err) {
      this.o.log.error({ err: err instanceof Error ? err.message : String(err) }, 'BGP reconcile failed');
    }
  }

  private reconcileInner(input: PassInput, config: Config): void {
    const self = input.nodes.find((n) => n.name === this.o.node);
    const nodeLabels = self?.labels ?? {};
    const now = this.clock.now();
    const excluded = Object.prototype.hasOwnProperty.call(nodeLabels, EXCLUDE_LB_LABEL);
    const drain = decideDrain({
      state: this.drain,
      excluded,
      terminating: this.terminating,
      now,
      drainMs: this.drainMs,
      ...(this.o.leadMs ? { leadMs: this.o.leadMs } : {}),
    });
    this.drain = drain.state;
    this.wakeAt(drain.wakeAt, now);
    // While an exclusion drains, eligibility is decided as before the label (the routes stay, marked).
    const eligLabels = drain.ignoreExclusion ? withoutExclusion(nodeLabels) : nodeLabels;
    const selfFacts: NodeFacts = self
      ? { ...self, labels: eligLabels, alive: true }
      : { name: this.o.node, labels: {}, networkUnavailable: false, alive: true };
    const services: ExportService[] = [];
    const local = new Set<string>();
    // No peer for this node (a layer 2 only cluster): nothing to export, so no pass over the Services.
    const anyPeer = peersForNode(config.peers, { name: this.o.node, labels: nodeLabels }).length > 0;
    // Per-Service work is remembered while the config and this node's facts stay the same: a Service
    // whose facts, endpoints and health are the same objects as last pass costs a lookup.
    const nodeSig = JSON.stringify(selfFacts);
    if (config !== this.cache.config || nodeSig !== this.cache.node) {
      this.cache = { config, node: nodeSig, services: new Map(), memo: new WeakMap() };
    }
    const cache = this.cache.services;
    for (const s of anyPeer ? input.services.values() : []) {
      const eps = input.endpoints(s.key);
      const healthy = input.healthy.has(s.key);
      let c = cache.get(s.key);
      if (!c || c.facts !== s || c.eps !== eps || c.healthy !== healthy) {
        const { eligible } = eligibleNodes({
          service: {
            externalTrafficPolicy: s.externalTrafficPolicy,
            ...(s.healthCheckNodePort ? { healthCheckNodePort: s.healthCheckNodePort } : {}),
          },
          endpoints: eps,
          nodes: [selfFacts],
          selected: new Map([[this.o.node, []]]),
          health: () => healthy,
        });
        c = {
          facts: s,
          eps,
          healthy,
          local:
            s.externalTrafficPolicy === 'Local' &&
            !!s.healthCheckNodePort &&
            eps.some((e) => e.nodeName === this.o.node && endpointUsable(e)),
          svc: {
            namespace: s.namespace,
            name: s.name,
            labels: s.labels,
            ips: s.ips,
            ...(s.pool ? { pool: s.pool } : {}),
            eligible: eligible.has(this.o.node),
          },
        };
        cache.set(s.key, c);
      }
      if (c.local) local.add(s.key);
      services.push(c.svc);
    }
    // forget Services that are gone (now and then: the map may hold a few extra between passes)
    if (cache.size > services.length * 2 + 100) {
      for (const k of [...cache.keys()]) if (!input.services.has(k)) cache.delete(k);
    }
    this.localKeys = local;
    const specs = this.peerSpecs(config, nodeLabels, input.nodeIPs);
    const result = exportRoutes(config, { name: this.o.node, labels: nodeLabels }, services, this.cache.memo);
    const routes = drain.gracefulShutdown
      ? withGracefulShutdown(
          result.routes,
          config.peers,
          drainedPeers(config.peers, this.terminating, excluded),
        )
      : result.routes;
    if (drain.gracefulShutdown !== this.gracefulShutdownOn) {
      this.gracefulShutdownOn = drain.gracefulShutdown;
      if (drain.gracefulShutdown)
        this.o.log.info(
          {
            reason: this.terminating ? 'terminating' : 'excluded-by-label',
            drainMs: this.drainMs,
            routes: [...routes.values()].reduce((n, l) => n + l.length, 0),
          },
          'BGP graceful shutdown: routes announced with GRACEFUL_SHUTDOWN (65535:0) until the drain ends',
        );
      else this.o.log.info({}, 'BGP graceful shutdown over: routes announced without GRACEFUL_SHUTDOWN');
    }
    this.lastRoutes = routes;
    // Passwords enter the signature only as a digest (it is compared, never logged).
    const sig = JSON.stringify(
      specs.map((s) => ({
        ...s,
        password: s.password ? createHash('sha256').update(s.password).digest('hex') : '',
      })),
    );
    // Peers first (when they changed, one setPeers at a time, retried until it succeeds), then the
    // latest routes: a pass that runs while peers are being applied is not overwritten by an older one.
    this.peerApplier.apply(sig, specs, routes);
    // every exported Service is in this pass's cache: no map of all Services to build
    const prev = this.servicePeers;
    const next = new Map<string, { svc: ServiceFacts; peers: readonly string[] }>();
    const changed: string[] = [];
    for (const [k, peers] of result.servicePeers) {
      const svc = cache.get(k)?.facts;
      if (!svc) continue;
      const p = prev.get(k);
      // the same facts object and the same peers: nothing about its metric or status changed
      if (p && p.svc === svc && p.peers.length === peers.length && p.peers.every((x, i) => x === peers[i]))
        next.set(k, p);
      else {
        next.set(k, { svc, peers });
        changed.push(k);
      }
    }
    for (const k of prev.keys()) if (!next.has(k)) changed.push(k);
    this.servicePeers = next;
    // metallb_speaker_announced and ServiceBGPStatus for the Services whose announcement changed
    for (const k of changed) this.announced?.update(k, this.servicePeers.get(k)?.svc.ips ?? []);
    this.statuses.markDue(changed);
  }

  /** Sessions, for diagnostics. */
  status(): ReturnType<BgpSpeaker['status']> {
    return this.speaker.status();
  }

  /** Asks for a pass at `at` (the end of an exclusion's drain); undefined cancels. */
  private wakeAt(at: number | undefined, now: number): void {
    if (this.wake?.at === at) return;
    if (this.wake) this.clock.clearTimer(this.wake.timer);
    this.wake =
      at === undefined
        ? undefined
        : {
            at,
            timer: this.clock.setTimer(() => {
              this.wake = undefined;
              this.o.onChange?.();
            }, at - now),
          };
  }

  /**
   * SIGTERM. When routes are announced: first announced again with GRACEFUL_SHUTDOWN (LOCAL_PREF 0 to
   * iBGP peers) for the drain time, so routers move traffic to the other nodes while this path still
   * stands; passes go on meanwhile. Then Cease / Administrative Shutdown to every peer, except peers
   * with enableGracefulRestart that negotiated it: they only see TCP close and keep our routes for the
   * restart time.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.shutdownInner();
    return this.shuttingDown;
  }

  private async shutdownInner(): Promise<void> {
    const input = this.lastInput;
    const excluded = Object.prototype.hasOwnProperty.call(
      input?.nodes.find((n) => n.name === this.o.node)?.labels ?? {},
      EXCLUDE_LB_LABEL,
    );
    // Only sessions that are up and carry our routes have anything to drain (no wait for a peer that
    // never came up).
    const up = new Set(
      this.speaker
        .status()
        .filter((s) => s.state === 'Established' && s.announced > 0)
        .map((s) => s.name),
    );
    const drained = input
      ? new Set([...drainedPeers(input.config.peers, true, excluded)].filter((p) => up.has(p)))
      : new Set<string>();
    if (!this.stopped && this.drainMs > 0 && input && anyRoute(this.lastRoutes, drained)) {
      this.terminating = true;
      this.reconcile(input);
      await new Promise<void>((resolve) => this.clock.setTimer(resolve, this.drainMs));
      this.o.log.info({ drainMs: this.drainMs }, 'BGP graceful shutdown: drain over, closing the sessions');
    }
    this.stopped = true;
    if (this.wake) this.clock.clearTimer(this.wake.timer);
    this.wake = undefined;
    this.peerApplier.stop();
    this.unnumbered.stop();
    await this.speaker.shutdown({ preserveGracefulRestart: true });
  }

  async stop(): Promise<void> {
    await this.shutdown();
    await this.statuses.stop();
  }
}

function withoutExclusion(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (!Object.prototype.hasOwnProperty.call(labels, EXCLUDE_LB_LABEL)) return labels;
  const out: Record<string, string> = { ...labels };
  delete out[EXCLUDE_LB_LABEL];
  return out;
}
