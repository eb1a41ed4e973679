// The membership core on real UDP: one socket per address family, a 10 ms tick, HMAC-authenticated
// datagrams that cannot be replayed (wire.ts, replay.ts). Emits 'change' when members change state and
// 'health' when a member's health results change. Packets from outside never throw; bad ones are
// counted.
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import { wallClock, type Clock } from '../../proto/clock.js';
import { Membership } from './core.js';
import { type Change, type MemberState, type MembershipOptions, type Outgoing } from './messages.js';
import { ReplayGuard } from './replay.js';
import { decodeDatagram, encodeDatagram, type Datagram } from './wire.js';

export interface AgentOptions {
  self: string;
  port: number;
  key: Uint8Array;
  /** Address to bind (default all). */
  bindAddress?: string;
  options?: Partial<MembershipOptions>;
  tickMs?: number;
  /** Default wallClock: a run's boot stamp must grow from one run of the process to the next. */
  clock?: Clock;
  onError?: (err: Error) => void;
}

export interface AgentCounters {
  sent: number;
  received: number;
  badKey: number;
  malformed: number;
  /** Authenticated, but played again, from a run that has ended, or meant for another member or run. */
  replayed: number;
  sendErrors: number;
}

/** Every counter at zero. */
export function emptyCounters(): AgentCounters {
  return { sent: 0, received: 0, badKey: 0, malformed: 0, replayed: 0, sendErrors: 0 };
}

/** What became of one datagram received (each is counted in AgentCounters under the same name). */
export type DatagramVerdict = 'received' | 'replayed' | 'badKey' | 'malformed';

export interface AgentEvents {
  change: [changes: Change[]];
  health: [nodes: string[]];
  /** A datagram was received and counted (after the counter moved). For tests and diagnostics. */
  datagram: [verdict: DatagramVerdict];
  /** A new metrics snapshot arrived from the membership thread (threaded.ts; the agent has none). */
  snapshot: [snapshot: MembershipSnapshot];
}

/** Counters and states for metrics. */
export interface MembershipSnapshot {
  counters: AgentCounters;
  stats: { probes: number; indirectProbes: number; suspected: number; declaredDead: number; refuted: number };
  members: [name: string, state: MemberState][];
}

/** What the speaker uses of membership: the agent here, or the same agent on its own thread (threaded.ts). */
export interface MembershipHandle extends EventEmitter<AgentEvents> {
  start(): Promise<void>;
  stop(): void;
  setKey(key: Uint8Array): void;
  setPeers(peers: ReadonlyMap<string, string>): void;
  setHealth(healthy: ReadonlySet<string>): void;
  liveNodes(): Set<string>;
  healthOf(node: string): ReadonlySet<string> | undefined;
  snapshot(): MembershipSnapshot;
}

export class MembershipAgent extends EventEmitter<AgentEvents> implements MembershipHandle {
  readonly core: Membership;
  readonly counters: AgentCounters = emptyCounters();
  private readonly peers = new Map<string, string>();
  private readonly guard = new ReplayGuard();
  /** This run: the clock when it started (raised if a peer has seen a newer one of ours). */
  private boot: number;
  private counter = 0;
  /** When we last told a sender its boot is stale (at most once a second each). */
  private readonly staleNoticeAt = new Map<string, number>();
  private key: Uint8Array;
  private sock4: Socket | undefined;
  private sock6: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: Clock;

  constructor(private readonly opts: AgentOptions) {
    super();
    this.clock = opts.clock ?? wallClock;
    this.key = opts.key;
    this.boot = Math.max(1, Math.floor(this.clock.now()));
    this.core = new Membership(opts.self, this.clock.now(), opts.options);
  }

