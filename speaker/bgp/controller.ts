// The BGP half of the speaker process, on Kubernetes: watches BGPPeer / BGPAdvertisement / BFDProfile /
// Community / IPAddressPool (and reads the Secrets named by passwordSecret), and on every reconcile of
// the speaker (Services, EndpointSlices, Nodes, this node's kube-proxy health) computes this node's
// routes with the pure export and hands them to the BgpSpeaker. Writes one ServiceBGPStatus per
// announced Service. API down is not an outage: the caches stay, nothing is withdrawn for it.
import { createHash } from 'node:crypto';
import type { Registry } from 'prom-client';
import { ApiError, RESOURCES, resourcePath, type KubeClient } from '../../k8s/client.js';
import { Informer, specOrLabelsChanged } from '../../k8s/informer.js';
import { logListenerError } from '../../k8s/informer-delivery.js';
import { background } from '../../k8s/background.js';
import { METALLB } from '../../k8s/status.js';
import { parseConfig, summarizeErrors } from '../../config/parse.js';
import type { BGPPeer, Config, ConfigNode, CRObject, SecretObject } from '../../config/types.js';
import { eligibleNodes, endpointUsable, type EndpointFacts, type NodeFacts } from '../eligibility.js';
import { exportRoutes, peersForNode, type ExportMemo, type ExportService } from './export.js';
import { BgpSpeaker, type PeerSpec } from './speaker.js';
import { AnnouncedSeries, type AnnouncedGauge } from '../announced-series.js';
import { PeerApplier } from './peer-applier.js';
import { systemClock, type Log } from './types.js';

/** A Service as the speaker's reconcile sees it (speaker/layer2/decide.ts ServiceFacts). */
export interface BgpServiceFacts {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ips: readonly string[];
  readonly pool?: string;
  readonly externalTrafficPolicy: 'Cluster' | 'Local';
  readonly healthCheckNodePort?: number;
}

export interface BgpReconcileInput {
  readonly services: readonly BgpServiceFacts[];
  readonly endpoints: (serviceKey: string) => readonly EndpointFacts[];
  readonly nodes: readonly NodeFacts[];
  /** Service keys this node's kube-proxy answers healthy for (healthCheckNodePort). */
  readonly healthy: ReadonlySet<string>;
  /** This node's InternalIPs (IPv4 first). */
  readonly nodeIPs: readonly string[];
}

interface CrObj {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}

interface StatusObj {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  status?: { node?: string; serviceName?: string; serviceNamespace?: string; peers?: string[] };
}

interface SecretRead {
  metadata?: { name?: string; namespace?: string };
  type?: string;
  data?: Record<string, string>;
}

function toCR(list: CrObj[]): CRObject[] {
  return list.flatMap((o) =>
    o.metadata?.name ? [{ ...o, metadata: { ...o.metadata, name: o.metadata.name } }] : [],
  );
}

export interface BgpControllerOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly node: string;
  readonly log: Log;
  readonly registry?: Registry;
  /** metallb_speaker_announced (protocol "bgp"). */
  readonly announced?: AnnouncedGauge;
  /** Called when the BGP configuration changed (so the speaker reconciles). */
  readonly onChange: () => void;
  /** The cluster's Nodes, for the rules MetalLB decides on them (two peers with one address on a node). */
  readonly nodes?: () => readonly ConfigNode[];
  readonly listenPort?: number;
}

