// Sockets the speaker cannot open at first are opened later: a BFD receive port held by someone else
// is tried again with backoff, and works once the port is free. Real sockets on loopback (BFD's fixed
// port, 3784).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { BfdRunner } from '../../speaker/bfd/runner.js';
import { systemClock, type Log } from '../../speaker/bgp/types.js';
import { decodeBfdControl, BFD_SINGLE_HOP_PORT } from '../../proto/bfd.js';

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

/** A Log that keeps its lines and lets a test await one. */
function recordingLog(): Log & { lines: Line[]; next(msg: string): Promise<Line> } {
  const lines: Line[] = [];
  const waiters: { msg: string; resolve: (l: Line) => void }[] = [];
  const add = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    const line = { level, fields, msg };
    lines.push(line);
    for (const w of waiters.filter((x) => x.msg === msg)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  };
  return {
    lines,
    debug: add('debug'),
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    /** The first line with this message, logged already or still to come. */
    next: (msg) => {
      const seen = lines.find((l) => l.msg === msg);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ msg, resolve }));
    },
  };
}

const closeUdp = (s: dgram.Socket): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

describe('sockets that cannot be opened at first are tried again', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('a BFD session whose receive port is taken opens it once the port is free, and sends', async () => {
    // Bound without SO_REUSEADDR: nobody else may bind the port while it is open.
    const blocker = dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve) => blocker.bind(BFD_SINGLE_HOP_PORT, '0.0.0.0', resolve));
    let blocked = true;
    cleanup.push(() => (blocked ? closeUdp(blocker) : undefined));

    const log = recordingLog();
    const runner = new BfdRunner({
      peer: 'tor',
      peerAddress: '127.0.0.2',
      localAddress: '127.0.0.1',
      multihop: false,
      spec: {
        receiveIntervalMs: 300,
        transmitIntervalMs: 300,
        detectMultiplier: 3,
        passiveMode: false,
        minimumTtl: 254,
      },
      log,
      clock: systemClock,
      onDown: () => undefined,
      retry: { initialMs: 20, maxMs: 200 },
    });
    cleanup.push(() => runner.stop());
    await runner.start();
    const failed = await log.next('cannot open BFD sockets; trying again');
    assert.equal(failed.fields.code, 'EADDRINUSE');
    assert.equal(runner.open, false);

    await closeUdp(blocker);
    blocked = false;
    // The peer's end, on its own address (both ends share the port, as BFD peers on one host would).
    const peer = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    cleanup.push(() => closeUdp(peer));
    const received = new Promise<Buffer>((resolve) => peer.once('message', resolve));
    await new Promise<void>((resolve) => peer.bind(BFD_SINGLE_HOP_PORT, '127.0.0.2', resolve));

    await log.next('BFD sockets open');
    assert.equal(runner.open, true);
    const packet = decodeBfdControl(new Uint8Array(await received));
    assert.equal(packet.state, 'Down', 'the session sends its control packets (it starts Down)');
    assert.ok(runner.stats().output >= 1);
  });
});
