// Replay protection for membership datagrams (pure: plain numbers in, a verdict out).
//
// Every datagram names its sender's run ("boot": the sender's clock in ms when it started, so a restarted
// speaker's boot is higher, the same assumption the incarnations make) and a counter that rises with
// every datagram that run sends. Per sender we keep the newest boot seen, the highest counter and a
// window of the counters just below it that have arrived, as IPsec's anti-replay window does (RFC 4303
// §3.4.3): a counter seen before, below the window, or from an older boot is a replay (or a datagram
// from a run that has ended) and is refused. The datagram is authenticated before it gets here, so
// only holders of the key reach this state; it is bounded anyway (`maxSenders`, least recently used
// out).

export type ReplayVerdict = 'accept' | 'replayed' | 'stale-boot';

interface SenderWindow {
  boot: number;
  max: number;
  /** bit i set: counter `max - i` has arrived (bit 0 is `max` itself) */
  seen: bigint;
}

export class ReplayGuard {
  private readonly senders = new Map<string, SenderWindow>();
  private readonly mask: bigint;

  constructor(
    private readonly window = 64,
    private readonly maxSenders = 4096,
  ) {
    this.mask = (1n << BigInt(window)) - 1n;
  }

  /** Checks one datagram of `sender` (boot, counter) and, when it is accepted, records it. */
  accept(sender: string, boot: number, counter: number): ReplayVerdict {
    const w = this.senders.get(sender);
    if (!w || boot > w.boot) {
      this.remember(sender, { boot, max: counter, seen: 1n });
      return 'accept';
    }
    if (boot < w.boot) return 'stale-boot';
    if (counter > w.max) {
      const shift = counter - w.max;
      w.seen = shift >= this.window ? 1n : ((w.seen << BigInt(shift)) | 1n) & this.mask;
      w.max = counter;
      this.remember(sender, w);
      return 'accept';
    }
    const age = w.max - counter;
    if (age >= this.window) return 'replayed';
    const bit = 1n << BigInt(age);
    if ((w.seen & bit) !== 0n) return 'replayed';
    w.seen |= bit;
    return 'accept';
  }

  /** The newest boot seen of `sender`, if any. */
  bootOf(sender: string): number | undefined {
    return this.senders.get(sender)?.boot;
  }

  /** Number of senders remembered. */
  get size(): number {
    return this.senders.size;
  }

  private remember(sender: string, w: SenderWindow): void {
    this.senders.delete(sender);
    this.senders.set(sender, w);
    if (this.senders.size > this.maxSenders) {
      const oldest = this.senders.keys().next().value;
      if (oldest !== undefined) this.senders.delete(oldest);
    }
  }
}