export class BgpController {
  private readonly informers: Informer<CrObj>[];
  private readonly peersInf: Informer<CrObj>;
  private readonly advsInf: Informer<CrObj>;
  private readonly bfdInf: Informer<CrObj>;
  private readonly commInf: Informer<CrObj>;
  private readonly poolsInf: Informer<CrObj>;
  private readonly statusInf: Informer<StatusObj>;
  private readonly speaker: BgpSpeaker;
  private config: Config | undefined;
  private lastErrors = '';
  private secrets = new Map<string, SecretObject>();
  /** passwordSecrets the speaker's Role does not let it read (403), by namespace/name. */
  private unreadable = new Set<string>();
  private secretTimer: NodeJS.Timeout | undefined;
  private localKeys = new Set<string>();
  /** Per-Service eligibility and routes, valid for one config and one set of this node's facts. */
  private cache: {
    config: Config | undefined;
    node: string;
    services: Map<
      string,
      {
        facts: BgpServiceFacts;
        eps: readonly EndpointFacts[];
        healthy: boolean;
        local: boolean;
        svc: ExportService;
      }
    >;
    memo: ExportMemo;
  } = { config: undefined, node: '', services: new Map(), memo: new WeakMap() };
  private servicePeers = new Map<string, { svc: BgpServiceFacts; peers: readonly string[] }>();
  private readonly announced: AnnouncedSeries | undefined;
  /** This node's ServiceBGPStatus objects by Service key, then object name (kept by the informer). */
  private readonly statusByKey = new Map<string, Map<string, StatusObj>>();
  /** Service keys whose ServiceBGPStatus may be wrong: their peers changed, or their objects did. */
  private readonly statusDue = new Set<string>();
  private statusRetry: NodeJS.Timeout | undefined;
  private reconciled = false;
  private readonly peerApplier: PeerApplier;
  private synced = false;
  private stopped = false;

  constructor(private readonly o: BgpControllerOptions) {
    this.announced = o.announced ? new AnnouncedSeries(o.announced, 'bgp', o.node) : undefined;
    const onListenerError = logListenerError(o.log);
    const inf = (resource: (typeof METALLB)[keyof typeof METALLB], what: string): Informer<CrObj> =>
      new Informer<CrObj>(o.client, {
        resource,
        namespace: o.namespace,
        onError: (err) => o.log.warn({ err: err.message, resource: what }, 'watch error; retrying'),
        onListenerError,
      });
    this.peersInf = inf(METALLB.bgpPeers, 'bgppeers');
    this.advsInf = inf(METALLB.bgpAdvertisements, 'bgpadvertisements');
    this.bfdInf = inf(METALLB.bfdProfiles, 'bfdprofiles');
    this.commInf = inf(METALLB.communities, 'communities');
    this.poolsInf = inf(METALLB.ipAddressPools, 'ipaddresspools');
    this.statusInf = new Informer<StatusObj>(o.client, {
      resource: METALLB.serviceBGPStatuses,
      namespace: o.namespace,
      labelSelector: `metallb.io/node=${o.node}`,
      onError: (err) =>
        o.log.warn({ err: err.message, resource: 'servicebgpstatuses' }, 'watch error; retrying'),
      onListenerError,
    });
    this.informers = [this.peersInf, this.advsInf, this.bfdInf, this.commInf, this.poolsInf];
    this.speaker = new BgpSpeaker({
      nodeName: o.node,
      log: o.log,
      // A speaker cannot tell its first start from a restart; the R bit (RFC 4724) tells graceful-restart
      // peers to keep our previous routes until our End-of-RIB, which is right in both cases.
      restarted: true,
      ...(o.registry ? { registry: o.registry } : {}),
      ...(o.listenPort !== undefined ? { listenPort: o.listenPort } : {}),
    });
    this.peerApplier = new PeerApplier({
      sessions: this.speaker,
      clock: systemClock,
      log: o.log,
    });
    for (const i of this.informers) {
      for (const ev of ['add', 'delete', 'synced'] as const) i.on(ev, () => this.configChanged());
      // status writes (the controller's pool counts) change no configuration
      i.on('update', (o, old) => specOrLabelsChanged(o, old) && this.configChanged());
    }
    // Our statuses, indexed; a change by anyone (a deletion, an edit) makes that Service's status due.
    this.statusInf.on('add', (o) => this.indexStatus(o, true));
    this.statusInf.on('update', (o, old) => {
      this.indexStatus(old, false);
      this.indexStatus(o, true);
    });
    this.statusInf.on('delete', (o) => this.indexStatus(o, false));
  }

  private statusKey(o: StatusObj): string {
    const l = o.metadata?.labels ?? {};
    return `${l['metallb.io/service-namespace'] ?? ''}/${l['metallb.io/service-name'] ?? ''}`;
  }

