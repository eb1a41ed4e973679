// BGP graceful shutdown (RFC 8326), the pure part: when routes carry GRACEFUL_SHUTDOWN, when an
// exclusion's drain ends, and what the marked routes look like toward eBGP and iBGP peers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  GRACEFUL_SHUTDOWN,
  INITIAL_DRAIN,
  anyRoute,
  decideDrain,
  drainedPeers,
  withGracefulShutdown,
} from '../../../../speaker/bgp/drain.js';
import type { ExportedRoute } from '../../../../speaker/bgp/types.js';

const DRAIN = 5000;

describe('decideDrain', () => {
  it('not excluded, not terminating: routes as exported, no wake-up', () => {
    const d = decideDrain({
      state: INITIAL_DRAIN,
      excluded: false,
      terminating: false,
      now: 0,
      drainMs: DRAIN,
    });
    assert.deepEqual(d, {
      state: { excludedSince: undefined },
      gracefulShutdown: false,
      ignoreExclusion: false,
    });
  });

  it('terminating: GRACEFUL_SHUTDOWN on every pass until the sessions close', () => {
    const d = decideDrain({
      state: { excludedSince: undefined },
      excluded: false,
      terminating: true,
      now: 10,
      drainMs: DRAIN,
    });
    assert.equal(d.gracefulShutdown, true);
    assert.equal(d.ignoreExclusion, false);
    assert.equal(d.wakeAt, undefined);
  });

  it('the label appears: routes stay (exclusion ignored) with GRACEFUL_SHUTDOWN until since + drain, then go', () => {
    let state = decideDrain({
      state: INITIAL_DRAIN,
      excluded: false,
      terminating: false,
      now: 0,
      drainMs: DRAIN,
    }).state;
    const first = decideDrain({ state, excluded: true, terminating: false, now: 1000, drainMs: DRAIN });
    assert.deepEqual(first, {
      state: { excludedSince: 1000 },
      gracefulShutdown: true,
      ignoreExclusion: true,
      wakeAt: 6000,
    });
    state = first.state;
    // a pass in between keeps the same deadline
    const mid = decideDrain({ state, excluded: true, terminating: false, now: 4000, drainMs: DRAIN });
    assert.equal(mid.ignoreExclusion, true);
    assert.equal(mid.wakeAt, 6000);
    // at the deadline: eligibility sees the label, the routes are withdrawn
    const end = decideDrain({
      state: mid.state,
      excluded: true,
      terminating: false,
      now: 6000,
      drainMs: DRAIN,
    });
    assert.equal(end.ignoreExclusion, false);
    assert.equal(end.wakeAt, undefined);
    assert.deepEqual(end.state, { excludedSince: 1000 });
  });

  it('with a lead (flow handover): routes as before for the lead, then the drain, then the withdraw', () => {
    const base = { excluded: true, terminating: false, drainMs: DRAIN, leadMs: 1000 } as const;
    const first = decideDrain({ ...base, state: { excludedSince: undefined }, now: 100 });
    assert.deepEqual(first, {
      state: { excludedSince: 100 },
      gracefulShutdown: false,
      ignoreExclusion: true,
      wakeAt: 1100,
    });
    const drain = decideDrain({ ...base, state: first.state, now: 1100 });
    assert.equal(drain.gracefulShutdown, true);
    assert.equal(drain.ignoreExclusion, true);
    assert.equal(drain.wakeAt, 6100);
    const end = decideDrain({ ...base, state: drain.state, now: 6100 });
    assert.equal(end.ignoreExclusion, false);
    assert.equal(end.wakeAt, undefined);
    // excluded at the first pass: no lead either (nothing was announced)
    assert.equal(decideDrain({ ...base, state: INITIAL_DRAIN, now: 0 }).ignoreExclusion, false);
  });

  it('the label goes away during the drain: back to normal routes at once', () => {
    const d = decideDrain({
      state: { excludedSince: 1000 },
      excluded: false,
      terminating: false,
      now: 2000,
      drainMs: DRAIN,
    });
    assert.deepEqual(d, {
      state: { excludedSince: undefined },
      gracefulShutdown: false,
      ignoreExclusion: false,
    });
  });

  it('excluded already at the first pass: nothing was announced, nothing to drain', () => {
    const d = decideDrain({
      state: INITIAL_DRAIN,
      excluded: true,
      terminating: false,
      now: 50,
      drainMs: DRAIN,
    });
    assert.equal(d.ignoreExclusion, false);
    assert.equal(d.wakeAt, undefined);
  });

  it('drain time 0: the exclusion withdraws at once', () => {
    const d = decideDrain({
      state: { excludedSince: undefined },
      excluded: true,
      terminating: false,
      now: 50,
      drainMs: 0,
    });
    assert.equal(d.ignoreExclusion, false);
  });
});

