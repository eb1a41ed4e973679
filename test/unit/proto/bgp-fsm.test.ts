// RFC 4271 §8.2.2 transitions of the pure FSM, driven with a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BgpMessageError,
  INITIAL_FSM_STATE,
  applyTimerActions,
  collisionApplies,
  dueTimer,
  errorEvent,
  fsmStep,
  makeOpen,
  nextDeadline,
  notificationEvent,
  resolveCollision,
  type BgpAction,
  type BgpEvent,
  type BgpState,
  type FsmConfig,
  type FsmState,
  type TimerDeadlines,
} from '../../../proto/bgp/index.js';

const CFG: FsmConfig = { localAsn: 65000, localBgpId: '10.0.0.1', peerAsn: 65001, holdTime: 90 };
const peerOpen = (holdTime = 90, asn = 65001) =>
  makeOpen({ asn, bgpId: '10.0.0.2', holdTime, capabilities: [] });

/** Runs the FSM against a fake clock: timer actions become deadlines, due deadlines become events. */
class Harness {
  st: FsmState;
  deadlines: TimerDeadlines = {};
  now = 0;
  log: BgpAction[] = [];
  constructor(
    readonly cfg: FsmConfig = CFG,
    state: BgpState = 'Idle',
  ) {
    this.st = { ...INITIAL_FSM_STATE, state };
  }
  event(e: BgpEvent): BgpAction[] {
    const r = fsmStep(this.cfg, this.st, e);
    this.st = r.state;
    this.deadlines = applyTimerActions(this.deadlines, r.actions, this.now);
    this.log.push(...r.actions);
    return [...r.actions];
  }
  /** Advance the clock, firing timers in deadline order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = nextDeadline(this.deadlines);
      if (next === undefined || next > end) break;
      this.now = next;
      const due = dueTimer(this.deadlines, this.now)!;
      this.deadlines = due.deadlines;
      this.event(due.event);
    }
    this.now = end;
  }
  get state(): BgpState {
    return this.st.state;
  }
  sent(type: BgpAction['type']): BgpAction[] {
    return this.log.filter((a) => a.type === type);
  }
  /** Connect -> OpenSent -> OpenConfirm -> Established with the peer proposing `holdTime`. */
  establish(holdTime = 90): void {
    this.event({ type: 'ManualStart' });
    this.event({ type: 'TcpConnectionConfirmed' });
    this.event({ type: 'BGPOpen', open: peerOpen(holdTime) });
    this.event({ type: 'KeepAliveMsg' });
    assert.equal(this.state, 'Established');
  }
}

const notif = (actions: readonly BgpAction[]): string | undefined => {
  const n = actions.find((a) => a.type === 'send-notification');
  return n && n.type === 'send-notification' ? `${n.code}/${n.subcode}` : undefined;
};
const has = (actions: readonly BgpAction[], t: BgpAction['type']): boolean =>
  actions.some((a) => a.type === t);

describe('BGP FSM: Idle', () => {
  it('ManualStart: ConnectRetryTimer (120 s), connect, listen -> Connect', () => {
    const h = new Harness();
    const a = h.event({ type: 'ManualStart' });
    assert.equal(h.state, 'Connect');
    assert.deepEqual(a, [
      { type: 'start-timer', timer: 'ConnectRetry', ms: 120_000 },
      { type: 'connect' },
      { type: 'listen' },
    ]);
  });
  it('passive start: listen only -> Active', () => {
    const h = new Harness();
    const a = h.event({ type: 'ManualStart_with_PassiveTcpEstablishment' });
    assert.equal(h.state, 'Active');
    assert.ok(!has(a, 'connect'));
    const p = new Harness({ ...CFG, passive: true });
    p.event({ type: 'AutomaticStart' });
    assert.equal(p.state, 'Active');
  });
  it('ignores every other event', () => {
    for (const e of [
      { type: 'ManualStop' },
      { type: 'HoldTimer_Expires' },
      { type: 'KeepAliveMsg' },
      { type: 'TcpConnectionConfirmed' },
      { type: 'UpdateMsg' },
    ] as BgpEvent[]) {
      const h = new Harness();
      assert.deepEqual(h.event(e), []);
      assert.equal(h.state, 'Idle');
    }
  });
});

