// SWIM-style failure detection among speakers (pure core: plain data in, messages and membership
// changes out; the caller passes the clock and a random source, the I/O layer moves the bytes).
//
//  - Every `probeIntervalMs` probe the next member of a shuffled round-robin: `ping`; no `ack` after
//    `probeTimeoutMs` -> `ping-req` through `indirectChecks` other members; still nothing after
//    `indirectTimeoutMs` more -> the member is suspect.
//  - Suspect members are pinged by everyone every interval; a direct (authenticated) message from a
//    member is proof it is alive, whatever state we held: suspect or dead -> alive at once. After
//    `suspicionMs` without proof, suspect -> dead.
//  - Membership news ({node, state, incarnation}) piggybacks on every message, each item a bounded
//    number of times. A member told it is suspect/dead refutes by raising its incarnation. Messages
//    carry the sender's view of the recipient so a wrongly-declared member learns it at once; a member
//    revived by direct proof keeps being shown the state we had declared until it has refuted, so its
//    higher incarnation spreads and outranks the old rumours everywhere.
//  - A rumour that a member is dead at the incarnation we hold, while we heard from it directly less
//    than `suspicionMs` ago, is older than our evidence (stale gossip, e.g. queued on a node cut off
//    until now) or comes from a node that cannot reach it while we can: either way it only makes the
//    member suspect (still live) and the member's answer clears it. A member that really died has been
//    silent for at least `suspicionMs` by the time anyone declares it dead, so that is not delayed.
//  - Dead members are pinged every `reconnectMs` (on the tick, not only on probe rounds), by both
//    sides of a partition, so a healed partition converges within about `reconnectMs` + one round trip.
//  - Each member's health-check results (the Services whose healthCheckNodePort answers healthy on
//    that node) travel with a version `hv`; a member whose view of our version is old gets a `health`
//    message.

import {
  DEFAULT_MEMBERSHIP,
  type Change,
  type MemberState,
  type MembershipOptions,
  type Message,
  type Outgoing,
  type Random,
  type Step,
  type Update,
  type View,
} from './messages.js';

interface Member {
  name: string;
  state: MemberState;
  inc: number;
  stateSince: number;
  lastHeard: number;
  lastReconnect: number;
  hv: number;
  healthy: ReadonlySet<string>;
  /** The suspect/dead state we had declared when direct proof revived it at that same incarnation;
   * shown to it in our views until it refutes (raises its incarnation above `i`). */
  declared: { s: MemberState; i: number } | undefined;
}

interface PendingProbe {
  target: string;
  seq: number;
  sentAt: number;
  indirectSent: boolean;
}

interface Relay {
  origin: string;
  originSeq: number;
  target: string;
  expires: number;
}

export class Membership {
  readonly opts: MembershipOptions;
  private readonly members = new Map<string, Member>();
  private inc: number;
  private hv: number;
  private healthy: ReadonlySet<string> = new Set();
  private seq = 0;
  private nextProbeAt = 0;
  private order: string[] = [];
  private probes = new Map<number, PendingProbe>();
  private relays = new Map<number, Relay>();
  private queue: { u: Update; left: number }[] = [];
  /** Counters for metrics. */
  readonly stats = { probes: 0, indirectProbes: 0, suspected: 0, declaredDead: 0, refuted: 0 };

  constructor(
    readonly self: string,
    now: number,
    opts: Partial<MembershipOptions> = {},
    private readonly random: Random = Math.random,
  ) {
    this.opts = { ...DEFAULT_MEMBERSHIP, ...opts };
    // Incarnations start at the clock so a restarted speaker outranks what others remember of it.
    this.inc = Math.floor(now);
    this.hv = Math.floor(now);
    this.nextProbeAt = now;
  }

  get incarnation(): number {
    return this.inc;
  }

  /** Members by state (self excluded). */
  memberStates(): Map<string, MemberState> {
    return new Map([...this.members.values()].map((m) => [m.name, m.state]));
  }

  /** Nodes considered live: self, alive and suspect members (as memberlist counts members). */
  liveNodes(): Set<string> {
    const out = new Set([this.self]);
    for (const m of this.members.values()) if (m.state !== 'dead') out.add(m.name);
    return out;
  }