  private indexStatus(o: StatusObj, present: boolean): void {
    const k = this.statusKey(o);
    const name = o.metadata?.name ?? '';
    let byName = this.statusByKey.get(k);
    if (present) {
      if (!byName) this.statusByKey.set(k, (byName = new Map()));
      byName.set(name, o);
    } else if (byName) {
      byName.delete(name);
      if (byName.size === 0) this.statusByKey.delete(k);
    }
    this.statusDue.add(k);
    if (this.reconciled) this.syncStatusesLater();
  }

  async start(): Promise<void> {
    await Promise.all([...this.informers, this.statusInf].map((i) => i.start()));
    this.synced = true;
    await this.refreshSecrets();
    this.loadConfig();
    this.secretTimer = setInterval(
      () =>
        background(
          this.o.log,
          'refresh BGP password Secrets',
          this.refreshSecrets().then((changed) => changed && this.configChanged()),
        ),
      30_000,
    );
    this.secretTimer.unref();
  }

  /** The Nodes or their labels changed: the verdict on peers sharing a node may have. */
  nodesChanged(): void {
    if (!this.synced || this.stopped) return;
    this.loadConfig();
    this.o.onChange();
  }

  private configChanged(): void {
    if (!this.synced || this.stopped) return;
    this.loadConfig();
    background(
      this.o.log,
      'refresh BGP password Secrets',
      this.refreshSecrets().then((changed) => {
        if (!changed) return;
        this.loadConfig();
        this.o.onChange();
      }),
    );
    this.o.onChange();
  }

  /** Reads the Secrets named by passwordSecret (get by name; never listed, never logged). */
  private async refreshSecrets(): Promise<boolean> {
    const wanted = new Set<string>();
    for (const p of this.peersInf.list()) {
      const ps = p.spec?.passwordSecret as { name?: unknown; namespace?: unknown } | undefined;
      if (ps && typeof ps.name === 'string' && ps.name)
        wanted.add(
          `${typeof ps.namespace === 'string' && ps.namespace ? ps.namespace : this.o.namespace}/${ps.name}`,
        );
    }
    let changed = false;
    const next = new Map<string, SecretObject>();
    const unreadable = new Set<string>();
    for (const key of wanted) {
      const [ns, name] = key.split('/') as [string, string];
      try {
        const s = await this.o.client.get<SecretRead>(resourcePath(RESOURCES.secrets, ns, name));
        next.set(key, {
          metadata: { name, namespace: ns },
          ...(s.type ? { type: s.type } : {}),
          ...(s.data ? { data: s.data } : {}),
        });
      } catch (err) {
        const prev = this.secrets.get(key);
        if (err instanceof ApiError && err.notFound) continue;
        if (err instanceof ApiError && err.status === 403) {
          unreadable.add(key);
          this.o.log.error(
            { secret: key },
            "the speaker may not read this BGP password Secret: add its name to the speaker Role's secrets resourceNames (deploy/rbac/speaker.yaml)",
          );
          continue;
        }
        // API unreachable: keep what we had (API down is not an outage).
        if (prev) next.set(key, prev);
        this.o.log.warn(
          { secret: key, err: err instanceof Error ? err.message : String(err) },
          'cannot read BGP password Secret',
        );
      }
    }
    const sig = (m: Map<string, SecretObject>): string =>
      JSON.stringify([...m].map(([k, v]) => [k, v.type, v.data?.password ?? '']));
    if (sig(next) !== sig(this.secrets)) changed = true;
    if ([...unreadable].sort().join() !== [...this.unreadable].sort().join()) changed = true;
    this.secrets = next;
    this.unreadable = unreadable;
    return changed;
  }