describe('BGP FSM: Connect and Active', () => {
  it('Connect: ConnectRetryTimer expiry drops, restarts the timer, dials again (fake clock)', () => {
    const h = new Harness();
    h.event({ type: 'ManualStart' });
    h.advance(120_000);
    assert.equal(h.state, 'Connect');
    assert.equal(h.sent('connect').length, 2);
    h.advance(240_000);
    assert.equal(h.sent('connect').length, 4);
  });
  it('Connect: TCP up -> OpenSent, OPEN sent, hold timer 4 minutes, ConnectRetry stopped', () => {
    for (const e of ['TcpConnectionConfirmed', 'Tcp_CR_Acked'] as const) {
      const h = new Harness();
      h.event({ type: 'ManualStart' });
      const a = h.event({ type: e });
      assert.equal(h.state, 'OpenSent');
      assert.deepEqual(a, [
        { type: 'stop-timer', timer: 'ConnectRetry' },
        { type: 'send-open' },
        { type: 'start-timer', timer: 'Hold', ms: 240_000 },
      ]);
    }
  });
  it('Connect: TcpConnectionFails -> Idle, counter unchanged; ManualStop -> counter 0; other events -> counter + 1', () => {
    const h = new Harness(CFG, 'Connect');
    h.st = { ...h.st, connectRetryCounter: 3 };
    h.event({ type: 'TcpConnectionFails' });
    assert.deepEqual([h.state, h.st.connectRetryCounter], ['Idle', 3]);
    const s = new Harness(CFG, 'Connect');
    s.st = { ...s.st, connectRetryCounter: 3 };
    const a = s.event({ type: 'ManualStop' });
    assert.deepEqual([s.state, s.st.connectRetryCounter], ['Idle', 0]);
    assert.ok(has(a, 'drop-connection') && has(a, 'release-resources') && !notif(a));
    const o = new Harness(CFG, 'Connect');
    o.event({ type: 'KeepAliveMsg' });
    assert.deepEqual([o.state, o.st.connectRetryCounter], ['Idle', 1]);
  });
  it('Active: ConnectRetryTimer expiry -> Connect and dial; passive stays Active', () => {
    const h = new Harness();
    h.event({ type: 'ManualStart_with_PassiveTcpEstablishment' });
    h.advance(120_000);
    assert.equal(h.state, 'Connect');
    assert.equal(h.sent('connect').length, 1);
    const p = new Harness({ ...CFG, passive: true });
    p.event({ type: 'ManualStart' });
    p.advance(600_000);
    assert.equal(p.state, 'Active');
    assert.equal(p.sent('connect').length, 0);
  });
  it('Active: incoming connection -> OpenSent; TcpConnectionFails -> Idle with counter + 1', () => {
    const h = new Harness(CFG, 'Active');
    h.event({ type: 'TcpConnectionConfirmed' });
    assert.equal(h.state, 'OpenSent');
    const f = new Harness(CFG, 'Active');
    f.event({ type: 'TcpConnectionFails' });
    assert.deepEqual([f.state, f.st.connectRetryCounter], ['Idle', 1]);
  });
  it('start events are ignored outside Idle', () => {
    for (const s of ['Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'] as const) {
      const h = new Harness(CFG, s);
      assert.deepEqual(h.event({ type: 'ManualStart' }), []);
      assert.equal(h.state, s);
    }
  });
});