  stateOf(node: string): MemberState | undefined {
    if (node === this.self) return 'alive';
    return this.members.get(node)?.state;
  }

  /** The Services `node` reports healthy (self: our own results). */
  healthOf(node: string): ReadonlySet<string> | undefined {
    if (node === this.self) return this.healthy;
    const m = this.members.get(node);
    return m && m.hv > 0 ? m.healthy : undefined;
  }

  /** Sets the known peers (from the Node objects): new ones start alive and are probed; missing ones are removed. */
  setPeers(names: Iterable<string>, now: number): Change[] {
    const want = new Set([...names].filter((n) => n !== this.self));
    const changes: Change[] = [];
    for (const n of want) {
      if (this.members.has(n)) continue;
      this.members.set(n, {
        name: n,
        state: 'alive',
        inc: 0,
        stateSince: now,
        lastHeard: now,
        lastReconnect: now,
        hv: 0,
        healthy: new Set(),
        declared: undefined,
      });
      changes.push({ node: n, from: 'unknown', to: 'alive' });
    }
    for (const n of [...this.members.keys()]) {
      if (want.has(n)) continue;
      const m = this.members.get(n) as Member;
      this.members.delete(n);
      changes.push({ node: n, from: m.state, to: 'removed' });
    }
    if (changes.length > 0) this.order = [];
    return changes;
  }

  /** Replaces our own health results; peers learn them with the next messages. */
  setHealth(healthy: ReadonlySet<string>): Outgoing[] {
    const same = healthy.size === this.healthy.size && [...healthy].every((k) => this.healthy.has(k));
    if (same) return [];
    this.healthy = new Set(healthy);
    this.hv++;
    return [...this.members.values()]
      .filter((m) => m.state !== 'dead')
      .map((m) => ({ to: m.name, msg: this.healthMsg() }));
  }

  private healthMsg(): Message {
    return { t: 'health', from: this.self, inc: this.inc, hv: this.hv, healthy: [...this.healthy].sort() };
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 0x7fffffff;
    return this.seq;
  }

  private viewOf(m: Member): View {
    if (m.declared && m.inc > m.declared.i) m.declared = undefined;
    if (m.declared && m.state === 'alive') return { s: m.declared.s, i: m.declared.i, hv: m.hv };
    return { s: m.state, i: m.inc, hv: m.hv };
  }

  private piggyback(): Update[] {
    const out: Update[] = [];
    const limit = this.opts.retransmitMult * Math.max(1, Math.ceil(Math.log2(this.members.size + 2)));
    for (const q of this.queue) {
      if (out.length >= this.opts.maxPiggyback) break;
      if (q.left > limit) q.left = limit;
      out.push(q.u);
      q.left--;
    }
    this.queue = this.queue.filter((q) => q.left > 0);
    return out;
  }

  private enqueue(u: Update): void {
    this.queue = this.queue.filter((q) => q.u.n !== u.n);
    this.queue.unshift({
      u,
      left: this.opts.retransmitMult * Math.max(1, Math.ceil(Math.log2(this.members.size + 2))),
    });
  }

  private setState(m: Member, state: MemberState, inc: number, now: number, changes: Change[]): void {
    const from = m.state;
    m.inc = inc;
    if (from === state) return;
    m.state = state;
    m.stateSince = now;
    if (state === 'suspect') this.stats.suspected++;
    if (state === 'dead') {
      this.stats.declaredDead++;
      m.lastReconnect = now;
    }
    changes.push({ node: m.name, from, to: state });
    this.enqueue({ n: m.name, s: state, i: inc });
  }

  private refute(claimedInc: number): void {
    this.inc = Math.max(this.inc, claimedInc) + 1;
    this.stats.refuted++;
    this.enqueue({ n: this.self, s: 'alive', i: this.inc });
  }

