// The layer 2 protocol of the speaker: on each pass, the pure election (decide.ts) picks one owner per
// Service among the nodes its L2Advertisements select; this node answers ARP/NDP for what it owns
// (responder.ts), sends gratuitous announcements for what it gained, and writes ServiceL2Status
// objects, Events and metallb_speaker_announced. A pass over changed Services decides those only.
import type { KubeClient } from '../../k8s/client.js';
import type { EventRecorder, ObjectReference } from '../../k8s/events.js';
import { objRef, type Logger } from '../../k8s/logger.js';
import { DEFAULT_INTERFACE_EXCLUDES } from '../../net/interfaces.js';
import { AnnouncedSeries } from '../announced-series.js';
import type { SpeakerMetrics } from '../metrics.js';
import type { PassInput, Protocol, ServiceFacts } from '../protocol.js';
import { announcementsOf, decideLayer2, type ServiceDecision } from './decide.js';
import { ElectionHashes } from './election.js';
import { Layer2Responder, type ResponderOptions } from './responder.js';
import { L2StatusWriter } from './status.js';
import { L2Verifier, type VerifierTarget } from './verifier.js';
import { layer2Facts, macFactsOf, proberOf, undeliveredOf } from './prober.js';
import { DeliveryChecker } from './delivery.js';
import type { DeliveryOptions, DeliveryTarget } from './delivery-core.js';
import type { VerifyOptions } from './verify-core.js';
import type { FlowHandover } from '../flows/handover.js';

export interface Layer2ControllerOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly node: string;
  readonly log: Logger;
  readonly metrics: SpeakerMetrics;
  /** Records an Event without waiting for it. */
  readonly recordEvent: (...args: Parameters<EventRecorder['emit']>) => void;
  readonly interfacesExclude?: readonly string[];
  /**
   * Answer ARP/NDP (default true). false opens no packet socket (the speaker then needs no NET_RAW)
   * and decides nothing; only for nodes no L2Advertisement selects.
   */
  readonly enabled?: boolean;
  /** The responder's interface scan, packet sockets and clock (tests give fakes). */
  readonly responder?: Pick<ResponderOptions, 'scan' | 'openSocket' | 'clock' | 'rescanMs'>;
  /** Verified announcements: probe timing (tests shorten it). */
  readonly verify?: Partial<VerifyOptions>;
  /** The owner's delivery checks: timing (tests shorten it). */
  readonly delivery?: Partial<DeliveryOptions>;
  /** This node's facts for the other speakers (facts()) changed. */
  readonly onFactsChange?: () => void;
  /** Flow handover (speaker/flows/handover.ts): told each pass's decisions before the announcements change. */
  readonly flows?: Pick<FlowHandover, 'layer2'>;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function serviceRef(svc: ServiceFacts): ObjectReference {
  return { apiVersion: 'v1', kind: 'Service', namespace: svc.namespace, name: svc.name };
}

export class Layer2Controller implements Protocol {
  readonly name = 'layer2';
  private readonly self: string;
  private readonly enabled: boolean;
  private readonly responder: Layer2Responder;
  private readonly statuses: L2StatusWriter;
  /** The decision for every Service announced in layer 2 (whoever owns it). */
  private decided = new Map<string, ServiceDecision>();
  /** The decisions this node owns. */
  private readonly owned = new Map<string, ServiceDecision>();
  /** Services nobody can announce that we reported (one Event each). */
  private readonly warned = new Set<string>();
  /** Service key -> the VIPs its metallb_speaker_announced series carry */
  private readonly announced: AnnouncedSeries;
  private readonly hashes = new ElectionHashes();
  private readonly verifier: L2Verifier;
  private readonly delivery: DeliveryChecker;
  /** The VIPs this node verifies (it is their prober), by Service key. */
  private readonly probing = new Map<string, VerifierTarget[]>();
  /** Every speaker's MACs (ours and what membership tells), for telling a speaker from a stranger. */
  private speakerMacs = new Set<string>();
  /** Every live speaker told us its MACs: only then is an unknown MAC a stranger's. */
  private speakerMacsComplete = false;

