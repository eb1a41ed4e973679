// The layer 2 protocol's checks of what it claims (issue 16): after each pass, this node probes the VIPs
// it is the prober of (verifier.ts), checks delivery on the VIPs it owns (delivery.ts), and — as the
// first live speaker by name — removes verification conditions nobody keeps up any more
// (stale-conditions.ts). The controller hands it each pass's decisions; it does no election of its own.
import type { KubeClient } from '../../k8s/client.js';
import type { EventRecorder } from '../../k8s/events.js';
import type { Logger } from '../../k8s/logger.js';
import type { SpeakerMetrics } from '../metrics.js';
import type { PassInput } from '../protocol.js';
import type { ServiceDecision } from './decide.js';
import type { ElectionHashes } from './election.js';
import { L2Verifier, type VerifierTarget } from './verifier.js';
import { macFactsOf, proberOf, undeliveredOf } from './prober.js';
import { DeliveryChecker } from './delivery.js';
import type { DeliveryOptions, DeliveryTarget } from './delivery-core.js';
import type { VerifyOptions } from './verify-core.js';
import { StaleConditions, staleVerification } from './stale-conditions.js';

export interface VerificationOptions {
  readonly node: string;
  readonly client: KubeClient;
  readonly log: Logger;
  readonly metrics: SpeakerMetrics;
  readonly recordEvent: (...args: Parameters<EventRecorder['emit']>) => void;
  /** This node's MACs (the responder's). */
  readonly macs: () => string[];
  /** Sends an ARP who-has / NS for `ip` on `interfaces`; how many went out. */
  readonly probe: (ip: string, interfaces: readonly string[]) => number;
  /** The delivery results changed (this node's facts for the other speakers). */
  readonly onFactsChange?: () => void;
  readonly verify?: Partial<VerifyOptions>;
  readonly delivery?: Partial<DeliveryOptions>;
}

/** One pass's decisions, as the checks read them. */
export interface DecisionsView {
  /** Every Service announced in layer 2, whoever owns it. */
  readonly decided: ReadonlyMap<string, ServiceDecision>;
  /** The ones this node owns. */
  readonly owned: ReadonlyMap<string, ServiceDecision>;
  readonly hashes: ElectionHashes;
}

export class L2Verification {
  private readonly verifier: L2Verifier;
  private readonly delivery: DeliveryChecker;
  private readonly stale: StaleConditions;
  /** The VIPs this node verifies (it is their prober), by Service key. */
  private readonly probing = new Map<string, VerifierTarget[]>();
  /** Every speaker's MACs (ours and what membership tells), for telling a speaker from a stranger. */
  private speakerMacs = new Set<string>();
  /** Every live speaker told us its MACs: only then is an unknown MAC a stranger's. */
  private speakerMacsComplete = false;

  constructor(private readonly o: VerificationOptions) {
    const { metrics, log } = o;
    this.verifier = new L2Verifier({
      node: o.node,
      client: o.client,
      log,
      recordEvent: o.recordEvent,
      metrics: {
        setVerification: (state, n) => metrics.l2Verification.set({ state }, n),
        setConflicts: (n) => metrics.addressConflicts.set(n),
      },
      probe: o.probe,
      isSpeakerMac: (mac) => this.speakerMacs.has(mac) || !this.speakerMacsComplete,
      ...(o.verify ? { options: o.verify } : {}),
    });
    this.delivery = new DeliveryChecker({
      log,
      onChange: () => o.onFactsChange?.(),
      ...(o.delivery ? { options: o.delivery } : {}),
    });
    this.stale = new StaleConditions({ client: o.client, log });
  }

  /** A claim for `ip` from `mac` seen on the wire. */
  claim(ip: string, mac: string): void {
    this.verifier.claim(ip, mac);
  }

  /** Endpoints of owned Services not delivered (told to the other speakers). */
  undelivered(): ReturnType<DeliveryChecker['undelivered']> {
    return this.delivery.undelivered();
  }

  /** The Services this node verifies whose owner is among `nodes`. */
  probedOwnedBy(nodes: readonly string[]): string[] {
    const set = new Set(nodes);
    return [...this.probing].flatMap(([k, ts]) => (ts.some((t) => set.has(t.owner)) ? [k] : []));
  }