  async start(): Promise<void> {
    this.sock4 = await this.bind(
      'udp4',
      this.opts.bindAddress && !isIPv6(this.opts.bindAddress) ? this.opts.bindAddress : '0.0.0.0',
    );
    try {
      this.sock6 = await this.bind(
        'udp6',
        this.opts.bindAddress && isIPv6(this.opts.bindAddress) ? this.opts.bindAddress : '::',
      );
    } catch {
      this.sock6 = undefined; // no IPv6 in this namespace
    }
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 10);
  }

  private bind(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type, reuseAddr: true, ...(type === 'udp6' ? { ipv6Only: true } : {}) });
      s.once('error', reject);
      s.on('message', (buf) => this.onDatagram(buf));
      s.bind(this.opts.port, address, () => {
        s.removeListener('error', reject);
        s.on('error', (err) => this.opts.onError?.(err));
        resolve(s);
      });
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of [this.sock4, this.sock6]) {
      try {
        s?.close();
      } catch {
        // closed
      }
    }
    this.sock4 = this.sock6 = undefined;
  }

  /** Replaces the key (Secret rotation). */
  setKey(key: Uint8Array): void {
    this.key = key;
  }

  /** Peers by node name -> address (InternalIP). */
  setPeers(peers: ReadonlyMap<string, string>): void {
    this.peers.clear();
    for (const [n, a] of peers) if (n !== this.opts.self) this.peers.set(n, a);
    const changes = this.core.setPeers(this.peers.keys(), this.clock.now());
    if (changes.length > 0) this.emit('change', changes);
  }

  setHealth(healthy: ReadonlySet<string>): void {
    this.send(this.core.setHealth(healthy));
    this.emit('health', [this.opts.self]);
  }

  liveNodes(): Set<string> {
    return this.core.liveNodes();
  }

  healthOf(node: string): ReadonlySet<string> | undefined {
    return this.core.healthOf(node);
  }

  snapshot(): MembershipSnapshot {
    return {
      counters: { ...this.counters },
      stats: { ...this.core.stats },
      members: [...this.core.memberStates()],
    };
  }

  private tick(): void {
    try {
      const step = this.core.onTick(this.clock.now());
      this.send(step.send);
      if (step.changes.length > 0) this.emit('change', step.changes);
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  private onDatagram(buf: Buffer): void {
    const r = decodeDatagram(buf, this.key);
    if (!r.ok) return this.count(r.reason === 'bad-key' ? 'badKey' : 'malformed');
    const { e } = r.d;
    const self = this.opts.self;
    if (e.to !== self || e.from === self || (e.tb !== 0 && e.tb !== this.boot)) return this.count('replayed');
    const verdict = this.guard.accept(e.from, e.b, e.c);
    if (verdict !== 'accept') {
      if (verdict === 'stale-boot') this.noticeStale(e.from, e.b);
      return this.count('replayed');
    }
    this.count('received');
    const d = r.d;
    if ('stale' in d) {
      // A peer has seen a newer run of ours than this one (our clock went back): run above it.
      if (d.stale >= this.boot) {
        this.boot = d.stale + 1;
        this.counter = 0;
      }
      return;
    }
    try {
      const step = this.core.onMessage(d.m, this.clock.now());
      this.send(step.send);
      if (step.changes.length > 0) this.emit('change', step.changes);
      if (step.healthChanged.length > 0) this.emit('health', step.healthChanged);
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  private count(verdict: DatagramVerdict): void {
    this.counters[verdict]++;
    this.emit('datagram', verdict);
  }

  /** Tells `to` that its boot `staleBoot` is older than one we have seen (rate-limited). */
  private noticeStale(to: string, staleBoot: number): void {
    const newest = this.guard.bootOf(to);
    const now = this.clock.now();
    if (newest === undefined || (this.staleNoticeAt.get(to) ?? -Infinity) > now - 1000) return;
    if (this.staleNoticeAt.size > 4096) this.staleNoticeAt.clear();
    this.staleNoticeAt.set(to, now);
    this.transmit(to, { e: this.envelope(to, staleBoot), stale: newest });
  }

  private envelope(to: string, tb = this.guard.bootOf(to) ?? 0): Datagram['e'] {
    return { from: this.opts.self, to, tb, b: this.boot, c: ++this.counter };
  }

  private send(out: readonly Outgoing[]): void {
    for (const o of out) this.transmit(o.to, { e: this.envelope(o.to), m: o.msg });
  }

  private transmit(to: string, d: Datagram): void {
    const addr = this.peers.get(to);
    if (!addr) return;
    const sock = isIPv6(addr) ? this.sock6 : this.sock4;
    if (!sock) return;
    const bytes = encodeDatagram(d, this.key);
    this.counters.sent++;
    sock.send(bytes, this.opts.port, addr, (err) => {
      if (err) this.counters.sendErrors++;
    });
  }
}