  private loadConfig(): void {
    const r = parseConfig({
      ipAddressPools: toCR(this.poolsInf.list()),
      bgpAdvertisements: toCR(this.advsInf.list()),
      bgpPeers: toCR(this.peersInf.list()),
      bfdProfiles: toCR(this.bfdInf.list()),
      communities: toCR(this.commInf.list()),
      secrets: [...this.secrets.values()],
      ...(this.o.nodes ? { nodes: this.o.nodes() } : {}),
    });
    if (r.ok) {
      this.config = r.config;
      this.lastErrors = '';
    } else {
      // A Secret the Role does not let us read is "not found" to the parse; say what is really wrong.
      let summary = summarizeErrors(r.errors);
      for (const key of this.unreadable)
        summary = summary.replaceAll(
          `Secret ${key} not found`,
          `Secret ${key} cannot be read: the speaker's Role does not allow it (add its name to the resourceNames in deploy/rbac/speaker.yaml, or to the chart's speaker.bgpPasswordSecrets)`,
        );
      if (summary !== this.lastErrors) {
        this.lastErrors = summary;
        this.o.log.warn(
          { errors: r.errors.map((e) => e.message) },
          'invalid BGP configuration; the last good one stays in force',
        );
      }
    }
  }

  /** Service keys whose healthCheckNodePort this node should probe for BGP (ETP Local with a local endpoint). */
  wantsHealth(key: string): boolean {
    return this.localKeys.has(key);
  }

  private password(p: BGPPeer): string | undefined {
    if (p.password) return p.password;
    if (!p.passwordSecret) return undefined;
    const s = this.secrets.get(`${p.passwordSecret.namespace}/${p.passwordSecret.name}`);
    const b64 = s?.data?.password;
    return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
  }

  private peerSpecs(
    config: Config,
    nodeLabels: Readonly<Record<string, string>>,
    nodeIPs: readonly string[],
  ): PeerSpec[] {
    const out: PeerSpec[] = [];
    for (const p of peersForNode(config.peers, { name: this.o.node, labels: nodeLabels })) {
      if (!p.peerAddress) {
        this.o.log.warn(
          { peer: p.name },
          'BGPPeer without peerAddress (interface / unnumbered) is not supported; skipped',
        );
        continue;
      }
      const bfd = p.bfdProfile ? config.bfdProfiles.get(p.bfdProfile) : undefined;
      const pw = this.password(p);
      const routerId = p.routerID ?? nodeIPs.find((ip) => !ip.includes(':'));
      out.push({
        name: p.name,
        peerAddress: p.peerAddress,
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
        dualStack: p.dualStackAddressFamily,
      });
    }
    return out;
  }

  /** One pass: eligibility of this node, export, sessions, statuses. Never throws. */
  reconcile(input: BgpReconcileInput): void {
    if (this.stopped || !this.config) return;
    try {
      this.reconcileInner(input, this.config);
    } catch (err) {
      this.o.log.error({ err: err instanceof Error ? err.message : String(err) }, 'BGP reconcile failed');
    }
  }

  private reconcileInner(input: BgpReconcileInput, config: Config): void {
    const self = input.nodes.find((n) => n.name === this.o.node);
    const nodeLabels = self?.labels ?? {};
    const selfFacts: NodeFacts = self
      ? { ...self, alive: true }
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
    for (const s of anyPeer ? input.services : []) {
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
      const live = new Set(input.services.map((x) => x.key));
      for (const k of [...cache.keys()]) if (!live.has(k)) cache.delete(k);
    }
    this.localKeys = local;
    const specs = this.peerSpecs(config, nodeLabels, input.nodeIPs);
    const result = exportRoutes(config, { name: this.o.node, labels: nodeLabels }, services, this.cache.memo);
    // Passwords enter the signature only as a digest (it is compared, never logged).
    const sig = JSON.stringify(
      specs.map((s) => ({
        ...s,
        password: s.password ? createHash('sha256').update(s.password).digest('hex') : '',
      })),
    );
    // Peers first (when they changed, one setPeers at a time, retried until it succeeds), then the
    // latest routes: a pass that runs while peers are being applied is not overwritten by an older one.
    this.peerApplier.apply(sig, specs, result.routes);
    // every exported Service is in this pass's cache: no map of all Services to build
    const prev = this.servicePeers;
    const next = new Map<string, { svc: BgpServiceFacts; peers: readonly string[] }>();
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
    this.updateAnnounced(changed);
    for (const k of changed) this.statusDue.add(k);
    this.reconciled = true;
    this.syncStatusesLater();
  }

