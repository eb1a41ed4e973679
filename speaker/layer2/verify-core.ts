// Verified announcements and address conflicts for layer 2 (pure: plain data and `now` in, probes due and
// results out; the shell in verifier.ts sends the probes and writes what the results say).
//
// Each VIP announced in layer 2 has one prober: the speaker after the owner in election order (see
// proberOf). The prober asks for the VIP from the wire (ARP who-has / NDP NS from its own address) on
// every ownership change and then on a steady period (see `steadyPeriod`: every `minPeriodMs` while this
// node probes few VIPs, stretched so that steady probing stays under `steadyPerSecond`, never longer than
// `periodMs`), and collects the answers for `windowMs`:
//  - an answer from one of the owner's MACs -> Answering;
//  - no answer at all `missesToFail` times in a row -> NotAnswering;
//  - answers, but none from the owner (another speaker's MAC, e.g. a stale owner) -> WrongMAC;
//  - any MAC that is no speaker's (a host on the LAN claims the VIP) -> a conflict (foreign MACs), which
//    also shows in the state (WrongMAC when the owner did not answer).
// Passively, a gratuitous ARP / ARP reply / NA for a watched VIP from a MAC that is no speaker's is a
// conflict at once. A conflict clears when a later probe hears no foreign MAC. While anything is wrong
// the VIP is probed every `retryMs` instead of every `periodMs`, so recovery shows within seconds.
// Probes are rate-limited (`maxPerSecond`), so 10,000 VIPs spread over the period.
import { steadyPeriod } from './steady-period.js';

export type VerifyState = 'Pending' | 'Answering' | 'NotAnswering' | 'WrongMAC';

export const VERIFY_STATES: readonly VerifyState[] = ['Pending', 'Answering', 'NotAnswering', 'WrongMAC'];

export interface VerifyOptions {
  /** The longest steady period (however many VIPs this node probes). */
  periodMs: number;
  /** The shortest steady period (few VIPs). */
  minPeriodMs: number;
  /** Steady probes per second this node aims to stay under by stretching the period. */
  steadyPerSecond: number;
  retryMs: number;
  windowMs: number;
  missesToFail: number;
  maxPerSecond: number;
}

export const DEFAULT_VERIFY: VerifyOptions = {
  periodMs: 30_000,
  minPeriodMs: 2_000,
  steadyPerSecond: 20,
  retryMs: 2_000,
  windowMs: 1_000,
  missesToFail: 2,
  maxPerSecond: 500,
};

/** A VIP this node probes. */
export interface VerifyTarget {
  /** The Service key ("ns/name"). */
  service: string;
  ip: string;
  owner: string;
  /** The owner's MACs as its speaker reports them; undefined when unknown. */
  ownerMacs: ReadonlySet<string> | undefined;
}

export interface VipResult {
  readonly service: string;
  readonly ip: string;
  readonly owner: string;
  readonly state: VerifyState;
  /** The MACs that answered the last completed probe. */
  readonly answered: readonly string[];
  /** MACs that are no speaker's seen claiming the VIP (empty = no conflict). */
  readonly foreign: readonly string[];
  /** When the last probe completed (undefined before the first). */
  readonly probedAt: number | undefined;
}

interface Entry {
  target: VerifyTarget;
  state: VerifyState;
  answered: string[];
  foreign: string[];
  probedAt: number | undefined;
  misses: number;
  nextAt: number;
  /** The open window: answers heard since the probe was sent. */
  window: { endsAt: number; macs: Set<string> } | undefined;
}

function resultOf(e: Entry): VipResult {
  return {
    service: e.target.service,
    ip: e.target.ip,
    owner: e.target.owner,
    state: e.state,
    answered: e.answered,
    foreign: e.foreign,
    probedAt: e.probedAt,
  };
}