describe('withGracefulShutdown', () => {
  const route = (prefix: string, extra: Partial<ExportedRoute> = {}): ExportedRoute => ({
    prefix,
    communities: [],
    largeCommunities: [],
    ...extra,
  });
  const peers = new Map([
    ['ebgp', { internal: false }],
    ['ibgp', { internal: true }],
  ]);

  it('adds 65535:0 (sorted, once) to every route; LOCAL_PREF 0 toward iBGP peers only', () => {
    const out = withGracefulShutdown(
      new Map<string, readonly ExportedRoute[]>([
        ['ebgp', [route('192.0.2.10/32', { communities: [0xfde80001] }), route('192.0.2.11/32')]],
        ['ibgp', [route('192.0.2.10/32', { localPref: 200 }), route('2001:db8::1/128')]],
      ]),
      peers,
    );
    assert.equal(GRACEFUL_SHUTDOWN, (65535 << 16) >>> 0);
    assert.deepEqual(out.get('ebgp'), [
      route('192.0.2.10/32', { communities: [0xfde80001, GRACEFUL_SHUTDOWN] }),
      route('192.0.2.11/32', { communities: [GRACEFUL_SHUTDOWN] }),
    ]);
    assert.deepEqual(out.get('ibgp'), [
      route('192.0.2.10/32', { communities: [GRACEFUL_SHUTDOWN], localPref: 0 }),
      route('2001:db8::1/128', { communities: [GRACEFUL_SHUTDOWN], localPref: 0 }),
    ]);
  });

  it('a route that already carries the community is not given it twice', () => {
    const out = withGracefulShutdown(
      new Map([['ebgp', [route('192.0.2.10/32', { communities: [GRACEFUL_SHUTDOWN] })]]]),
      peers,
    );
    assert.deepEqual(out.get('ebgp')?.[0]?.communities, [GRACEFUL_SHUTDOWN]);
  });

  it('only the drained peers are marked; the others keep their routes as exported', () => {
    const routes = new Map<string, readonly ExportedRoute[]>([
      ['ebgp', [route('192.0.2.10/32')]],
      ['ibgp', [route('192.0.2.10/32', { localPref: 200 })]],
    ]);
    const out = withGracefulShutdown(routes, peers, new Set(['ebgp']));
    assert.deepEqual(out.get('ebgp'), [route('192.0.2.10/32', { communities: [GRACEFUL_SHUTDOWN] })]);
    assert.equal(out.get('ibgp'), routes.get('ibgp'));
  });

  it('anyRoute: an empty RIB (or routes only to peers not drained) has nothing to drain', () => {
    assert.equal(anyRoute(new Map([['ebgp', []]])), false);
    assert.equal(anyRoute(new Map([['ebgp', [route('192.0.2.10/32')]]])), true);
    assert.equal(anyRoute(new Map([['ebgp', [route('192.0.2.10/32')]]]), new Set(['ibgp'])), false);
  });
});

describe('drainedPeers', () => {
  const peers = new Map([
    ['plain', { enableGracefulRestart: false }],
    ['gr', { enableGracefulRestart: true }],
  ]);
  it('SIGTERM of a node not excluded: graceful-restart peers keep our routes unmarked (a restart moves nothing)', () => {
    assert.deepEqual([...drainedPeers(peers, true, false)], ['plain']);
  });
  it('an exclusion, or SIGTERM of an excluded node: every peer is drained', () => {
    assert.deepEqual([...drainedPeers(peers, false, true)].sort(), ['gr', 'plain']);
    assert.deepEqual([...drainedPeers(peers, true, true)].sort(), ['gr', 'plain']);
  });
});
