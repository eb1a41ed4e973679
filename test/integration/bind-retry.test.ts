// Sockets the speaker cannot open at first are opened later: a BFD receive port and the BGP listener
// held by someone else are tried again with backoff, and work once the port is free. Real sockets on
// loopback (the BFD one on its fixed port, 3784).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { BfdRunner } from '../../speaker/bfd/runner.js';
import { BgpSpeaker, type PeerSpec } from '../../speaker/bgp/speaker.js';
import { monotonicClock } from '../../proto/clock.js';
import type { Log } from '../../speaker/bgp/types.js';
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

const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));
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
      clock: monotonicClock,
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

  it('a BGP speaker whose listen port is taken listens once it is free, and takes the peer connection', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', resolve));
    const port = (blocker.address() as AddressInfo).port;
    let blocked = true;
    cleanup.push(() => (blocked ? closeServer(blocker) : undefined));
    // A port nobody listens on, for the session's own dials (refused, and retried meanwhile).
    const spare = createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const refusedPort = (spare.address() as AddressInfo).port;
    await closeServer(spare);

    const log = recordingLog();
    const speaker = new BgpSpeaker({
      nodeName: 'node-1',
      nodeIPv4: '127.0.0.1',
      listenPort: port,
      log,
      retry: { initialMs: 20, maxMs: 200 },
    });
    cleanup.push(() => speaker.shutdown());
    const peer: PeerSpec = {
      name: 'tor',
      peerAddress: '127.0.0.2',
      peerPort: refusedPort,
      myASN: 64513,
      peerASN: 64512,
      holdTimeMs: 90_000,
      keepaliveTimeMs: 30_000,
      ebgpMultiHop: false,
      gracefulRestart: false,
      dualStack: false,
    };
    await speaker.setPeers([peer]);
    const failed = await log.next('cannot listen for BGP connections; dialing only until it can');
    assert.equal(failed.fields.code, 'EADDRINUSE');

    await closeServer(blocker);
    blocked = false;
    await log.next('listening for BGP connections');

    // The peer connects: its session takes the connection and sends our OPEN.
    const sock = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    cleanup.push(() => sock.destroy());
    const first = await new Promise<Buffer>((resolve, reject) => {
      sock.once('data', resolve);
      sock.once('error', reject);
    });
    assert.ok(
      first.subarray(0, 16).every((b) => b === 0xff),
      'a BGP message (marker)',
    );
    assert.equal(first[18], 1, 'an OPEN');
  });
});
