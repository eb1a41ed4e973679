// Verified announcements and address conflicts for layer 2 (pure: plain data and `now` in, probes due and
// results out; the shell in verifier.ts sends the probes and writes what the results say).
//
// Each VIP announced in layer 2 has one prober: the speaker after the owner in election order (see
// proberOf). The prober asks for the VIP from the wire (ARP who-has / NDP NS from its own address) on
// every ownership change and at least every `periodMs`, and collects the answers for `windowMs`:
//  - an answer from one of the owner's MACs -> Answering;
//  - no answer at all `missesToFail` times in a row -> NotAnswering;
//  - answers, but none from the owner (another speaker's MAC, e.g. a stale owner) -> WrongMAC;
//  - any MAC that is no speaker's (a host on the LAN claims the VIP) -> a conflict (foreign MACs), which
//    also shows in the state (WrongMAC when the owner did not answer).
// Passively, a gratuitous ARP / ARP reply / NA for a watched VIP from a MAC that is no speaker's is a
// conflict at once. A conflict clears when a later probe hears no foreign MAC. While anything is wrong
// the VIP is probed every `retryMs` instead of every `periodMs`, so recovery shows within seconds.
// Probes are rate-limited (`maxPerSecond`), so 10,000 VIPs spread over the period.

export type VerifyState = 'Pending' | 'Answering' | 'NotAnswering' | 'WrongMAC';

export const VERIFY_STATES: readonly VerifyState[] = ['Pending', 'Answering', 'NotAnswering', 'WrongMAC'];

export interface VerifyOptions {
  periodMs: number;
  retryMs: number;
  windowMs: number;
  missesToFail: number;
  maxPerSecond: number;
}

export const DEFAULT_VERIFY: VerifyOptions = {
  periodMs: 30_000,
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

function sameSet(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((x) => b.has(x));
}

export class VerifyCore {
  readonly opts: VerifyOptions;
  private readonly entries = new Map<string, Entry>();
  /** Service key -> its VIPs among the entries. */
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
    for (const t of targets) {
      seen.add(t.ip);
      const e = this.entries.get(t.ip);
      if (!e) {
        this.entries.set(t.ip, {
          target: t,
          state: 'Pending',
          answered: [],
          foreign: [],
          probedAt: undefined,
          misses: 0,
          nextAt: now,
          window: undefined,
        });
        this.changed.add(t.service);
        continue;
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
      if (e.target.service !== t.service) {
        this.changed.add(e.target.service);
        this.changed.add(t.service);
      }
      e.target = t;
    }
    for (const [ip, e] of this.entries)
      if (!seen.has(ip)) {
        this.entries.delete(ip);
        this.changed.add(e.target.service);
      }
    this.byServiceIndex.clear();
    for (const [ip, e] of this.entries) {
      let s = this.byServiceIndex.get(e.target.service);
      if (!s) this.byServiceIndex.set(e.target.service, (s = new Set()));
      s.add(ip);
    }
  }

  /** The VIPs to probe now (each opens a window for its answers), at most the rate limit allows. */
  due(now: number): string[] {
    this.refill(now);
    const out: string[] = [];
    for (const [ip, e] of this.entries) {
      if (this.tokens < 1) break;
      if (e.window || e.nextAt > now) continue;
      this.tokens--;
      e.window = { endsAt: now + this.opts.windowMs, macs: new Set() };
      out.push(ip);
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

  /** An answer to our probe (ARP reply / NA to us) for `ip` from `mac`. */
  answer(ip: string, mac: string): void {
    this.entries.get(ip)?.window?.macs.add(mac);
  }

  /**
   * A claim for `ip` seen on the wire (gratuitous ARP, ARP reply, NA) from `mac`: a conflict at once when
   * `mac` is no speaker's (the VIP is then probed again within `retryMs`); inside an open window it also
   * counts as an answer. true when it is a new conflict.
   */
  sighting(ip: string, mac: string, now: number): boolean {
    const e = this.entries.get(ip);
    if (!e) return false;
    e.window?.macs.add(mac);
    if (this.isSpeakerMac(mac) || e.foreign.includes(mac)) return false;
    e.foreign = [...e.foreign, mac].sort();
    this.changed.add(e.target.service);
    // Probed again soon: whether the stranger still answers (and whether the owner does).
    e.nextAt = Math.min(e.nextAt, now + this.opts.retryMs);
    return true;
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
      e.nextAt = now + (healthy ? this.opts.periodMs : this.opts.retryMs);
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

  result(ip: string): VipResult | undefined {
    const e = this.entries.get(ip);
    if (!e) return undefined;
    return {
      service: e.target.service,
      ip,
      owner: e.target.owner,
      state: e.state,
      answered: e.answered,
      foreign: e.foreign,
      probedAt: e.probedAt,
    };
  }

  /** The results of one Service's VIPs (undefined when none is probed). */
  resultsOf(service: string): VipResult[] | undefined {
    const ips = this.byServiceIndex.get(service);
    if (!ips || ips.size === 0) return undefined;
    return [...ips].flatMap((ip) => {
      const r = this.result(ip);
      return r ? [r] : [];
    });
  }

  /** Every VIP's result, grouped by Service. */
  byService(): Map<string, VipResult[]> {
    const out = new Map<string, VipResult[]>();
    for (const ip of this.entries.keys()) {
      const r = this.result(ip) as VipResult;
      out.set(r.service, [...(out.get(r.service) ?? []), r]);
    }
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