describe('BGP FSM: OpenSent', () => {
  const openSent = (): Harness => {
    const h = new Harness();
    h.event({ type: 'ManualStart' });
    h.event({ type: 'TcpConnectionConfirmed' });
    return h;
  };
  it('no OPEN within 4 minutes: Hold Timer Expired (4/0) -> Idle', () => {
    const h = openSent();
    h.advance(239_999);
    assert.equal(h.state, 'OpenSent');
    h.advance(1);
    assert.equal(h.state, 'Idle');
    assert.equal(notif(h.log), '4/0');
    assert.equal(h.st.connectRetryCounter, 1);
  });
  it('valid OPEN: KEEPALIVE, hold time = min(90, 30), keepalive every 10 s -> OpenConfirm', () => {
    const h = openSent();
    const a = h.event({ type: 'BGPOpen', open: peerOpen(30) });
    assert.equal(h.state, 'OpenConfirm');
    assert.deepEqual(a, [
      { type: 'stop-timer', timer: 'ConnectRetry' },
      { type: 'send-keepalive' },
      { type: 'start-timer', timer: 'Keepalive', ms: 10_000 },
      { type: 'start-timer', timer: 'Hold', ms: 30_000 },
    ]);
  });
  it('OPEN with hold time 0: no keepalive and no hold timer', () => {
    const h = openSent();
    const a = h.event({ type: 'BGPOpen', open: peerOpen(0) });
    assert.ok(a.some((x) => x.type === 'stop-timer' && x.timer === 'Hold'));
    assert.ok(!a.some((x) => x.type === 'start-timer'));
    h.event({ type: 'KeepAliveMsg' });
    h.advance(3_600_000);
    assert.equal(h.state, 'Established');
    assert.equal(h.sent('send-keepalive').length, 1);
  });
  it('OPEN from the wrong AS: 2/2 -> Idle; hold time below the minimum: 2/6', () => {
    const h = openSent();
    assert.equal(notif(h.event({ type: 'BGPOpen', open: peerOpen(90, 65009) })), '2/2');
    assert.equal(h.state, 'Idle');
    const m = new Harness({ ...CFG, minHoldTime: 10 });
    m.event({ type: 'ManualStart' });
    m.event({ type: 'TcpConnectionConfirmed' });
    assert.equal(notif(m.event({ type: 'BGPOpen', open: { ...peerOpen(), holdTime: 2 } })), '2/6');
  });
  it('TcpConnectionFails -> Active, listening, ConnectRetry restarted', () => {
    const h = openSent();
    const a = h.event({ type: 'TcpConnectionFails' });
    assert.equal(h.state, 'Active');
    assert.ok(has(a, 'listen'));
    assert.ok(a.some((x) => x.type === 'start-timer' && x.timer === 'ConnectRetry'));
  });
  it('errors and stops send the right NOTIFICATION', () => {
    const cases: [BgpEvent, string | undefined, number][] = [
      [{ type: 'KeepAliveMsg' }, '5/1', 1],
      [{ type: 'UpdateMsg' }, '5/1', 1],
      [{ type: 'BGPHeaderErr', error: { code: 1, subcode: 2, data: Uint8Array.of(0, 5) } }, '1/2', 1],
      [{ type: 'BGPOpenMsgErr', error: { code: 2, subcode: 4 } }, '2/4', 1],
      [{ type: 'OpenCollisionDump' }, '6/7', 1],
      [{ type: 'ManualStop' }, '6/2', 0],
      [{ type: 'AutomaticStop' }, '6/0', 1],
      [{ type: 'NotifMsgVerErr' }, undefined, 0],
      [{ type: 'ConnectRetryTimer_Expires' }, '5/0', 1],
    ];
    for (const [e, n, counter] of cases) {
      const h = openSent();
      assert.equal(notif(h.event(e)), n, e.type);
      assert.equal(h.state, 'Idle', e.type);
      assert.equal(h.st.connectRetryCounter, counter, e.type);
    }
  });
});

