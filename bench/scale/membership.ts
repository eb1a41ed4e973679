// N speakers' membership in one process: the real core (speaker/membership/core.ts), the real wire
// codec (BLM2: HMAC-SHA256 + JSON, wire.ts) and the real replay guard (replay.ts), driven as the agent
// drives them (a tick every 10 ms per member, at its own phase), over the in-memory network of sim.ts
// on a simulated clock. Nothing here opens a socket or a timer.
//
// `real` < `nodes` simulates a subset: `real` members run the core with the full peer list of `nodes`
// names; the others are stubs that answer as a live member does (ping -> ack, ping-req -> ping the
// target and relay its ack as ind-ack) and probe round-robin over all names every interval like a
// member (so each real member receives the probes and sends the acks it would among `nodes`), but keep
// no membership state and carry no gossip. Per-node traffic and CPU at steady state are then those of
// a member of `nodes`; failure detection is not (stubs neither suspect nor spread rumours), so the
// subset is used for steady state only.
import { Membership } from '../../speaker/membership/core.js';
import { seededRandom, type Change, type Message, type Outgoing } from '../../speaker/membership/messages.js';
import { ReplayGuard } from '../../speaker/membership/replay.js';
import { decodeDatagram, encodeDatagram, type Datagram } from '../../speaker/membership/wire.js';
import { EventQueue, SimNetwork, type Rand } from './sim.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
/** The agent's tick (agent.ts: tickMs default 10). */
export const TICK_MS = 10;
/** A start clock like a real one (13-digit ms), so incarnations, boots and envelopes have their real size. */
const EPOCH = 1_790_000_000_000;

export function nodeName(i: number): string {
  return `node-${String(i).padStart(5, '0')}`;
}

/** Time spent in the membership core and in the codec (encode + decode + replay check), ms. */
export interface CpuAccount {
  core: number;
  codec: number;
}

class Speaker {
  core: Membership;
  private readonly guard = new ReplayGuard();
  private readonly boot: number;
  private counter = 0;
  stopped = false;

  constructor(
    readonly name: string,
    private readonly net: SimNetwork,
    peers: readonly string[],
    seed: number,
    private readonly cpu: CpuAccount,
    private readonly onChanges: (observer: string, changes: Change[]) => void,
  ) {
    const now = net.clock.now;
    this.boot = Math.floor(now);
    this.core = new Membership(name, now, {}, seededRandom(seed));
    this.core.setPeers(peers, now);
    net.attach(name, (from, bytes) => this.receive(from, bytes));
  }

  start(phase: number): void {
    const tick = (): void => {
      if (this.stopped) return;
      const t0 = performance.now();
      const step = this.core.onTick(this.net.clock.now);
      this.cpu.core += performance.now() - t0;
      if (step.changes.length > 0) this.onChanges(this.name, step.changes);
      this.send(step.send);
      this.net.clock.after(TICK_MS, tick);
    };
    this.net.clock.after(phase, tick);
  }

  private receive(_from: string, bytes: Uint8Array): void {
    if (this.stopped) return;
    const t0 = performance.now();
    const r = decodeDatagram(bytes, KEY);
    let d: Datagram | undefined;
    if (r.ok && r.d.e.to === this.name && (r.d.e.tb === 0 || r.d.e.tb === this.boot)) {
      if (this.guard.accept(r.d.e.from, r.d.e.b, r.d.e.c) === 'accept') d = r.d;
    }
    const t1 = performance.now();
    this.cpu.codec += t1 - t0;
    if (!d || !('m' in d)) return;
    const step = this.core.onMessage(d.m, this.net.clock.now);
    this.cpu.core += performance.now() - t1;
    if (step.changes.length > 0) this.onChanges(this.name, step.changes);
    this.send(step.send);
  }

  private send(out: readonly Outgoing[]): void {
    for (const o of out) {
      const t0 = performance.now();
      const e = {
        from: this.name,
        to: o.to,
        tb: this.guard.bootOf(o.to) ?? 0,
        b: this.boot,
        c: ++this.counter,
      };
      const bytes = encodeDatagram({ e, m: o.msg }, KEY);
      this.cpu.codec += performance.now() - t0;
      this.net.send(this.name, o.to, bytes);
    }
  }
}

/** A member that answers and probes like a live one but keeps no membership state (subset mode). */
class Stub {
  private readonly boot: number;
  private readonly inc: number;
  private counter = 0;
  private seq = 0;
  private readonly relays = new Map<number, { origin: string; originSeq: number }>();
  private order: string[] = [];

  constructor(
    readonly name: string,
    private readonly net: SimNetwork,
    private readonly peers: readonly string[],
    private readonly isReal: (n: string) => boolean,
    private readonly random: Rand,
  ) {
    this.boot = this.inc = Math.floor(net.clock.now);
    net.attach(name, (_from, bytes) => this.receive(bytes));
  }

