// The BGP controller's peers reach the sessions only when setPeers succeeded: a failure is retried with
// backoff (fake clock) and the routes keep flowing meanwhile; calls never overlap.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PeerApplier, type PeerSessions, type RoutesPerPeer } from '../../../../speaker/bgp/peer-applier.js';
import type { PeerSpec } from '../../../../speaker/bgp/speaker.js';
import type { Log } from '../../../../speaker/bgp/types.js';
import { FakeClock } from '../../../support/fake-clock.js';

/** Sessions whose setPeers the test answers; every call is recorded, and can be awaited. */
class FakeSessions implements PeerSessions {
  readonly calls: string[] = [];
  private answer: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private last: Promise<void> = Promise.resolve();
  private waiters: { n: number; resolve: () => void }[] = [];
  setPeers(specs: readonly PeerSpec[]): Promise<void> {
    assert.equal(this.answer, undefined, 'setPeers is never called while one is running');
    this.record(`setPeers ${specs.map((s) => s.name).join(',')}`);
    this.last = new Promise((resolve, reject) => (this.answer = { resolve, reject }));
    return this.last;
  }
  /** Settles after whoever was given the last setPeers promise has handled its outcome. */
  handled(): Promise<void> {
    return this.last.then(
      () => undefined,
      () => undefined,
    );
  }
  update(routes: RoutesPerPeer): void {
    this.record(`update ${[...routes.keys()].join(',')}`);
  }
  succeed(): void {
    const a = this.answer;
    this.answer = undefined;
    a?.resolve();
  }
  fail(err: Error): void {
    const a = this.answer;
    this.answer = undefined;
    a?.reject(err);
  }
  /** Resolves once `n` calls were made in all. */
  until(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  private record(call: string): void {
    this.calls.push(call);
    for (const w of this.waiters.filter((x) => this.calls.length >= x.n)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}

function recordingLog(): Log & { lines: { msg: string; fields: Record<string, unknown> }[] } {
  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  const add = (fields: Record<string, unknown>, msg: string): void => {
    lines.push({ msg, fields });
  };
  return { lines, debug: add, info: add, warn: add, error: add };
}

const peer = (name: string): PeerSpec => ({
  name,
  peerAddress: '192.0.2.1',
  peerPort: 179,
  myASN: 64513,
  peerASN: 64512,
  holdTimeMs: 90_000,
  keepaliveTimeMs: 30_000,
  ebgpMultiHop: false,
  gracefulRestart: false,
  dualStack: false,
});
const routes = (...peers: string[]): RoutesPerPeer => new Map(peers.map((p) => [p, []]));

describe('PeerApplier', () => {
  it('peers whose setPeers failed are not applied, are tried again after the backoff, and routes keep flowing', async () => {
    const sessions = new FakeSessions();
    const clock = new FakeClock();
    const log = recordingLog();
    const a = new PeerApplier({ sessions, clock, log, retry: { initialMs: 1000, maxMs: 8000 } });

    a.apply('A', [peer('tor')], routes('tor'));
    assert.deepEqual(sessions.calls, ['setPeers tor']);
    sessions.fail(new Error('cannot create the session'));
    await sessions.until(2);
    assert.deepEqual(sessions.calls, ['setPeers tor', 'update tor'], 'the routes go to what exists');
    assert.equal(a.applied, undefined, 'not recorded as applied');
    const err = log.lines.find((l) => l.msg === 'BGP peers not applied; trying again');
    assert.equal(err?.fields.err, 'cannot create the session');
    assert.equal(err?.fields.retryInMs, 1000);

    // Another pass with the same peers hands its routes, and does not retry before the backoff.
    a.apply('A', [peer('tor')], routes('tor', 'spine'));
    assert.deepEqual(sessions.calls.slice(2), ['update tor,spine']);
    clock.advance(999);
    assert.equal(sessions.calls.length, 3);
    clock.advance(1);
    assert.deepEqual(sessions.calls.slice(3), ['setPeers tor']);

    sessions.succeed();
    await sessions.until(5);
    assert.deepEqual(sessions.calls.slice(4), ['update tor,spine'], 'then the latest routes');
    assert.equal(a.applied, 'A');
    assert.ok(log.lines.some((l) => l.msg === 'BGP peers applied' && l.fields.attempts === 2));
  });

  it('one setPeers at a time; the newest peers win; changed peers are tried at once, not after the backoff', async () => {
    const sessions = new FakeSessions();
    const clock = new FakeClock();
    const a = new PeerApplier({
      sessions,
      clock,
      log: recordingLog(),
      retry: { initialMs: 1000, maxMs: 8000 },
    });

    a.apply('A', [peer('a')], routes('a'));
    a.apply('B', [peer('b')], routes('b'));
    a.apply('C', [peer('c')], routes('c'));
    assert.deepEqual(sessions.calls, ['setPeers a'], 'waits for the running call');
    sessions.succeed();
    await sessions.until(2);
    assert.deepEqual(sessions.calls.slice(1), ['setPeers c'], 'the newest peers next, B is skipped');

    sessions.fail(new Error('refused'));
    await sessions.until(3);
    assert.equal(a.applied, 'A');
    a.apply('D', [peer('d')], routes('d'));
    assert.deepEqual(sessions.calls.slice(2), ['update c', 'setPeers d'], 'D does not wait for C backoff');
    sessions.succeed();
    await sessions.until(5);
    assert.equal(a.applied, 'D');
    clock.advance(60_000);
    assert.equal(sessions.calls.length, 5, 'the retry of C was dropped');
  });

  it('after stop, nothing more reaches the sessions', async () => {
    const sessions = new FakeSessions();
    const clock = new FakeClock();
    const a = new PeerApplier({ sessions, clock, log: recordingLog() });
    a.apply('A', [peer('a')], routes('a'));
    a.stop();
    const handled = sessions.handled();
    sessions.fail(new Error('refused'));
    await handled; // the applier has had the failure
    a.apply('B', [peer('b')], routes('b'));
    clock.advance(60_000);
    assert.deepEqual(sessions.calls, ['setPeers a']);
  });
});
