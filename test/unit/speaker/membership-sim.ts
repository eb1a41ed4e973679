// A simulated LAN for the membership core: N members, a fake clock, loss, latency and partitions.
// Messages go through the real wire codec (HMAC) so a node with the wrong key is really rejected.
import { Membership } from '../../../speaker/membership/core.js';
import {
  seededRandom,
  type Change,
  type MembershipOptions,
  type Message,
  type Random,
} from '../../../speaker/membership/messages.js';
import { decodeDatagram, encodeDatagram } from '../../../speaker/membership/wire.js';

interface InFlight {
  at: number;
  from: string;
  to: string;
  bytes: Buffer;
}

export interface SimOptions {
  nodes: string[];
  loss?: number;
  seed?: number;
  latencyMs?: [number, number];
  stepMs?: number;
  opts?: Partial<MembershipOptions>;
  keys?: Record<string, Buffer>;
}

export class Sim {
  now = 1_000_000;
  readonly members = new Map<string, Membership>();
  readonly down = new Set<string>();
  /** Pairs that cannot talk ("a|b", both directions). */
  readonly cut = new Set<string>();
  /** One-way cuts ("from>to"), as a firewall rule on one side drops them. */
  readonly blocked = new Set<string>();
  readonly log: { at: number; observer: string; change: Change }[] = [];
  readonly rejected: Record<string, number> = {};
  sent = 0;
  private flight: InFlight[] = [];
  private counter = 0;
  private readonly rnd: Random;
  loss: number;
  private readonly key = Buffer.from('0123456789abcdef0123456789abcdef');

  constructor(private readonly o: SimOptions) {
    this.rnd = seededRandom(o.seed ?? 1);
    this.loss = o.loss ?? 0;
    o.nodes.forEach((n, i) => {
      const m = new Membership(n, this.now, o.opts, seededRandom((o.seed ?? 1) * 1000 + i));
      m.setPeers(o.nodes, this.now);
      this.members.set(n, m);
    });
  }

  keyOf(n: string): Buffer {
    return this.o.keys?.[n] ?? this.key;
  }

  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) for (const y of b) this.cut.add([x, y].sort().join('|'));
  }

  heal(): void {
    this.cut.clear();
  }

  /** Drops what `from` sends to `to` (one direction) until unblock. */
  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(`${from}>${to}`);
  }

  private deliverable(from: string, to: string): boolean {
    return (
      !this.down.has(from) &&
      !this.down.has(to) &&
      !this.cut.has([from, to].sort().join('|')) &&
      !this.blocked.has(`${from}>${to}`)
    );
  }

  private emit(from: string, out: { to: string; msg: Message }[]): void {
    const [lo, hi] = this.o.latencyMs ?? [0.1, 2];
    for (const { to, msg } of out) {
      this.sent++;
      if (this.rnd() < this.loss) continue;
      this.flight.push({
        at: this.now + lo + this.rnd() * (hi - lo),
        from,
        to,
        bytes: encodeDatagram({ e: { from, to, tb: 0, b: 1, c: ++this.counter }, m: msg }, this.keyOf(from)),
      });
    }
  }

  /** Advances the clock by `ms`, ticking every member and delivering messages. */
  run(ms: number): void {
    const end = this.now + ms;
    const step = this.o.stepMs ?? 5;
    while (this.now < end) {
      this.now += step;
      const due = this.flight.filter((f) => f.at <= this.now).sort((a, b) => a.at - b.at);
      this.flight = this.flight.filter((f) => f.at > this.now);
      for (const f of due) {
        if (!this.deliverable(f.from, f.to)) continue;
        const m = this.members.get(f.to);
        if (!m) continue;
        const d = decodeDatagram(f.bytes, this.keyOf(f.to));
        if (!d.ok) {
          this.rejected[d.reason] = (this.rejected[d.reason] ?? 0) + 1;
          continue;
        }
        if (!('m' in d.d)) continue;
        const s = m.onMessage(d.d.m, this.now);
        for (const c of s.changes) this.log.push({ at: this.now, observer: f.to, change: c });
        this.emit(f.to, s.send);
      }
      for (const [name, m] of this.members) {
        if (this.down.has(name)) continue;
        const s = m.onTick(this.now);
        for (const c of s.changes) this.log.push({ at: this.now, observer: name, change: c });
        this.emit(name, s.send);
      }
    }
  }

  /** SIGKILL: the node stops sending and receiving. */
  kill(n: string): void {
    this.down.add(n);
  }

  /** The node restarts with a fresh state (new incarnation). */
  restart(n: string): void {
    this.down.delete(n);
    const m = new Membership(n, this.now, this.o.opts, seededRandom(this.now));
    m.setPeers(this.o.nodes, this.now);
    this.members.set(n, m);
  }

  /** The live set as `observer` sees it. */
  live(observer: string): string[] {
    return [...(this.members.get(observer) as Membership).liveNodes()].sort();
  }

  /** First time `observer` declared `node` dead at or after `since`. */
  deadAt(observer: string, node: string, since: number): number | undefined {
    return this.log.find(
      (l) => l.at >= since && l.observer === observer && l.change.node === node && l.change.to === 'dead',
    )?.at;
  }
}