  constructor(private readonly o: Layer2ControllerOptions) {
    this.self = o.node;
    this.enabled = o.enabled ?? true;
    const { metrics, log } = o;
    this.responder = new Layer2Responder({
      excludes: o.interfacesExclude ?? DEFAULT_INTERFACE_EXCLUDES,
      ...o.responder,
      ...(this.enabled ? {} : { scan: () => [], rescanMs: 0 }),
      onClaim: (ip, mac) => this.verifier.claim(ip, mac),
      counters: {
        request: (ip) => metrics.requests.inc({ ip }),
        response: (ip) => metrics.responses.inc({ ip }),
        gratuitous: (ip) => metrics.gratuitous.inc({ ip }),
      },
      log: {
        info: (f, m) => log.info(f, m),
        warn: (f, m) => log.warn(f, m),
        debug: (f, m) => log.debug(f, m),
      },
    });
    this.verifier = new L2Verifier({
      node: o.node,
      client: o.client,
      log,
      recordEvent: o.recordEvent,
      metrics: {
        setVerification: (state, n) => metrics.l2Verification.set({ state }, n),
        setConflicts: (n) => metrics.addressConflicts.set(n),
      },
      probe: (ip, ifs) => this.responder.probe(ip, ifs),
      isSpeakerMac: (mac) => this.speakerMacs.has(mac) || !this.speakerMacsComplete,
      ...(o.verify ? { options: o.verify } : {}),
    });
    this.delivery = new DeliveryChecker({
      log,
      onChange: () => o.onFactsChange?.(),
      ...(o.delivery ? { options: o.delivery } : {}),
    });
    this.announced = new AnnouncedSeries(metrics.announced, 'layer2', o.node);
    this.statuses = new L2StatusWriter({
      client: o.client,
      namespace: o.namespace,
      node: o.node,
      log,
      metrics,
      owned: () => this.owned,
      interfacesFor: (ip) => this.responder.interfacesFor(ip),
    });
  }

  async start(): Promise<void> {
    await this.statuses.start();
  }

  /** The interfaces answering, for the log. */
  interfaces(): ReturnType<Layer2Responder['interfaces']> {
    return this.responder.interfaces();
  }

  /** The MACs this node answers with (told to the other speakers through membership). */
  macs(): string[] {
    return this.responder.macs();
  }

  /** The Services this node verifies whose owner is among `nodes`. */
  probedOwnedBy(nodes: readonly string[]): string[] {
    const set = new Set(nodes);
    return [...this.probing].flatMap(([k, ts]) => (ts.some((t) => set.has(t.owner)) ? [k] : []));
  }

  /** What the other speakers learn from this one with its health results: MACs, undelivered endpoints. */
  facts(): string[] {
    return layer2Facts(this.responder.macs(), this.delivery.undelivered());
  }

  /** Current decisions (for tests and diagnostics). */
  decisions(): ReadonlyMap<string, ServiceDecision> {
    return this.decided;
  }

  wantsHealth(key: string): boolean {
    return this.decided.has(key);
  }

  ownedBy(nodes: ReadonlySet<string>): string[] {
    return [...this.decided].flatMap(([k, d]) => (d.owner !== undefined && nodes.has(d.owner) ? [k] : []));
  }

  reconcile(input: PassInput): void {
    try {
      this.reconcileInner(input);
    } catch (err) {
      this.o.log.error(
        { err: (err as Error).message, stack: (err as Error).stack },
        'layer 2 reconcile failed',
      );
    }
    this.statuses.syncLater();
  }

  private reconcileInner(input: PassInput): void {
    const { self } = this;
    const { scope, membership } = input;
    const decide = (services: readonly ServiceFacts[]): Map<string, ServiceDecision> =>
      decideLayer2({
        self,
        config: input.config,
        services,
        nodes: input.nodes,
        endpoints: input.endpoints,
        health: (node, k) =>
          node === self ? input.healthy.has(k) : membership ? membership.healthOf(node)?.has(k) : undefined,
        unknownHealth: membership ? 'ineligible' : 'eligible',
        hashes: this.hashes,
      });
    if (!this.enabled) this.decided.clear();
    else if (scope === 'all') {
      this.decided = decide([...input.services.values()]);
      this.hashes.sweep();
    } else {
      const changed: ServiceFacts[] = [];
      for (const k of scope) {
        this.decided.delete(k);
        const f = input.services.get(k);
        if (f) changed.push(f);
      }
      for (const [k, d] of decide(changed)) this.decided.set(k, d);
    }

    // What changed: on a pass over everything, every key we know; otherwise the Services in scope.
    const touched =
      scope === 'all'
        ? new Set([
            ...this.decided.keys(),
            ...this.owned.keys(),
            ...this.warned,
            ...this.announced.services(),
          ])
        : scope;
    const { gained, withdrawn, ownershipChanged } = this.takeOwnership(touched, scope === 'all');

    // The data path first: the responder answers for what we own (rebuilt only when that changed), and
    // the gratuitous announcements for what we gained go out before the logs, Events and metrics.
    this.o.flows?.layer2(this.decided, scope === 'all' ? undefined : scope);
    if (ownershipChanged) this.responder.setAnnouncements(announcementsOf(self, this.owned));
    if (input.reannounce) this.responder.reannounce();

    for (const d of gained) {
      this.o.log.info(
        {
          ...objRef('Service', d.service.namespace, d.service.name),
          ips: d.service.ips,
          interfaces: this.responder.interfacesFor(d.service.ips[0] as string),
        },
        'announcing',
      );
      this.o.recordEvent(
        serviceRef(d.service),
        'Normal',
        'nodeAssigned',
        `announcing from node "${self}" with protocol "layer2"`,
      );
    }
    for (const d of withdrawn)
      this.o.log.info(
        { ...objRef('Service', d.service.namespace, d.service.name), owner: d.owner ?? null },
        'withdrawn',
      );
    this.report(touched, input);
    this.checkDelivery(touched, scope === 'all');
    this.verify(touched, scope === 'all', input);
  }