describe('BGP FSM: OpenConfirm and Established', () => {
  const openConfirm = (hold = 30): Harness => {
    const h = new Harness();
    h.event({ type: 'ManualStart' });
    h.event({ type: 'TcpConnectionConfirmed' });
    h.event({ type: 'BGPOpen', open: peerOpen(hold) });
    return h;
  };
  it('KEEPALIVE -> Established with session-up; KEEPALIVEs every 10 s meanwhile', () => {
    const h = openConfirm();
    h.advance(25_000);
    assert.equal(h.sent('send-keepalive').length, 3); // one on the OPEN, then at 10 s and 20 s
    const a = h.event({ type: 'KeepAliveMsg' });
    assert.equal(h.state, 'Established');
    assert.ok(a.some((x) => x.type === 'session-up' && x.holdTime === 30 && x.keepaliveTime === 10));
  });
  it('OpenConfirm: hold timer expiry 4/0; UPDATE is 5/2; NOTIFICATION closes without one', () => {
    const h = openConfirm();
    h.advance(30_000);
    assert.equal(h.state, 'Idle');
    assert.equal(notif(h.log), '4/0');
    assert.equal(notif(openConfirm().event({ type: 'UpdateMsg' })), '5/2');
    const n = openConfirm();
    assert.equal(notif(n.event({ type: 'NotifMsg' })), undefined);
    assert.deepEqual([n.state, n.st.connectRetryCounter], ['Idle', 1]);
    assert.equal(notif(openConfirm().event({ type: 'OpenCollisionDump' })), '6/7');
    assert.equal(notif(openConfirm().event({ type: 'BGPOpen', open: peerOpen() })), '5/2');
  });
  it('Established: hold timer runs out without traffic -> 4/0, routes deleted', () => {
    const h = openConfirm();
    h.event({ type: 'KeepAliveMsg' });
    h.advance(29_999);
    assert.equal(h.state, 'Established');
    h.advance(1);
    assert.equal(h.state, 'Idle');
    assert.equal(notif(h.log), '4/0');
    assert.ok(h.sent('delete-routes').length === 1);
  });
  it('Established: KEEPALIVE and UPDATE restart the hold timer', () => {
    const h = openConfirm();
    h.event({ type: 'KeepAliveMsg' });
    h.advance(20_000);
    h.event({ type: 'KeepAliveMsg' });
    h.advance(20_000);
    const a = h.event({ type: 'UpdateMsg' });
    assert.ok(has(a, 'process-update'));
    h.advance(29_000);
    assert.equal(h.state, 'Established');
    h.advance(1_000);
    assert.equal(h.state, 'Idle');
  });
  it('Established: UPDATE error sends its NOTIFICATION; OPEN is 5/3; stops send Cease; TCP loss deletes routes', () => {
    const est = (): Harness => {
      const h = openConfirm();
      h.event({ type: 'KeepAliveMsg' });
      return h;
    };
    const u = est();
    const a = u.event({ type: 'UpdateMsgErr', error: { code: 3, subcode: 1 } });
    assert.equal(notif(a), '3/1');
    assert.ok(has(a, 'delete-routes'));
    assert.equal(notif(est().event({ type: 'BGPOpen', open: peerOpen() })), '5/3');
    const s = est();
    assert.equal(notif(s.event({ type: 'ManualStop' })), '6/2');
    assert.equal(s.st.connectRetryCounter, 0);
    assert.equal(notif(est().event({ type: 'AutomaticStop' })), '6/0');
    const t = est();
    const ta = t.event({ type: 'TcpConnectionFails' });
    assert.ok(has(ta, 'delete-routes') && !notif(ta));
    assert.equal(t.state, 'Idle');
    assert.equal(notif(est().event({ type: 'ConnectRetryTimer_Expires' })), '5/0');
  });
});

describe('BGP FSM helpers', () => {
  it('collision: the connection initiated by the higher BGP identifier survives; equal ids fall back to AS', () => {
    assert.equal(
      resolveCollision({ bgpId: '10.0.0.1', asn: 1 }, { bgpId: '10.0.0.2', asn: 1 }),
      'remotely-initiated',
    );
    assert.equal(
      resolveCollision({ bgpId: '10.0.0.3', asn: 1 }, { bgpId: '10.0.0.2', asn: 1 }),
      'locally-initiated',
    );
    // compared as unsigned 32-bit numbers, not strings
    assert.equal(
      resolveCollision({ bgpId: '9.0.0.0', asn: 1 }, { bgpId: '10.0.0.0', asn: 1 }),
      'remotely-initiated',
    );
    assert.equal(
      resolveCollision({ bgpId: '200.0.0.1', asn: 1 }, { bgpId: '100.0.0.1', asn: 1 }),
      'locally-initiated',
    );
    assert.equal(
      resolveCollision({ bgpId: '10.0.0.1', asn: 65002 }, { bgpId: '10.0.0.1', asn: 65001 }),
      'locally-initiated',
    );
    assert.equal(collisionApplies('OpenConfirm'), true);
    assert.equal(collisionApplies('Established'), false);
    assert.equal(collisionApplies('Established', { collisionDetectEstablishedState: true }), true);
  });
  it('maps decoding errors and NOTIFICATIONs to events', () => {
    assert.equal(errorEvent(new BgpMessageError(1, 2, new Uint8Array(0), 'x')).type, 'BGPHeaderErr');
    assert.equal(errorEvent(new BgpMessageError(2, 6, new Uint8Array(0), 'x')).type, 'BGPOpenMsgErr');
    assert.equal(errorEvent(new BgpMessageError(3, 1, new Uint8Array(0), 'x')).type, 'UpdateMsgErr');
    assert.equal(notificationEvent(2, 1).type, 'NotifMsgVerErr');
    assert.equal(notificationEvent(6, 2).type, 'NotifMsg');
  });
});