function index(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

function unindex(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((x) => b.has(x));
}

export class VerifyCore {
  readonly opts: VerifyOptions;
  /** "service|ip" -> entry (Services sharing a VIP each have their own). */
  private readonly entries = new Map<string, Entry>();
  /** ip -> its entries' keys. */
  private readonly byIp = new Map<string, Set<string>>();
  /** Service key -> its entries' keys. */
  private readonly byServiceIndex = new Map<string, Set<string>>();
  /** Services whose results changed since the last takeChanged(). */
  private changed = new Set<string>();
  private tokens: number;
  private tokensAt: number | undefined;

  constructor(
    /** Is `mac` some speaker's (the owner's, or another's during a handover)? */
    private readonly isSpeakerMac: (mac: string) => boolean,
    opts: Partial<VerifyOptions> = {},
  ) {
    this.opts = { ...DEFAULT_VERIFY, ...opts };
    this.tokens = this.opts.maxPerSecond;
  }

  /**
   * Replaces the VIPs this node probes. A new VIP, or one whose owner or owner's MACs changed, is probed
   * at once (rate limits permitting); the others keep their schedule and results.
   */
  setTargets(targets: Iterable<VerifyTarget>, now: number): void {
    const seen = new Set<string>();
    for (const t of targets) seen.add(this.upsert(t, now));
    for (const k of [...this.entries.keys()]) if (!seen.has(k)) this.remove(k);
  }

  /** Replaces the VIPs of one Service (none = it is no longer probed here). */
  setServiceTargets(service: string, targets: readonly VerifyTarget[], now: number): void {
    const seen = new Set<string>();
    for (const t of targets) seen.add(this.upsert(t, now));
    for (const k of [...(this.byServiceIndex.get(service) ?? [])]) if (!seen.has(k)) this.remove(k);
  }

  private upsert(t: VerifyTarget, now: number): string {
    const key = `${t.service}|${t.ip}`;
    const e = this.entries.get(key);
    if (!e) {
      this.entries.set(key, {
        target: t,
        state: 'Pending',
        answered: [],
        foreign: [],
        probedAt: undefined,
        misses: 0,
        nextAt: now,
        window: undefined,
      });
      index(this.byIp, t.ip, key);
      index(this.byServiceIndex, t.service, key);
      this.changed.add(t.service);
      return key;
    }
    if (e.target.owner !== t.owner || !sameSet(e.target.ownerMacs, t.ownerMacs)) {
      e.misses = 0;
      e.nextAt = now;
      e.window = undefined;
      if (e.target.owner !== t.owner && e.state !== 'Pending') {
        e.state = 'Pending';
        this.changed.add(t.service);
      }
    }
    e.target = t;
    return key;
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    unindex(this.byIp, e.target.ip, key);
    unindex(this.byServiceIndex, e.target.service, key);
    this.changed.add(e.target.service);
  }

  /** The VIPs to probe now (each opens a window for its answers), at most the rate limit allows. */
  due(now: number): VerifyTarget[] {
    this.refill(now);
    const out: VerifyTarget[] = [];
    for (const e of this.entries.values()) {
      if (this.tokens < 1) break;
      if (e.window || e.nextAt > now) continue;
      this.tokens--;
      e.window = { endsAt: now + this.opts.windowMs, macs: new Set() };
      out.push(e.target);
    }
    return out;
  }

  private refill(now: number): void {
    if (this.tokensAt !== undefined)
      this.tokens = Math.min(
        this.opts.maxPerSecond,
        this.tokens + ((now - this.tokensAt) * this.opts.maxPerSecond) / 1000,
      );
    this.tokensAt = now;
  }

  private entriesOf(ip: string): Entry[] {
    return [...(this.byIp.get(ip) ?? [])].flatMap((k) => {
      const e = this.entries.get(k);
      return e ? [e] : [];
    });
  }

  /** An answer to our probe (ARP reply / NA to us) for `ip` from `mac`. */
  answer(ip: string, mac: string): void {
    for (const e of this.entriesOf(ip)) e.window?.macs.add(mac);
  }

  /**
   * A claim for `ip` seen on the wire (gratuitous ARP, ARP reply, NA) from `mac`: a conflict at once when
   * `mac` is no speaker's (the VIP is then probed again within `retryMs`); inside an open window it also
   * counts as an answer. The Services for which it is a new conflict.
   */
  sighting(ip: string, mac: string, now: number): string[] {
    const out: string[] = [];
    for (const e of this.entriesOf(ip)) {
      e.window?.macs.add(mac);
      if (this.isSpeakerMac(mac) || e.foreign.includes(mac)) continue;
      e.foreign = [...e.foreign, mac].sort();
      this.changed.add(e.target.service);
      // Probed again soon: whether the stranger still answers (and whether the owner does).
      e.nextAt = Math.min(e.nextAt, now + this.opts.retryMs);
      out.push(e.target.service);
    }
    return out;
  }

  /** Closes the windows that ended by `now` and turns their answers into results. */
  tick(now: number): void {
    for (const e of this.entries.values()) {
      const w = e.window;
      if (!w || w.endsAt > now) continue;
      e.window = undefined;
      e.probedAt = now;
      const macs = [...w.macs].sort();
      const foreign = macs.filter((m) => !this.isSpeakerMac(m));
      const owners = e.target.ownerMacs;
      const fromOwner = macs.some((m) => (owners ? owners.has(m) : this.isSpeakerMac(m)));
      let state: VerifyState;
      if (macs.length === 0) {
        e.misses++;
        state = e.misses >= this.opts.missesToFail ? 'NotAnswering' : e.state;
      } else {
        e.misses = 0;
        state = fromOwner ? 'Answering' : 'WrongMAC';
      }
      const before = JSON.stringify([e.state, e.foreign, e.answered]);
      e.state = state;
      e.foreign = foreign;
      e.answered = macs;
      if (JSON.stringify([e.state, e.foreign, e.answered]) !== before) this.changed.add(e.target.service);
      const healthy = state === 'Answering' && foreign.length === 0 && e.misses === 0;
      e.nextAt = now + (healthy ? steadyPeriod(this.entries.size, this.opts) : this.opts.retryMs);
    }
  }

  /** When due() or tick() next has something to do. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) {
      const at = e.window ? e.window.endsAt : e.nextAt;
      if (next === undefined || at < next) next = at;
    }
    if (next !== undefined && this.tokens < 1 && this.tokensAt !== undefined)
      next = Math.max(next, this.tokensAt + 1000 / this.opts.maxPerSecond);
    return next;
  }

  /** The result of `ip` (of `service`'s entry when given, else the first Service's). */
  result(ip: string, service?: string): VipResult | undefined {
    const e = this.entriesOf(ip).find((x) => service === undefined || x.target.service === service);
    return e ? resultOf(e) : undefined;
  }

  /** The results of one Service's VIPs (undefined when none is probed). */
  resultsOf(service: string): VipResult[] | undefined {
    const keys = this.byServiceIndex.get(service);
    if (!keys || keys.size === 0) return undefined;
    return [...keys].flatMap((k) => {
      const e = this.entries.get(k);
      return e ? [resultOf(e)] : [];
    });
  }

  /** Every VIP's result, grouped by Service. */
  byService(): Map<string, VipResult[]> {
    const out = new Map<string, VipResult[]>();
    for (const e of this.entries.values())
      out.set(e.target.service, [...(out.get(e.target.service) ?? []), resultOf(e)]);
    return out;
  }

  /** How many VIPs are in each state, and how many have a conflict. */
  counts(): { states: Record<VerifyState, number>; conflicts: number } {
    const states: Record<VerifyState, number> = { Pending: 0, Answering: 0, NotAnswering: 0, WrongMAC: 0 };
    let conflicts = 0;
    for (const e of this.entries.values()) {
      states[e.state]++;
      if (e.foreign.length > 0) conflicts++;
    }
    return { states, conflicts };
  }

  takeChanged(): Set<string> {
    const c = this.changed;
    this.changed = new Set();
    return c;
  }

  get size(): number {
    return this.entries.size;
  }
}