  /** Applies one piece of gossip (SWIM precedence). */
  private applyUpdate(u: Update, now: number, changes: Change[]): void {
    if (u.n === this.self) {
      if (u.s !== 'alive' && u.i >= this.inc) this.refute(u.i);
      return;
    }
    const m = this.members.get(u.n);
    if (!m) return; // only members we know from the Node objects
    switch (u.s) {
      case 'alive':
        if (u.i > m.inc) {
          this.setState(m, 'alive', u.i, now, changes);
          m.lastHeard = now;
        }
        break;
      case 'suspect':
        if ((m.state === 'alive' && u.i >= m.inc) || (m.state === 'suspect' && u.i > m.inc))
          this.setState(m, 'suspect', u.i, now, changes);
        break;
      case 'dead':
        if (m.state === 'dead' || u.i < m.inc) break;
        if (u.i === m.inc && now - m.lastHeard < this.opts.suspicionMs) {
          // We heard from it more recently than this rumour can be true: suspect (live), let it refute.
          if (m.state === 'alive') this.setState(m, 'suspect', u.i, now, changes);
        } else this.setState(m, 'dead', u.i, now, changes);
        break;
    }
  }

  /** A message straight from `m` proves it is alive now, whatever we had declared. */
  private heardFrom(m: Member, inc: number, now: number, changes: Change[]): void {
    m.lastHeard = now;
    // Revived at the incarnation we declared it at: it has not refuted yet; our views tell it to.
    if (m.state !== 'alive' && inc <= m.inc) m.declared = { s: m.state, i: m.inc };
    if (inc > m.inc || m.state !== 'alive') this.setState(m, 'alive', Math.max(inc, m.inc), now, changes);
  }

  /** Handles one authenticated message. */
  onMessage(msg: Message, now: number): Step {
    const step: Step = { send: [], changes: [], healthChanged: [] };
    const m = this.members.get(msg.from);
    if (!m || msg.from === this.self) return step;
    this.heardFrom(m, msg.inc, now, step.changes);
    if (msg.t !== 'health') for (const u of msg.upd) this.applyUpdate(u, now, step.changes);
    if ((msg.t === 'ping' || msg.t === 'ack') && msg.view) {
      if (msg.view.s !== 'alive' && msg.view.i >= this.inc) this.refute(msg.view.i);
      if (msg.view.hv < this.hv) step.send.push({ to: m.name, msg: this.healthMsg() });
    }
    // When we hold an old version of its health, the view in our reply (hv) makes it send the new one.
    switch (msg.t) {
      case 'ping':
        step.send.push({
          to: m.name,
          msg: {
            t: 'ack',
            from: this.self,
            inc: this.inc,
            hv: this.hv,
            seq: msg.seq,
            view: this.viewOf(m),
            upd: this.piggyback(),
          },
        });
        break;
      case 'ack': {
        const p = this.probes.get(msg.seq);
        if (p && p.target === m.name) this.probes.delete(msg.seq);
        const r = this.relays.get(msg.seq);
        if (r && r.target === m.name) {
          this.relays.delete(msg.seq);
          if (this.members.has(r.origin))
            step.send.push({
              to: r.origin,
              msg: {
                t: 'ind-ack',
                from: this.self,
                inc: this.inc,
                hv: this.hv,
                seq: r.originSeq,
                target: m.name,
                tinc: msg.inc,
                upd: this.piggyback(),
              },
            });
        }
        break;
      }
      case 'ping-req': {
        const target = this.members.get(msg.target);
        if (!target) break;
        const seq = this.nextSeq();
        this.relays.set(seq, {
          origin: m.name,
          originSeq: msg.seq,
          target: target.name,
          expires: now + this.opts.probeTimeoutMs + this.opts.indirectTimeoutMs,
        });
        step.send.push({
          to: target.name,
          msg: {
            t: 'ping',
            from: this.self,
            inc: this.inc,
            hv: this.hv,
            seq,
            view: this.viewOf(target),
            upd: this.piggyback(),
          },
        });
        break;
      }
      case 'ind-ack': {
        const p = this.probes.get(msg.seq);
        const target = this.members.get(msg.target);
        if (p && p.target === msg.target && target) {
          this.probes.delete(msg.seq);
          if (msg.tinc >= target.inc && target.state === 'suspect')
            this.setState(target, 'alive', msg.tinc, now, step.changes);
          target.lastHeard = now;
        }
        break;
      }
      case 'health':
        if (msg.hv > m.hv) {
          m.hv = msg.hv;
          m.healthy = new Set(msg.healthy);
          step.healthChanged.push(m.name);
        }
        break;
    }
    return step;
  }