  /** After a pass: the touched Services' checks (all of them on a full pass). */
  afterPass(touched: Iterable<string>, all: boolean, input: PassInput, d: DecisionsView): void {
    const keys = all ? undefined : [...touched];
    this.checkDelivery(keys, d);
    this.verify(keys, input, d);
    this.clearStale(keys, input, d);
  }

  stop(): void {
    this.verifier.stop();
    this.delivery.stop();
  }

  /** Every TCP port on every VIP this node owns: checked from here (the owner's delivery check). */
  private checkDelivery(keys: readonly string[] | undefined, d: DecisionsView): void {
    const target = (k: string, x: ServiceDecision): DeliveryTarget => ({
      service: k,
      endpoints: x.service.ips.flatMap((ip) => (x.service.tcpPorts ?? []).map((port) => ({ ip, port }))),
    });
    if (!keys) {
      this.delivery.setTargets([...d.owned].map(([k, x]) => target(k, x)));
      return;
    }
    const updates = new Map<string, DeliveryTarget | undefined>();
    for (const k of keys) {
      const x = d.owned.get(k);
      updates.set(k, x ? target(k, x) : undefined);
    }
    if (updates.size > 0) this.delivery.updateServices(updates);
  }

  /**
   * The VIPs this node is the prober of (proberOf): the touched Services' on a partial pass, all on a
   * full one (which also picks up the MACs other speakers reported).
   */
  private verify(keys: readonly string[] | undefined, input: PassInput, d: DecisionsView): void {
    const { membership } = input;
    const self = this.o.node;
    const macs = new Set(this.o.macs());
    let complete = membership !== undefined;
    for (const n of membership?.live ?? []) {
      if (n === self) continue;
      const theirs = macFactsOf(membership?.healthOf(n));
      if (!theirs) complete = false;
      for (const m of theirs ?? []) macs.add(m);
    }
    this.speakerMacs = macs;
    this.speakerMacsComplete = complete;
    if (!keys) this.probing.clear();
    const updates = new Map<string, VerifierTarget[]>();
    for (const k of keys ?? d.decided.keys()) {
      this.probing.delete(k);
      updates.set(k, []);
      const x = d.decided.get(k);
      if (!x || !x.owner || x.owner === self) continue;
      const p = proberOf(x, membership?.live, d.hashes);
      if (p?.node !== self) continue;
      // Not before the owner told us its MACs (a speaker that has not yet would look like a stranger).
      const ownerMacs = macFactsOf(membership?.healthOf(x.owner));
      if (!ownerMacs) continue;
      const owner = x.owner;
      const targets = x.service.ips.map((ip) => ({
        service: k,
        ip,
        owner,
        ownerMacs,
        facts: x.service,
        interfaces: p.interfaces,
        undelivered: undeliveredOf(membership?.healthOf(owner), k),
      }));
      this.probing.set(k, targets);
      updates.set(k, targets);
    }
    // A full pass replaces every target; a partial one only the touched Services'.
    if (!keys) this.verifier.setTargets([...this.probing.values()].flat());
    else this.verifier.updateServices(updates);
  }

  /**
   * Verification conditions on Services nobody probes now (not in layer 2 any more, no owner, nobody to
   * verify from): removed by the reporter (the first live speaker by name). Not while membership is off or
   * not yet started: without it nothing is verified, and at start a speaker does not know who probes yet.
   */
  private clearStale(keys: readonly string[] | undefined, input: PassInput, d: DecisionsView): void {
    const live = input.membership?.live;
    if (!live || [...live].sort()[0] !== this.o.node) return;
    const candidates = keys
      ? keys.flatMap((k) => {
          const f = input.services.get(k);
          return f ? [f] : [];
        })
      : [...input.services.values()];
    const probed = (k: string): boolean => {
      const x = d.decided.get(k);
      return x !== undefined && x.owner !== undefined && proberOf(x, live, d.hashes) !== undefined;
    };
    this.stale.remove(
      staleVerification(candidates, probed),
      candidates.map((f) => f.key),
    );
  }
}
