// The layer 2 protocol of the speaker: on each pass, the pure election (decide.ts) picks one owner per
// Service among the nodes its L2Advertisements select; this node answers ARP/NDP for what it owns
// (responder.ts), sends gratuitous announcements for what it gained, and writes ServiceL2Status
// objects, Events and metallb_speaker_announced. A pass over changed Services decides those only.
//
// Handover (handover.ts): on SIGTERM (shutdown) or while its own Node carries the exclusion label, this
// speaker leaves the election and answers for each VIP it loses with the next owner's MAC until that
// owner claims it on the wire (or a bound). The order matters: first the pass that switches the
// responder to the next owner's MAC, then "leaving" to the peers (facts()), so the next owner never
// answers while this one still answers with its own MAC. Any VIP lost to another live speaker whose
// MACs are known is handed over the same way.
import type { KubeClient } from '../../k8s/client.js';
import type { EventRecorder, ObjectReference } from '../../k8s/events.js';
import { objRef, type Logger } from '../../k8s/logger.js';
import { DEFAULT_INTERFACE_EXCLUDES } from '../../net/interfaces.js';
import { AnnouncedSeries } from '../announced-series.js';
import type { SpeakerMetrics } from '../metrics.js';
import type { MembershipView, PassInput, Protocol, ServiceFacts } from '../protocol.js';
import { monotonicClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import { EXCLUDE_LB_LABEL } from '../eligibility.js';
import { deferredExclusions, HANDOVER_BOUND_MS, leavingPeers, type HandoverDone } from './handover.js';
import { HandingOver } from './handing-over.js';
import { announcementsOf, decideLayer2, type ServiceDecision } from './decide.js';
import { ElectionHashes } from './election.js';
import { Layer2Responder, type ResponderOptions } from './responder.js';
import { L2StatusWriter } from './status.js';
import { layer2Facts } from './prober.js';
import type { DeliveryOptions } from './delivery-core.js';
import type { VerifyOptions } from './verify-core.js';
import { L2Verification } from './verification.js';
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
  /** Asks the speaker for a pass over every Service (shutdown, a deferred exclusion running out). */
  readonly requestPass?: () => void;
  /** The handover's bound, and how long another node's exclusion label waits for its "leaving" (ms). */
  readonly handoverBoundMs?: number;
  /** How long a VIP is still answered (with the next owner's MAC) after the next owner announced it. */
  readonly handoverLingerMs?: number;
  /** Each handover ended (for metrics). */
  readonly onHandover?: (end: HandoverDone['end']) => void;
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
  /** Verified announcements, delivery checks, stale conditions (verification.ts). */
  private readonly checks: L2Verification;
  private readonly clock: Clock;
  private readonly boundMs: number;
  /** The VIPs this node answers for with the next owner's MAC. */
  /** The VIPs this node answers for with the next owner's MAC (handing-over.ts). */
  private readonly handing: HandingOver;
  /** Other nodes' exclusion labels: when first seen (deferredExclusions). */
  private readonly labelSeen = new Map<string, number>();
  private deferTimer: { at: number; h: TimerHandle } | undefined;
  /** SIGTERM: shutdown() was called. */
  private terminating = false;
  /** "Leaving" as the last pass applied it (what facts() tells the peers). */
  private leavingApplied = false;
  /** Membership ran at the last pass (no handover without it). */
  private membershipSeen: MembershipView | undefined;
  /** shutdown() waits for this: called once a pass applied "leaving" and every handover ended. */
  private settled: (() => void) | undefined;

  constructor(private readonly o: Layer2ControllerOptions) {
    this.self = o.node;
    this.enabled = o.enabled ?? true;
    this.clock = o.responder?.clock ?? monotonicClock;
    this.boundMs = o.handoverBoundMs ?? HANDOVER_BOUND_MS;
    this.handing = new HandingOver({
      self: o.node,
      clock: this.clock,
      log: o.log,
      responder: {
        setProxies: (p) => this.responder.setProxies(p),
        interfacesFor: (ip) => this.responder.interfacesFor(ip),
      },
      boundMs: this.boundMs,
      ...(o.handoverLingerMs !== undefined ? { lingerMs: o.handoverLingerMs } : {}),
      ...(o.onHandover ? { onHandover: o.onHandover } : {}),
      onEnded: () => this.settle(),
    });
    const { metrics, log } = o;
    this.responder = new Layer2Responder({
      excludes: o.interfacesExclude ?? DEFAULT_INTERFACE_EXCLUDES,
      ...o.responder,
      ...(this.enabled ? {} : { scan: () => [], rescanMs: 0 }),
      onClaim: (ip, mac) => {
        this.checks.claim(ip, mac);
        this.handing.claim(ip, mac);
      },
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
    this.checks = new L2Verification({
      node: o.node,
      client: o.client,
      log,
      metrics,
      recordEvent: o.recordEvent,
      macs: () => this.responder.macs(),
      probe: (ip, ifs) => this.responder.probe(ip, ifs),
      ...(o.onFactsChange ? { onFactsChange: o.onFactsChange } : {}),
      ...(o.verify ? { verify: o.verify } : {}),
      ...(o.delivery ? { delivery: o.delivery } : {}),
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
    return this.checks.probedOwnedBy(nodes);
  }

  /** What the other speakers learn from this one with its health results: MACs, undelivered endpoints. */
  facts(): string[] {
    return layer2Facts(this.responder.macs(), this.checks.undelivered(), this.leavingApplied);
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
    const now = this.clock.now();
    this.membershipSeen = membership;
    // Leaving: this node on SIGTERM or while its Node is labelled excluded, and the peers that said so;
    // all only with membership (without it nobody can be told: today's behaviour).
    const selfLabels = input.nodes.find((n) => n.name === self)?.labels ?? {};
    const leavingSelf =
      membership !== undefined &&
      (this.terminating || Object.prototype.hasOwnProperty.call(selfLabels, EXCLUDE_LB_LABEL));
    const leaving = membership
      ? leavingPeers(self, membership.live, (n) => membership.healthOf(n))
      : new Set<string>();
    if (leavingSelf) leaving.add(self);
    let nodes = input.nodes;
    if (membership) {
      const { deferred, until } = deferredExclusions({
        self,
        nodes: input.nodes,
        live: membership.live,
        leaving,
        firstSeen: this.labelSeen,
        now,
        boundMs: this.boundMs,
      });
      if (deferred.size > 0)
        nodes = input.nodes.map((n) => (deferred.has(n.name) ? { ...n, exclusionDeferred: true } : n));
      this.deferPassUntil(until, now);
    } else this.labelSeen.clear();
    const decide = (services: readonly ServiceFacts[]): Map<string, ServiceDecision> =>
      decideLayer2({
        self,
        config: input.config,
        services,
        nodes,
        leaving,
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
    const handoverChanged = this.handing.run(touched, this.decided, withdrawn, membership, now);

    // The data path first: the responder answers for what we own (rebuilt only when that changed), and
    // the gratuitous announcements for what we gained go out before the logs, Events and metrics.
    // A VIP handed over is answered with the next owner's MAC from the same moment on.
    if (handoverChanged) this.responder.setProxies(this.handing.proxies());
    this.o.flows?.layer2(this.decided, scope === 'all' ? undefined : scope);
    if (ownershipChanged) this.responder.setAnnouncements(announcementsOf(self, this.owned));
    if (input.reannounce) this.responder.reannounce();
    if (handoverChanged) this.handing.arm();

    // Only now (the responder answers with the next owners' MACs) do the peers learn we are leaving.
    if (leavingSelf !== this.leavingApplied) {
      this.leavingApplied = leavingSelf;
      this.o.log.info(
        {
          leaving: leavingSelf,
          why: this.terminating ? 'SIGTERM' : leavingSelf ? `label ${EXCLUDE_LB_LABEL}` : null,
          handingOver: this.handing.size,
        },
        leavingSelf ? 'leaving: handing the VIPs over' : 'no longer leaving',
      );
      this.o.onFactsChange?.();
    }

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
    this.checks.afterPass(touched, scope === 'all', input, {
      decided: this.decided,
      owned: this.owned,
      hashes: this.hashes,
    });
    this.settle();
  }

  /** A pass when the first deferred exclusion runs out (the labelled node's speaker said nothing). */
  private deferPassUntil(until: number | undefined, now: number): void {
    if (until === undefined || this.deferTimer?.at === until) return;
    if (this.deferTimer) this.clock.clearTimer(this.deferTimer.h);
    this.deferTimer = {
      at: until,
      h: this.clock.setTimer(
        () => {
          this.deferTimer = undefined;
          this.o.requestPass?.();
        },
        Math.max(0, until - now) + 1,
      ),
    };
  }

  /** Resolves shutdown() once a pass applied "leaving" and nothing is handed over any more. */
  private settle(): void {
    if (this.settled && this.leavingApplied && this.handing.size === 0) {
      const done = this.settled;
      this.settled = undefined;
      done();
    }
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

  /**
   * SIGTERM's layer 2 part: leave the election and hand every owned VIP over (the next owner answers
   * and announces before this node stops answering). Without membership, or with nothing to hand
   * over, it returns at once (this node answers until stop(), as before).
   */
  async shutdown(): Promise<void> {
    if (!this.enabled || this.terminating) return;
    this.terminating = true;
    if (!this.membershipSeen || !this.o.requestPass) return;
    const t0 = this.clock.now();
    let timer: TimerHandle | undefined;
    await new Promise<void>((resolve) => {
      this.settled = resolve;
      // a pass that never comes (or a handover that never ends) cannot hold SIGTERM up
      timer = this.clock.setTimer(resolve, this.boundMs + 1000);
      this.o.requestPass?.();
    });
    if (timer) this.clock.clearTimer(timer);
    this.settled = undefined;
    this.o.log.info(
      { ms: Math.round(this.clock.now() - t0), handingOver: this.handing.size },
      'layer 2 shutdown: handover done',
    );
  }

  async stop(): Promise<void> {
    this.handing.stop();
    if (this.deferTimer) this.clock.clearTimer(this.deferTimer.h);
    this.checks.stop();
    this.responder.stop();
    await this.statuses.stop();
  }
}