  /** Probes round-robin over every name, one per interval; only probes of real members are sent. */
  start(phase: number, intervalMs: number): void {
    const probe = (): void => {
      if (this.order.length === 0) {
        this.order = this.peers.filter((p) => p !== this.name);
        for (let i = this.order.length - 1; i > 0; i--) {
          const j = Math.floor(this.random() * (i + 1));
          [this.order[i], this.order[j]] = [this.order[j] as string, this.order[i] as string];
        }
      }
      const target = this.order.pop() as string;
      if (this.isReal(target)) this.ping(target);
      this.net.clock.after(intervalMs, probe);
    };
    this.net.clock.after(phase, probe);
  }

  private msg(to: string, m: Message): void {
    const e = { from: this.name, to, tb: 0, b: this.boot, c: ++this.counter };
    this.net.send(this.name, to, encodeDatagram({ e, m }, KEY));
  }

  private ping(to: string): number {
    const seq = ++this.seq;
    this.msg(to, { t: 'ping', from: this.name, inc: this.inc, hv: this.inc, seq, upd: [] });
    return seq;
  }

  private receive(bytes: Uint8Array): void {
    const r = decodeDatagram(bytes, KEY);
    if (!r.ok || !('m' in r.d)) return;
    const m = r.d.m;
    const base = { from: this.name, inc: this.inc, hv: this.inc };
    switch (m.t) {
      case 'ping':
        this.msg(m.from, {
          t: 'ack',
          ...base,
          seq: m.seq,
          view: { s: 'alive', i: m.inc, hv: m.hv },
          upd: [],
        });
        break;
      case 'ping-req':
        this.relays.set(this.ping(m.target), { origin: m.from, originSeq: m.seq });
        break;
      case 'ack': {
        const relay = this.relays.get(m.seq);
        if (!relay) break;
        this.relays.delete(m.seq);
        this.msg(relay.origin, {
          t: 'ind-ack',
          ...base,
          seq: relay.originSeq,
          target: m.from,
          tinc: m.inc,
          upd: [],
        });
        break;
      }
      default:
        break;
    }
  }
}

export interface MembershipSimOptions {
  nodes: number;
  /** Members running the real core (default: all). */
  real?: number;
  seed?: number;
  warmupMs?: number;
  /** Steady-state window for traffic and CPU, ms. */
  steadyMs?: number;
  /** Kill trials (full simulations only). */
  kills?: number;
  /** Also measure a steady window with this fraction of the nodes down (dead members are re-probed). */
  deadFraction?: number;
  loss?: number;
  /**
   * 'primed' (default): before the run every member has heard from every other at its incarnation and
   * holds its health version, as after the first full probe cycle (N x 100 ms) of a long-running
   * cluster. 'cold': members know only the names, as right after every speaker started.
   */
  start?: 'primed' | 'cold';
  /** A kill trial ends after this long even if some member has not declared the victim dead (default 5 s). */
  killLimitMs?: number;
}

export interface SteadyFigures {
  /** Datagrams and bytes sent per second per real member (mean). */
  datagramsPerS: number;
  bytesPerS: number;
  meanDatagramBytes: number;
  /** CPU in the core and the codec per simulated second per real member, ms. */
  coreMsPerS: number;
  codecMsPerS: number;
}

export interface KillTrial {
  /** kill -> first member declares the victim dead, ms */
  firstDead: number;
  /** kill -> the median live member has declared it dead, ms */
  medianDead: number;
  /** kill -> every live member has declared it dead, ms (Infinity if not within the trial) */
  allDead: number;
  /** kill -> first member suspects it, ms */
  firstSuspect: number;
  /** Live members that had not declared it dead when the trial ended. */
  undeclared: number;
}

export interface MembershipSimResult {
  nodes: number;
  real: number;
  steady: SteadyFigures;
  withDead?: SteadyFigures & { deadNodes: number };
  kills: KillTrial[];
  /** Heap bytes per member-table entry (one member's view of one peer), from this process. */
  heapPerEntry: number | undefined;
  wallMs: number;
}

