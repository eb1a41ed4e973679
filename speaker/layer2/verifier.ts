// The I/O shell of layer 2 verification (verify-core.ts decides): sends the probes the core says are due
// through the responder's sockets, feeds it what the wire claims, and turns its results into the
// Service's `bollard.io/Verified` and `bollard.io/AddressConflict` conditions (a strategic-merge PATCH of
// services/<name>/status carrying only those two, and only when they differ from what the Service has),
// Warning Events on the transitions into trouble, and the bollard_l2_verification /
// bollard_address_conflicts gauges.
import type { KubeClient } from '../../k8s/client.js';
import type { EventRecorder } from '../../k8s/events.js';
import { objRef, type Logger } from '../../k8s/logger.js';
import { background } from '../../k8s/background.js';
import { patchServiceCondition, SPEAKER_FIELD_MANAGER } from '../../k8s/service-conditions.js';
import { monotonicClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import type { ServiceFacts } from '../protocol.js';
import {
  ADDRESS_CONFLICT,
  VERIFIED,
  conditionUpdate,
  draftConditions,
  type ServiceCondition,
} from './conditions.js';
import {
  VERIFY_STATES,
  VerifyCore,
  type VerifyOptions,
  type VerifyState,
  type VerifyTarget,
} from './verify-core.js';

export interface VerifierTarget extends VerifyTarget {
  readonly facts: ServiceFacts;
  /** The interfaces to ask on ([] = every usable one). */
  readonly interfaces: readonly string[];
  /** The owner's word on endpoints it could not reach through the VIP ("" = none). */
  readonly undelivered: string;
}

export interface VerifierMetrics {
  setVerification(state: VerifyState, n: number): void;
  setConflicts(n: number): void;
}

export interface VerifierOptions {
  readonly node: string;
  readonly client: Pick<KubeClient, 'patch'>;
  readonly log: Logger;
  readonly recordEvent: (...args: Parameters<EventRecorder['emit']>) => void;
  readonly metrics: VerifierMetrics;
  /** Sends the request for `ip` on `interfaces`; how many went out. */
  readonly probe: (ip: string, interfaces: readonly string[]) => number;
  /** Is `mac` some speaker's? */
  readonly isSpeakerMac: (mac: string) => boolean;
  readonly clock?: Clock;
  /** Wall-clock time for lastTransitionTime. */
  readonly wallNow?: () => Date;
  readonly options?: Partial<VerifyOptions>;
}

export class L2Verifier {
  private readonly core: VerifyCore;
  private readonly clock: Clock;
  /** Service key -> its VIPs this node probes. */
  private readonly targets = new Map<string, readonly VerifierTarget[]>();
  /** Service key -> the conditions we last wrote (newer than the informer's copy until it catches up). */
  private readonly written = new Map<string, ServiceCondition[]>();
  /** Services to write again (a failed write, or the owner's delivery report changed). */
  private readonly retry = new Set<string>();
  /**
   * Services whose conditions are being written: one write per Service at a time (two in flight could
   * land in either order and leave the older conditions); a change meanwhile is written after it lands.
   */
  private readonly writing = new Set<string>();
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly o: VerifierOptions) {
    this.clock = o.clock ?? monotonicClock;
    this.core = new VerifyCore(o.isSpeakerMac, o.options);
  }

  /** The VIPs this node probes now (replaces the previous set). */
  setTargets(targets: Iterable<VerifierTarget>): void {
    const next = new Map<string, VerifierTarget[]>();
    for (const t of targets) next.set(t.service, [...(next.get(t.service) ?? []), t]);
    for (const k of this.targets.keys()) if (!next.has(k)) this.forget(k);
    for (const [k, ts] of next) this.take(k, ts);
    this.core.setTargets([...next.values()].flat(), this.clock.now());
    this.pump();
  }

  /** The VIPs of these Services only ([] = no longer probed here); the others stay as they are. */
  updateServices(services: ReadonlyMap<string, readonly VerifierTarget[]>): void {
    const now = this.clock.now();
    for (const [k, ts] of services) {
      if (ts.length === 0) this.forget(k);
      else this.take(k, ts);
      this.core.setServiceTargets(k, ts, now);
    }
    this.pump();
  }

  private take(k: string, ts: readonly VerifierTarget[]): void {
    const t = ts[0] as VerifierTarget;
    if ((this.targets.get(k)?.[0]?.undelivered ?? '') !== t.undelivered) this.retry.add(k);
    this.targets.set(k, ts);
    // The informer caught up with what we wrote: forget our copy. Our conditions gone from the Service
    // while we have results (removed by hand, or by a speaker that judged them stale a moment early):
    // write them again.
    const w = this.written.get(k);
    const served = ours(t.facts.conditions);
    if (w && sameConditions(served, w)) this.written.delete(k);
    else if (!w && served.length === 0 && this.core.resultsOf(k)?.some((r) => r.state !== 'Pending'))
      this.retry.add(k);
  }

  private forget(k: string): void {
    this.targets.delete(k);
    this.written.delete(k);
  }

  /** A claim for `ip` from `mac` seen on the wire. */
  claim(ip: string, mac: string): void {
    if (this.stopped) return;
    const services = this.core.sighting(ip, mac, this.clock.now());
    if (services.length > 0) {
      this.o.log.warn({ ip, mac, services }, 'address conflict: a foreign MAC claims a VIP');
      this.pump();
    }
  }

  /** Results by Service (for tests and diagnostics). */
  results(): ReturnType<VerifyCore['byService']> {
    return this.core.byService();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.core.tick(now);
    // (Services sharing a VIP: one request answers them all)
    const sent = new Set<string>();
    for (const t of this.core.due(now)) {
      const k = `${t.ip}|${this.targets.get(t.service)?.[0]?.interfaces.join(',') ?? ''}`;
      if (sent.has(k)) continue;
      sent.add(k);
      this.o.probe(t.ip, this.targets.get(t.service)?.[0]?.interfaces ?? []);
    }
    this.report();
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const next = this.core.nextDeadline();
    if (next !== undefined) this.timer = this.clock.setTimer(() => this.pump(), Math.max(1, next - now));
  }

  /** Metrics, conditions and Events for what changed. */
  private report(): void {
    const changed = this.core.takeChanged();
    for (const k of this.retry) changed.add(k);
    this.retry.clear();
    if (changed.size === 0) return;
    // (a state or a conflict changes only with a Service in `changed`)
    const { states, conflicts } = this.core.counts();
    for (const s of VERIFY_STATES) this.o.metrics.setVerification(s, states[s]);
    this.o.metrics.setConflicts(conflicts);
    for (const k of changed) {
      if (this.writing.has(k)) {
        this.retry.add(k);
        continue;
      }
      const results = this.core.resultsOf(k);
      const t = this.targets.get(k)?.[0];
      if (!results || !t) continue;
      const drafts = draftConditions(results, this.o.node, t.undelivered);
      if (!drafts) continue;
      const current = this.written.get(k) ?? ours(t.facts.conditions);
      const now = (this.o.wallNow ?? (() => new Date()))();
      const u = conditionUpdate(drafts, current, now.toISOString().replace(/\.\d+Z$/, 'Z'));
      if (!u.write) continue;
      this.written.set(k, u.write);
      const svc = t.facts;
      const ref = { apiVersion: 'v1', kind: 'Service', namespace: svc.namespace, name: svc.name };
      for (const c of u.turnedBad)
        this.o.recordEvent(
          ref,
          'Warning',
          c.type === ADDRESS_CONFLICT ? 'AddressConflict' : 'AnnouncementNotVerified',
          c.message,
        );
      const write = u.write;
      this.writing.add(k);
      background(
        this.o.log,
        'write Service conditions',
        patchServiceCondition(this.o.client, svc.namespace, svc.name, write, SPEAKER_FIELD_MANAGER).then(
          (written) => {
            this.writing.delete(k);
            // a change that waited for this write: now
            if (this.retry.has(k)) this.pump();
            // (false: the Service is gone; nothing to write any more)
            if (!written) return;
            this.o.log.info(
              {
                ...objRef('Service', svc.namespace, svc.name),
                conditions: write.map((c) => `${c.type}=${c.status}/${c.reason}`),
              },
              'verification conditions written',
            );
          },
          (err: unknown) => {
            // retried with the next report (not at once: the apiserver may be failing)
            this.writing.delete(k);
            this.written.delete(k);
            this.retry.add(k);
            this.o.log.debug(
              { ...objRef('Service', svc.namespace, svc.name), err: (err as Error).message },
              'verification conditions not written; will retry',
            );
          },
        ),
        objRef('Service', svc.namespace, svc.name),
      );
    }
  }
}

/** The conditions of ours among a Service's. */
function ours(all: readonly ServiceCondition[] | undefined): ServiceCondition[] {
  return (all ?? []).filter((c) => c.type === VERIFIED || c.type === ADDRESS_CONFLICT);
}

function sameConditions(a: readonly ServiceCondition[], b: readonly ServiceCondition[]): boolean {
  const key = (c: ServiceCondition): string => `${c.type}|${c.status}|${c.reason}|${c.message}`;
  return a.length === b.length && a.map(key).sort().join('\n') === b.map(key).sort().join('\n');
}
