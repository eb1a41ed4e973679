// The old owner's side of a layer 2 handover, driven by the controller's passes (handover.ts decides):
// which VIPs this node answers for with the next owner's MAC, the responder's proxies for them, the timer
// that ends them at their bound, and a log line (and metric) per Service handed over.
import { objRef, type Logger } from '../../k8s/logger.js';
import type { Clock, TimerHandle } from '../../proto/clock.js';
import type { MembershipView } from '../protocol.js';
import type { ServiceDecision } from './decide.js';
import { Handovers, summarize, type HandoverDone } from './handover.js';
import { macFactsOf } from './prober.js';
import type { Layer2Responder } from './responder.js';

export interface HandingOverOptions {
  readonly self: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly responder: Pick<Layer2Responder, 'setProxies' | 'interfacesFor'>;
  readonly boundMs: number;
  readonly lingerMs?: number;
  /** Each handover ended (for metrics). */
  readonly onHandover?: (end: HandoverDone['end']) => void;
  /** Handovers ended outside a pass (shutdown may be waiting for the last). */
  readonly onEnded: () => void;
}

export class HandingOver {
  private readonly h: Handovers;
  private timer: TimerHandle | undefined;

  constructor(private readonly o: HandingOverOptions) {
    this.h = new Handovers(o.boundMs, o.lingerMs);
  }

  /** VIPs being handed over. */
  get size(): number {
    return this.h.size;
  }

  /** A claim for `ip` from `mac` seen on the wire: the next owner announced it (its handover ends soon). */
  claim(ip: string, mac: string): void {
    const now = this.o.clock.now();
    if (!this.h.claim(ip, mac, now)) return;
    this.o.log.debug({ ip, mac }, 'the next owner announced a VIP handed over');
    this.ended(this.h.expire(now));
    this.arm();
  }

  stop(): void {
    if (this.timer) this.o.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /**
   * Starts, redirects and ends the handovers of the touched Services: a VIP this node just lost to
   * another live speaker whose MACs it knows (or one already handed over whose next owner changed) is
   * answered with that speaker's MAC; one it owns again, or nobody's, is not. True when that changed.
   */
  run(
    touched: Iterable<string>,
    decided: ReadonlyMap<string, ServiceDecision>,
    withdrawn: readonly ServiceDecision[],
    membership: MembershipView | undefined,
    now: number,
  ): boolean {
    const lost = new Set(withdrawn.map((d) => d.service.key));
    const done: HandoverDone[] = [];
    let changed = false;
    const byService = new Map<string, string[]>();
    for (const [ip, e] of this.h.active()) {
      const l = byService.get(e.service) ?? [];
      l.push(ip);
      byService.set(e.service, l);
    }
    // (a node's MACs read once per pass: its facts may hold thousands of health results)
    const macsOf = new Map<string, Set<string> | undefined>();
    const cachedMacs = (node: string): Set<string> | undefined => {
      if (!macsOf.has(node)) macsOf.set(node, macFactsOf(membership?.healthOf(node)));
      return macsOf.get(node);
    };
    for (const k of touched) {
      const active = byService.get(k) ?? [];
      if (active.length === 0 && !lost.has(k)) continue;
      const d = decided.get(k);
      const to = d?.owner;
      const macs = to !== undefined && to !== this.o.self ? cachedMacs(to) : undefined;
      const handable =
        d !== undefined &&
        to !== undefined &&
        to !== this.o.self &&
        membership !== undefined &&
        membership.live.has(to) &&
        macs !== undefined &&
        macs.size > 0;
      if (handable && (lost.has(k) || active.length > 0)) {
        for (const ip of d.service.ips) {
          const cur = this.h.active().get(ip);
          const interfaces = cur?.interfaces ?? this.o.responder.interfacesFor(ip);
          if (!cur && (!lost.has(k) || interfaces.length === 0)) continue;
          const r = this.h.start(
            { ip, service: k, to, macs: [...macs].map((m) => m.toLowerCase()).sort(), interfaces },
            now,
          );
          if (r) done.push(r);
          changed = true;
        }
      }
      for (const ip of active) {
        if (handable && d.service.ips.includes(ip)) continue;
        const r = this.h.end(ip, to === this.o.self ? 'regained' : 'cancelled', now);
        if (r) done.push(r);
        changed = true;
      }
    }
    if (done.length > 0) this.logHandovers(done);
    return changed;
  }

  /** The responder's proxies: every VIP handed over, with the next owner's MACs. */
  proxies(): Map<string, { interfaces: readonly string[]; macs: readonly string[] }> {
    return new Map([...this.h.active()].map(([ip, e]) => [ip, { interfaces: e.interfaces, macs: e.macs }]));
  }

  /** Handovers ended outside a pass (a claim seen, the bound): the responder stops answering for them. */
  ended(done: readonly HandoverDone[]): void {
    if (done.length === 0) return;
    this.o.responder.setProxies(this.proxies());
    this.logHandovers(done);
    this.arm();
    this.o.onEnded();
  }

  private logHandovers(done: readonly HandoverDone[]): void {
    for (const h of summarize(done)) {
      this.o.onHandover?.(h.end);
      const [namespace = '', name = ''] = h.service.split('/');
      this.o.log.info(
        { ...objRef('Service', namespace, name), ips: h.ips, to: h.to, end: h.end, ms: Math.round(h.ms) },
        h.end === 'announced'
          ? 'handed over: the next owner announced the VIPs'
          : h.end === 'bound'
            ? 'handed over: the next owner did not announce the VIPs in time; stopped answering anyway'
            : 'handover ended',
      );
    }
  }

  arm(): void {
    if (this.timer) this.o.clock.clearTimer(this.timer);
    this.timer = undefined;
    const at = this.h.nextDeadline();
    if (at === undefined) return;
    this.timer = this.o.clock.setTimer(
      () => {
        this.timer = undefined;
        this.ended(this.h.expire(this.o.clock.now()));
        this.arm();
      },
      Math.max(0, at - this.o.clock.now()),
    );
  }
}