export function simulateMembership(o: MembershipSimOptions): MembershipSimResult {
  const wall0 = performance.now();
  const n = o.nodes;
  const realCount = Math.min(n, o.real ?? n);
  const seed = o.seed ?? 1;
  const random = seededRandom(seed);
  const clock = new EventQueue(EPOCH);
  const net = new SimNetwork(clock, { random, loss: o.loss ?? 0 });
  const names = Array.from({ length: n }, (_, i) => nodeName(i));
  // real members are spread over the names (every k-th), so the subset is not one end of the order
  const stride = n / realCount;
  const realNames = Array.from({ length: realCount }, (_, i) => names[Math.floor(i * stride)] as string);
  const realSet = new Set(realNames);
  const cpu: CpuAccount = { core: 0, codec: 0 };
  const dead = new Map<string, Map<string, number>>(); // victim -> observer -> first dead at
  const suspected = new Map<string, number>(); // victim -> first suspect at
  const onChanges = (observer: string, changes: Change[]): void => {
    for (const c of changes) {
      if (c.to === 'dead') {
        const m = dead.get(c.node);
        if (m && !m.has(observer)) m.set(observer, clock.now);
      } else if (c.to === 'suspect' && dead.has(c.node) && !suspected.has(c.node))
        suspected.set(c.node, clock.now);
    }
  };
  const heapBefore = process.memoryUsage().heapUsed;
  const speakers = new Map<string, Speaker>();
  realNames.forEach((name, i) => {
    const s = new Speaker(name, net, names, seed * 100_003 + i, cpu, onChanges);
    speakers.set(name, s);
    s.start(random() * TICK_MS);
  });
  const heapAfter = process.memoryUsage().heapUsed;
  if ((o.start ?? 'primed') === 'primed') {
    // A 'health' message from each peer: proof of life at its incarnation, and its health version.
    const inc = Math.floor(clock.now);
    for (const s of speakers.values())
      for (const peer of names)
        if (peer !== s.name)
          s.core.onMessage({ t: 'health', from: peer, inc, hv: inc, healthy: [] }, clock.now);
  }
  const heapPerEntry = realCount > 0 && n > 1 ? (heapAfter - heapBefore) / (realCount * (n - 1)) : undefined;
  let stubs = 0;
  if (realCount < n) {
    for (const name of names) {
      if (realSet.has(name)) continue;
      new Stub(name, net, names, (x) => realSet.has(x), seededRandom(seed * 1_000_003 + stubs++)).start(
        random() * 100,
        100,
      );
    }
  }

  const steadyWindow = (ms: number): SteadyFigures => {
    net.resetCounts();
    cpu.core = cpu.codec = 0;
    clock.runUntil(clock.now + ms);
    let datagrams = 0;
    let bytes = 0;
    let counted = 0;
    for (const name of realNames) {
      if (net.down.has(name)) continue;
      const c = net.sentBy(name);
      datagrams += c.datagrams;
      bytes += c.bytes;
      counted++;
    }
    const perS = 1000 / ms / Math.max(1, counted);
    return {
      datagramsPerS: datagrams * perS,
      bytesPerS: bytes * perS,
      meanDatagramBytes: datagrams > 0 ? bytes / datagrams : 0,
      coreMsPerS: cpu.core * perS,
      codecMsPerS: cpu.codec * perS,
    };
  };

  clock.runUntil(clock.now + (o.warmupMs ?? 1000));
  const steady = steadyWindow(o.steadyMs ?? 1000);

  const kills: KillTrial[] = [];
  if (realCount === n) {
    for (let k = 0; k < (o.kills ?? 0); k++) {
      const victim = realNames[Math.floor(random() * realNames.length)] as string;
      const t0 = clock.now;
      const observers = realNames.filter((x) => x !== victim && !net.down.has(x));
      dead.set(victim, new Map());
      const s = speakers.get(victim) as Speaker;
      s.stopped = true;
      net.down.add(victim);
      const limit = t0 + (o.killLimitMs ?? 5000);
      const seen = dead.get(victim) as Map<string, number>;
      while (clock.now < limit && seen.size < observers.length) clock.runUntil(clock.now + 50);
      const times = observers.map((x) => (seen.get(x) ?? Infinity) - t0).sort((a, b) => a - b);
      kills.push({
        firstDead: times[0] ?? Infinity,
        medianDead: times[Math.floor(times.length / 2)] ?? Infinity,
        allDead: times[times.length - 1] ?? Infinity,
        firstSuspect: (suspected.get(victim) ?? Infinity) - t0,
        undeclared: observers.length - seen.size,
      });
      dead.delete(victim);
      suspected.delete(victim);
      // the victim restarts (a new run: higher incarnation and boot) and everyone settles again
      net.down.delete(victim);
      const again = new Speaker(victim, net, names, seed * 7 + k, cpu, onChanges);
      speakers.set(victim, again);
      again.start(random() * TICK_MS);
      clock.runUntil(clock.now + 1500);
    }
  }

  let withDead: MembershipSimResult['withDead'];
  if (o.deadFraction) {
    const count = Math.max(1, Math.round(n * o.deadFraction));
    // the dead are taken among the stubs when there are stubs (their probes are not the measured ones)
    const pool = realCount < n ? names.filter((x) => !realSet.has(x)) : realNames.slice(1);
    const victims = pool.slice(0, count);
    for (const v of victims) {
      net.down.add(v);
      const s = speakers.get(v);
      if (s) s.stopped = true;
    }
    if (realCount < n) {
      // Stubs spread no rumours: each real member is told of the deaths by a live stub, as gossip would.
      const teller = names.find((x) => !realSet.has(x) && !net.down.has(x)) as string;
      const inc = EPOCH;
      const upd = victims.map((v) => ({ n: v, s: 'dead' as const, i: inc }));
      for (const s of speakers.values())
        for (let i = 0; i < upd.length; i += 200)
          s.core.onMessage(
            { t: 'ping', from: teller, inc, hv: inc, seq: 1, upd: upd.slice(i, i + 200) },
            clock.now,
          );
    }
    clock.runUntil(clock.now + 2000); // suspect -> dead everywhere
    withDead = { ...steadyWindow(o.steadyMs ?? 1000), deadNodes: victims.length };
  }

  return {
    nodes: n,
    real: realCount,
    steady,
    withDead,
    kills,
    heapPerEntry,
    wallMs: performance.now() - wall0,
  };
}