  /** metallb_speaker_announced for the Services whose announcement changed. */
  private updateAnnounced(changed: readonly string[]): void {
    for (const k of changed) this.announced?.update(k, this.servicePeers.get(k)?.svc.ips ?? []);
  }

  private statusRunning = false;

  private syncStatusesLater(): void {
    background(this.o.log, 'write ServiceBGPStatus objects', this.syncStatuses());
  }

  /**
   * One ServiceBGPStatus per announced Service on this node (generateName bgp-), for the Services whose
   * status is due; what fails is due again 5 s later (the apiserver may be away).
   */
  private async syncStatuses(): Promise<void> {
    if (this.statusRunning) return;
    this.statusRunning = true;
    const ns = this.o.namespace;
    const path = (name?: string, sub?: string): string =>
      resourcePath(METALLB.serviceBGPStatuses, ns, name, sub);
    const failed = new Set<string>();
    try {
      while (this.statusDue.size > 0 && !this.stopped) {
        const due = [...this.statusDue];
        this.statusDue.clear();
        for (const k of due) {
          if (this.stopped) return;
          const want = this.servicePeers.get(k);
          const objs = [...(this.statusByKey.get(k)?.values() ?? [])];
          try {
            if (!want) {
              for (const o of objs) {
                try {
                  await this.o.client.delete(path(o.metadata?.name));
                } catch (err) {
                  if (!(err instanceof ApiError && err.notFound)) throw err;
                }
              }
              continue;
            }
            const { svc, peers } = want;
            const status = {
              node: this.o.node,
              serviceName: svc.name,
              serviceNamespace: svc.namespace,
              peers: [...peers],
            };
            const [first, ...extra] = objs;
            if (!first) {
              const created = await this.o.client.create<StatusObj>(path(), {
                apiVersion: 'metallb.io/v1beta1',
                kind: 'ServiceBGPStatus',
                metadata: {
                  generateName: 'bgp-',
                  namespace: ns,
                  labels: {
                    'metallb.io/node': this.o.node,
                    'metallb.io/service-name': svc.name,
                    'metallb.io/service-namespace': svc.namespace,
                  },
                },
              });
              // known at once (the informer's event follows), so a second pass does not create another
              const name = created.metadata?.name ?? '';
              if (!this.statusByKey.has(k)) this.statusByKey.set(k, new Map([[name, created]]));
              await this.o.client.patch(path(created.metadata?.name, 'status'), { status });
            } else if (JSON.stringify(first.status ?? {}) !== JSON.stringify(status)) {
              await this.o.client.patch(path(first.metadata?.name, 'status'), { status });
            }
            for (const x of extra) await this.o.client.delete(path(x.metadata?.name));
          } catch (err) {
            failed.add(k);
            this.o.log.debug(
              { err: err instanceof Error ? err.message : String(err), service: k },
              'ServiceBGPStatus not written; will retry',
            );
          }
        }
      }
    } finally {
      this.statusRunning = false;
    }
    if (failed.size > 0 && !this.stopped) {
      for (const k of failed) this.statusDue.add(k);
      this.statusRetry ??= setTimeout(() => {
        this.statusRetry = undefined;
        this.syncStatusesLater();
      }, 5000);
      this.statusRetry.unref();
    }
  }

  /** Sessions, for diagnostics. */
  status(): ReturnType<BgpSpeaker['status']> {
    return this.speaker.status();
  }

  /**
   * Fast part of shutdown: Cease / Administrative Shutdown to every peer (within milliseconds), except
   * peers with enableGracefulRestart that negotiated it: they only see TCP close and keep our routes
   * for the restart time (a rolling update of the speaker does not move traffic).
   */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.peerApplier.stop();
    await this.speaker.shutdown({ preserveGracefulRestart: true });
  }

  async stop(): Promise<void> {
    await this.shutdown();
    if (this.secretTimer) clearInterval(this.secretTimer);
    if (this.statusRetry) clearTimeout(this.statusRetry);
    await Promise.all([...this.informers, this.statusInf].map((i) => i.stop()));
  }

  /** The last configuration error summary ('' when valid). */
  get configErrors(): string {
    return this.lastErrors;
  }
}
