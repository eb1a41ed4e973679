// Replay protection of membership datagrams between two real agents on loopback UDP: a datagram
// recorded on the wire and sent again is dropped and counted. Waits are on the agents' events (each
// datagram's verdict, each membership change).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { MembershipAgent } from '../../speaker/membership/agent.js';
import { wallClock } from '../../proto/clock.js';
import { decodeDatagram } from '../../speaker/membership/wire.js';

/**
 * Real agents on loopback UDP, and a relay on the path: member "b" (127.0.0.2) reaches "a" (127.0.0.1)
 * through 127.0.0.3, which records every datagram it forwards, so the test can play them again.
 */
/** Turns a lost event into a failure within a minute (the runner's own limit is ten); no test waits on it. */
const GUARD = { timeout: 60_000 };

describe('membership agents on UDP: recorded datagrams played again', () => {
  const PORT = 20_000 + Math.floor(Math.random() * 20_000);
  const A = '127.0.0.1';
  const B = '127.0.0.2';
  const RELAY = '127.0.0.3';
  const key = randomBytes(32);
  const fast = { probeIntervalMs: 50, probeTimeoutMs: 30, indirectTimeoutMs: 30, suspicionMs: 150 };
  const agent = (self: string, bind: string, now?: () => number): MembershipAgent =>
    new MembershipAgent({
      self,
      port: PORT,
      bindAddress: bind,
      key,
      options: fast,
      ...(now ? { clock: { ...wallClock, now } } : {}),
    });
  /** Awaits `cond`, checked again on every datagram and membership change of the agents. */
  const until = async (agents: MembershipAgent[], cond: () => boolean): Promise<void> => {
    while (!cond()) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          for (const x of agents) {
            x.off('datagram', done);
            x.off('change', done);
          }
          resolve();
        };
        for (const x of agents) {
          x.on('datagram', done);
          x.on('change', done);
        }
      });
    }
  };
  const sendTo = (sock: Socket, addr: string, bytes: Buffer): Promise<void> =>
    new Promise((resolve, reject) => sock.send(bytes, PORT, addr, (err) => (err ? reject(err) : resolve())));
  const stateOf = (x: MembershipAgent, n: string): string | undefined =>
    x.snapshot().members.find(([m]) => m === n)?.[1];

  it(
    'drops and counts replays to a live member, to another member, after the sender died and after the receiver restarted',
    GUARD,
    async () => {
      const relay = createSocket({ type: 'udp4' });
      const recorded: Buffer[] = [];
      const stop: (() => void)[] = [() => relay.close()];
      try {
        await new Promise<void>((r) => relay.bind(PORT, RELAY, r));
        relay.on('message', (m) => {
          recorded.push(m);
          // A datagram the relay cannot forward (closed at the end) is lost, as on a network.
          sendTo(relay, A, m).catch(() => undefined);
        });
        const a = agent('a', A);
        const b = agent('b', B);
        stop.push(
          () => a.stop(),
          () => b.stop(),
        );
        await Promise.all([a.start(), b.start()]);
        a.setPeers(new Map([['b', B]]));
        b.setPeers(new Map([['a', RELAY]]));
        // a hears b through the relay
        await until([a], () => a.counters.received >= 10 && recorded.length >= 10);
        assert.equal(a.counters.replayed, 0);
        assert.equal(b.counters.replayed, 0);

        // 1. to the live receiver it was meant for
        const one = recorded[recorded.length - 1] as Buffer;
        const received = a.counters.received;
        await sendTo(relay, A, one);
        await until([a], () => a.counters.replayed === 1);
        assert.ok(a.counters.received >= received);
        // 2. to another member (b is "to: a"'s sender; send it to b itself)
        await sendTo(relay, B, one);
        await until([b], () => b.counters.replayed === 1);

        // 3. the sender dies; everything it ever sent, played again, does not bring it back
        b.stop();
        await until([a], () => stateOf(a, 'b') === 'dead');
        const dropped = a.counters.replayed;
        for (const m of recorded) await sendTo(relay, A, m);
        await until([a], () => a.counters.replayed === dropped + recorded.length);
        assert.equal(stateOf(a, 'b'), 'dead');

        // 4. the receiver restarts (a new run): what was meant for its old run is refused too; only the
        //    datagrams b sent before it had heard from a (tb 0) are new to it (documented).
        a.stop();
        const a2 = agent('a', A, () => Date.now() + 1000); // a later boot (its clock is the boot)
        stop.push(() => a2.stop());
        await a2.start();
        a2.setPeers(new Map([['b', B]]));
        await until([a2], () => stateOf(a2, 'b') === 'dead');
        const forOldRun = recorded.filter((m) => {
          const d = decodeDatagram(m, key);
          return d.ok && d.d.e.tb !== 0;
        });
        assert.ok(forOldRun.length >= 9);
        for (const m of forOldRun) await sendTo(relay, A, m);
        await until([a2], () => a2.counters.replayed === forOldRun.length);
        assert.equal(stateOf(a2, 'b'), 'dead');
        assert.equal(a2.counters.received, 0);
      } finally {
        for (const f of stop.reverse()) f();
      }
    },
  );

  it(
    'a speaker whose clock went back across a restart is told, runs above its old boot and is heard again',
    GUARD,
    async () => {
      const a = agent('a', A);
      const b1 = agent('b', B);
      const stop: (() => void)[] = [() => a.stop(), () => b1.stop()];
      try {
        await Promise.all([a.start(), b1.start()]);
        a.setPeers(new Map([['b', B]]));
        b1.setPeers(new Map([['a', A]]));
        await until([a], () => a.counters.received >= 5);
        b1.stop();
        await until([a], () => stateOf(a, 'b') === 'dead');
        const b2 = agent('b', B, () => Date.now() - 3_600_000);
        stop.push(() => b2.stop());
        await b2.start();
        b2.setPeers(new Map([['a', A]]));
        await until([a], () => stateOf(a, 'b') === 'alive');
        assert.ok(a.counters.replayed >= 1, 'b2 was refused until it raised its boot');
        assert.ok(b2.counters.received >= 1);
      } finally {
        for (const f of stop.reverse()) f();
      }
    },
  );
});
