// Delivery checks of the layer 2 owner (pure: plain data and `now` in, checks due and results out; the
// shell in delivery.ts connects). For each Service this node announces, every TCP port on every VIP is
// connected to from the node itself (kube-proxy's rules apply to the node's own traffic), when the node
// gains the Service and on a steady period after (`steadyPeriod`: every `minPeriodMs` for few Services,
// stretched to keep under `steadyPerSecond` checks a second, at most `periodMs`); a port that fails `failuresToReport` checks in a row
// (`retryMs` apart) is reported undelivered, and stops being so at the first check that succeeds. UDP and
// SCTP ports are not checked (no handshake to tell delivery from silence).
import { steadyPeriod } from './steady-period.js';

export interface DeliveryOptions {
  /** The longest steady period (however many Services this node checks). */
  periodMs: number;
  /** The shortest steady period (few Services). */
  minPeriodMs: number;
  /** Steady checks (Services) per second this node aims to stay under by stretching the period. */
  steadyPerSecond: number;
  retryMs: number;
  failuresToReport: number;
  /** Services checked per second at most (each check connects to all its TCP ports). */
  maxPerSecond: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = {
  periodMs: 30_000,
  minPeriodMs: 2_000,
  steadyPerSecond: 10,
  retryMs: 2_000,
  failuresToReport: 2,
  maxPerSecond: 100,
};

export interface DeliveryTarget {
  /** The Service key ("ns/name"). */
  service: string;
  /** "ip port" pairs to connect to (TCP). */
  endpoints: readonly { ip: string; port: number }[];
}

interface Entry {
  target: DeliveryTarget;
  sig: string;
  nextAt: number;
  running: boolean;
  /** "ip:port" -> failures in a row. */
  failures: Map<string, number>;
  /** Reported undelivered: "ip:port" -> why. */
  undelivered: Map<string, string>;
}

export const endpointKey = (e: { ip: string; port: number }): string =>
  e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;

export class DeliveryCore {
  readonly opts: DeliveryOptions;
  private readonly entries = new Map<string, Entry>();
  private changed = false;
  private tokens: number;
  private tokensAt: number | undefined;

  constructor(opts: Partial<DeliveryOptions> = {}) {
    this.opts = { ...DEFAULT_DELIVERY, ...opts };
    this.tokens = this.opts.maxPerSecond;
  }

  /** Replaces the Services checked; new or changed ones are checked at once. */
  setTargets(targets: Iterable<DeliveryTarget>, now: number): void {
    const seen = new Set<string>();
    for (const t of targets) {
      seen.add(t.service);
      this.setService(t.service, t, now);
    }
    for (const k of [...this.entries.keys()]) if (!seen.has(k)) this.setService(k, undefined, now);
  }

  /** Replaces one Service's target (undefined = no longer checked). */
  setService(service: string, t: DeliveryTarget | undefined, now: number): void {
    const e = this.entries.get(service);
    if (!t) {
      if (e && e.undelivered.size > 0) this.changed = true;
      this.entries.delete(service);
      return;
    }
    const sig = t.endpoints.map(endpointKey).sort().join(',');
    if (e && e.sig === sig) {
      e.target = t;
      return;
    }
    if (e && e.undelivered.size > 0) this.changed = true;
    this.entries.set(service, {
      target: t,
      sig,
      nextAt: now,
      running: e?.running ?? false,
      failures: new Map(),
      undelivered: new Map(),
    });
  }

  /** The Services to check now (marked running until done()). */
  due(now: number): DeliveryTarget[] {
    if (this.tokensAt !== undefined)
      this.tokens = Math.min(
        this.opts.maxPerSecond,
        this.tokens + ((now - this.tokensAt) * this.opts.maxPerSecond) / 1000,
      );
    this.tokensAt = now;
    const out: DeliveryTarget[] = [];
    for (const e of this.entries.values()) {
      if (this.tokens < 1) break;
      if (e.running || e.nextAt > now || e.target.endpoints.length === 0) continue;
      this.tokens--;
      e.running = true;
      out.push(e.target);
    }
    return out;
  }

  /** The outcome of a check: "ip:port" -> undefined (connected) or why it failed. */
  done(service: string, outcomes: ReadonlyMap<string, string | undefined>, now: number): void {
    const e = this.entries.get(service);
    if (!e) return;
    e.running = false;
    let failing = false;
    for (const [k, why] of outcomes) {
      if (why === undefined) {
        e.failures.delete(k);
        if (e.undelivered.delete(k)) this.changed = true;
        continue;
      }
      failing = true;
      const n = (e.failures.get(k) ?? 0) + 1;
      e.failures.set(k, n);
      if (n >= this.opts.failuresToReport && e.undelivered.get(k) !== why) {
        e.undelivered.set(k, why);
        this.changed = true;
      }
    }
    e.nextAt = now + (failing ? this.opts.retryMs : steadyPeriod(this.entries.size, this.opts));
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values())
      if (!e.running && e.target.endpoints.length > 0 && (next === undefined || e.nextAt < next))
        next = e.nextAt;
    if (next !== undefined && this.tokens < 1 && this.tokensAt !== undefined)
      next = Math.max(next, this.tokensAt + 1000 / this.opts.maxPerSecond);
    return next;
  }

  /** Service key -> its undelivered endpoints with why ("10.0.0.1:81 connection refused"), sorted. */
  undelivered(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [k, e] of this.entries)
      if (e.undelivered.size > 0) out.set(k, [...e.undelivered].map(([ep, why]) => `${ep} ${why}`).sort());
    return out;
  }

  /** Whether undelivered() changed since the last call. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }
}
