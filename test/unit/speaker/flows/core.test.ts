// Flow handover, the pure core: which VIPs' strays go to which nodes, from when until when, for layer 2
// ownership moves and BGP carrier changes; a target that dies ends its window, a window ends on time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  INITIAL_FLOWS,
  nextEnd,
  observeLayer2,
  observePeers,
  rulesOf,
  type FlowState,
  type L2Owner,
  type PeersView,
} from '../../../../speaker/flows/core.js';

const W = 5000;
const peers = (live: string[], o: Partial<PeersView> = {}): PeersView => ({
  self: 'node-2',
  live: new Set(live),
  draining: new Set(),
  excluded: new Set(),
  ...o,
});
const ALL = ['node-1', 'node-2', 'node-3'];
const owner = (o: string | undefined, ips = ['192.0.2.10', '2001:db8::10']): L2Owner => ({
  owner: o,
  service: { ips },
});
const rules = (s: FlowState): Record<string, string[]> => Object.fromEntries(rulesOf(s));

describe('flow handover, layer 2', () => {
  /** node-2's view: it saw node-1 own demo/web, then (at t=1000) wins it. */
  const moved = (): FlowState => {
    const p = peers(ALL);
    let s = observePeers(INITIAL_FLOWS, p, () => [], 0, W);
    s = observeLayer2(s, p, new Map([['demo/web', owner('node-1')]]), undefined, 0, W);
    assert.deepEqual(rules(s), {}, 'another node owns it: nothing to hand over');
    return observeLayer2(s, p, new Map([['demo/web', owner('node-2')]]), ['demo/web'], 1000, W);
  };

  it('gaining a VIP from a live node hands its strays to that node for the window', () => {
    const s = moved();
    assert.deepEqual(rules(s), { '192.0.2.10': ['node-1'], '2001:db8::10': ['node-1'] });
    assert.equal(nextEnd(s), 1000 + W);
  });

  it('the window ends on time', () => {
    const s = observePeers(moved(), peers(ALL), () => [], 1000 + W, W);
    assert.deepEqual(rules(s), {});
    assert.equal(nextEnd(s), undefined);
  });

  it('the old owner declared dead ends the window early (a hang is worse than a reset)', () => {
    const s = observePeers(moved(), peers(['node-2', 'node-3']), () => [], 2000, W);
    assert.deepEqual(rules(s), {});
  });

  it('an old owner that announced a planned stop stays a target after its speaker is gone', () => {
    const p = peers(ALL, { draining: new Set(['node-1']) });
    let s = observePeers(INITIAL_FLOWS, p, () => [], 0, W);
    s = observeLayer2(s, p, new Map([['demo/web', owner('node-1')]]), undefined, 0, W);
    // node-1's speaker is gone (dead in membership); node-2 wins the election
    const gone = peers(['node-2', 'node-3']);
    s = observePeers(s, gone, () => [], 1500, W);
    s = observeLayer2(s, gone, new Map([['demo/web', owner('node-2')]]), undefined, 1500, W);
    assert.deepEqual(rules(s), { '192.0.2.10': ['node-1'], '2001:db8::10': ['node-1'] });
    // node-1's speaker is back without the fact: a live node like any other; its window runs on
    s = observePeers(s, peers(ALL), () => [], 2000, W);
    assert.deepEqual(rules(s)['192.0.2.10'], ['node-1']);
    // and later declared dead without having announced a stop: the window ends
    s = observePeers(s, peers(['node-2', 'node-3']), () => [], 2500, W);
    assert.deepEqual(rules(s), {});
  });

  it('gained with no previous owner known (the speaker just started): every other live speaker', () => {
    const p = peers(ALL);
    let s = observePeers(INITIAL_FLOWS, p, () => [], 0, W);
    s = observeLayer2(s, p, new Map([['demo/web', owner('node-2', ['192.0.2.10'])]]), undefined, 0, W);
    assert.deepEqual(rules(s), { '192.0.2.10': ['node-1', 'node-3'] });
  });

  it('keeping a VIP, or another node gaining it, opens nothing', () => {
    const p = peers(ALL);
    let s = observeLayer2(INITIAL_FLOWS, p, new Map([['demo/web', owner('node-2')]]), undefined, 0, W);
    s = observePeers(s, p, () => [], W + 1, W);
    assert.deepEqual(rules(s), {});
    s = observeLayer2(s, p, new Map([['demo/web', owner('node-2')]]), undefined, W + 2, W);
    s = observeLayer2(s, p, new Map([['demo/web', owner('node-3')]]), undefined, W + 3, W);
    assert.deepEqual(rules(s), {});
  });
});

describe('flow handover, BGP', () => {
  const VIPS = ['198.51.100.5'];

  it('the first pass (this speaker joins the ECMP sets): every BGP VIP to every other live speaker', () => {
    const s = observePeers(INITIAL_FLOWS, peers(ALL), () => VIPS, 0, W);
    assert.deepEqual(rules(s), { '198.51.100.5': ['node-1', 'node-3'] });
    assert.equal(nextEnd(s), W);
  });

  it('nothing changes: no window; a node labelled excluded: a window to every other speaker', () => {
    let s = observePeers(INITIAL_FLOWS, peers(ALL), () => VIPS, 0, W);
    s = observePeers(s, peers(ALL), () => VIPS, W, W);
    assert.deepEqual(rules(s), {});
    s = observePeers(s, peers(ALL), () => VIPS, W + 1, W);
    assert.deepEqual(rules(s), {});
    s = observePeers(s, peers(ALL, { excluded: new Set(['node-1']) }), () => VIPS, 10_000, W);
    assert.deepEqual(rules(s), { '198.51.100.5': ['node-1', 'node-3'] });
    assert.equal(nextEnd(s), 10_000 + W);
  });

  it('a speaker draining on SIGTERM opens a window that outlives its speaker; its node\u2019s death without one ends it', () => {
    let s = observePeers(INITIAL_FLOWS, peers(ALL), () => VIPS, 0, W);
    s = observePeers(s, peers(ALL), () => VIPS, W, W);
    s = observePeers(s, peers(ALL, { draining: new Set(['node-1']) }), () => VIPS, 6000, W);
    assert.deepEqual(rules(s), { '198.51.100.5': ['node-1', 'node-3'] });
    // node-1's speaker gone: the set changed again (window renewed), node-1 still a target (planned)
    s = observePeers(s, peers(['node-2', 'node-3']), () => VIPS, 7000, W);
    assert.deepEqual(rules(s), { '198.51.100.5': ['node-1', 'node-3'] });
    assert.equal(nextEnd(s), 7000 + W);
    // node-3 dies unannounced: its target goes at once, node-1's stays
    s = observePeers(s, peers(['node-2']), () => VIPS, 8000, W);
    assert.deepEqual(rules(s), { '198.51.100.5': ['node-1'] });
  });

  it('no BGP VIPs: membership changes open nothing', () => {
    let s = observePeers(INITIAL_FLOWS, peers(ALL), () => [], 0, W);
    s = observePeers(s, peers(['node-2']), () => [], 1, W);
    assert.deepEqual(rules(s), {});
  });
});