  /**
   * Every TCP port on every VIP this node owns: checked from here (the owner's delivery check); all of
   * them on a full pass, the touched Services' otherwise.
   */
  private checkDelivery(touched: Iterable<string>, all: boolean): void {
    const target = (k: string, d: ServiceDecision): DeliveryTarget => ({
      service: k,
      endpoints: d.service.ips.flatMap((ip) => (d.service.tcpPorts ?? []).map((port) => ({ ip, port }))),
    });
    if (all) {
      this.delivery.setTargets([...this.owned].map(([k, d]) => target(k, d)));
      return;
    }
    const updates = new Map<string, DeliveryTarget | undefined>();
    for (const k of touched) {
      const d = this.owned.get(k);
      updates.set(k, d ? target(k, d) : undefined);
    }
    if (updates.size > 0) this.delivery.updateServices(updates);
  }

  /**
   * The VIPs this node is the prober of (proberOf): the touched Services' on a partial pass, all on a
   * full one (which also picks up the MACs other speakers reported).
   */
  private verify(touched: Iterable<string>, all: boolean, input: PassInput): void {
    const { membership } = input;
    const macs = new Set(this.responder.macs());
    let complete = membership !== undefined;
    for (const n of membership?.live ?? []) {
      if (n === this.self) continue;
      const theirs = macFactsOf(membership?.healthOf(n));
      if (!theirs) complete = false;
      for (const m of theirs ?? []) macs.add(m);
    }
    this.speakerMacs = macs;
    this.speakerMacsComplete = complete;
    if (all) this.probing.clear();
    const updates = new Map<string, VerifierTarget[]>();
    for (const k of all ? this.decided.keys() : touched) {
      this.probing.delete(k);
      updates.set(k, []);
      const d = this.decided.get(k);
      if (!d || !d.owner || d.owner === this.self) continue;
      const p = proberOf(d, membership?.live, this.hashes);
      if (p?.node !== this.self) continue;
      // Not before the owner told us its MACs (a speaker that has not yet would look like a stranger).
      const ownerMacs = macFactsOf(membership?.healthOf(d.owner));
      if (!ownerMacs) continue;
      const targets = d.service.ips.map((ip) => ({
        service: k,
        ip,
        owner: d.owner as string,
        ownerMacs,
        facts: d.service,
        interfaces: p.interfaces,
        undelivered: undeliveredOf(membership?.healthOf(d.owner as string), k),
      }));
      this.probing.set(k, targets);
      updates.set(k, targets);
    }
    // A full pass replaces every target; a partial one only the touched Services'.
    if (all) this.verifier.setTargets([...this.probing.values()].flat());
    else this.verifier.updateServices(updates);
  }

  /** Moves the touched Services' ownership to this pass's decisions; what this node gained and lost. */
  private takeOwnership(
    touched: Iterable<string>,
    all: boolean,
  ): { gained: ServiceDecision[]; withdrawn: ServiceDecision[]; ownershipChanged: boolean } {
    const { self, owned } = this;
    let ownershipChanged = all;
    const gained: ServiceDecision[] = [];
    const withdrawn: ServiceDecision[] = [];
    for (const k of touched) {
      const d = this.decided.get(k);
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
    return { gained, withdrawn, ownershipChanged };
  }

  /**
   * Warnings and metrics. One speaker (the first live one by name) reports Services nobody can
   * announce, so each gets one Event, not N.
   */
  private report(touched: Iterable<string>, input: PassInput): void {
    const live = input.membership?.live ?? new Set(input.nodes.filter((n) => n.alive).map((n) => n.name));
    const reporter = [...live].sort()[0];
    for (const k of touched) {
      const d = this.decided.get(k);
      if (d && d.owner === undefined) {
        if (reporter === this.self && !this.warned.has(k)) {
          this.warned.add(k);
          const why = [...d.ineligible].map(([n, r]) => `${n}: ${r}`).join(', ');
          this.o.recordEvent(
            serviceRef(d.service),
            'Warning',
            'announceFailed',
            `no node is eligible to announce ${d.service.ips.join(', ')} in layer 2 (${why || 'no nodes'})`,
          );
          this.o.log.warn(
            { ...objRef('Service', d.service.namespace, d.service.name), why },
            'no eligible node',
          );
        }
      } else this.warned.delete(k);

      // metallb_speaker_announced: only the series that changed
      this.announced.update(k, this.owned.get(k)?.service.ips ?? []);
    }
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.verifier.stop();
    this.delivery.stop();
    this.responder.stop();
    await this.statuses.stop();
  }
}