  private ping(m: Member): Outgoing {
    return {
      to: m.name,
      msg: {
        t: 'ping',
        from: this.self,
        inc: this.inc,
        hv: this.hv,
        seq: this.nextSeq(),
        view: this.viewOf(m),
        upd: this.piggyback(),
      },
    };
  }

  /** Advances timers: probes, indirect probes, suspicion timeouts, reconnects. Call often (every ~10-20 ms). */
  onTick(now: number): Step {
    const step: Step = { send: [], changes: [], healthChanged: [] };
    // Probe deadlines.
    for (const [seq, p] of [...this.probes]) {
      const m = this.members.get(p.target);
      if (!m || m.state === 'dead') {
        this.probes.delete(seq);
        continue;
      }
      if (!p.indirectSent && now >= p.sentAt + this.opts.probeTimeoutMs) {
        p.indirectSent = true;
        const helpers = this.shuffle(
          [...this.members.values()].filter((x) => x.state === 'alive' && x.name !== p.target),
        ).slice(0, this.opts.indirectChecks);
        for (const h of helpers) {
          this.stats.indirectProbes++;
          step.send.push({
            to: h.name,
            msg: {
              t: 'ping-req',
              from: this.self,
              inc: this.inc,
              hv: this.hv,
              seq,
              target: p.target,
              upd: this.piggyback(),
            },
          });
        }
      }
      if (now >= p.sentAt + this.opts.probeTimeoutMs + this.opts.indirectTimeoutMs) {
        this.probes.delete(seq);
        if (m.state === 'alive' && m.lastHeard < p.sentAt)
          this.setState(m, 'suspect', m.inc, now, step.changes);
      }
    }
    for (const [seq, r] of [...this.relays]) if (now >= r.expires) this.relays.delete(seq);
    // Suspicion timeouts.
    for (const m of this.members.values()) {
      if (
        m.state === 'suspect' &&
        now - m.stateSince >= this.opts.suspicionMs &&
        now - m.lastHeard >= this.opts.suspicionMs
      ) {
        this.setState(m, 'dead', m.inc, now, step.changes);
      }
    }
    // Dead members are tried every reconnectMs (partition heal, restarts): on their own schedule, not
    // rounded up to the next probe round.
    for (const m of this.members.values()) {
      if (m.state === 'dead' && now - m.lastReconnect >= this.opts.reconnectMs) {
        m.lastReconnect = now;
        step.send.push(this.ping(m));
      }
    }
    if (now >= this.nextProbeAt) {
      this.nextProbeAt = Math.max(
        this.nextProbeAt + this.opts.probeIntervalMs,
        now - this.opts.probeIntervalMs,
      );
      // One round-robin probe.
      const target = this.nextTarget();
      if (target) {
        const out = this.ping(target);
        this.stats.probes++;
        this.probes.set((out.msg as { seq: number }).seq, {
          target: target.name,
          seq: (out.msg as { seq: number }).seq,
          sentAt: now,
          indirectSent: false,
        });
        step.send.push(out);
      }
      // Every suspect is pinged by everyone: its answer clears the suspicion at once.
      for (const m of this.members.values())
        if (m.state === 'suspect' && m !== target) step.send.push(this.ping(m));
    }
    return step;
  }

  /** The next member to probe (alive or suspect), round-robin over a shuffled order. */
  private nextTarget(): Member | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.order.length > 0) {
        const name = this.order.shift() as string;
        const m = this.members.get(name);
        if (m && m.state !== 'dead') return m;
      }
      this.order = this.shuffle(
        [...this.members.values()].filter((m) => m.state !== 'dead').map((m) => m.name),
      );
    }
    return undefined;
  }

  private shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = a[i] as T;
      a[i] = a[j] as T;
      a[j] = t;
    }
    return a;
  }

  /** When the caller should call onTick next at the latest. */
  nextDeadline(): number {
    let at = this.nextProbeAt;
    for (const m of this.members.values())
      if (m.state === 'dead') at = Math.min(at, m.lastReconnect + this.opts.reconnectMs);
    return at;
  }
}
