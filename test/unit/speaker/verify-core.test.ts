// The verification core on a fake clock (plain `now` values): probes due, answers, misses, conflicts
// seen passively and by probes, clearing, rate limits; and the Service conditions drawn from it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VerifyCore, type VerifyTarget } from '../../../speaker/layer2/verify-core.js';
import {
  ADDRESS_CONFLICT,
  VERIFIED,
  conditionUpdate,
  draftConditions,
  type ServiceCondition,
} from '../../../speaker/layer2/conditions.js';

const OWNER_MAC = '02:00:00:00:00:01';
const OTHER_SPEAKER = '02:00:00:00:00:02';
const HOST = '02:00:00:00:00:99';
const speakers = new Set([OWNER_MAC, OTHER_SPEAKER]);

const target = (ip = '10.0.0.10', owner = 'node-1', macs: string[] | null = [OWNER_MAC]): VerifyTarget => ({
  service: 'ns/web',
  ip,
  owner,
  ownerMacs: macs ? new Set(macs) : undefined,
});

function core(): VerifyCore {
  return new VerifyCore((m) => speakers.has(m), {
    periodMs: 30_000,
    minPeriodMs: 30_000,
    retryMs: 2_000,
    windowMs: 1_000,
    missesToFail: 2,
    maxPerSecond: 100,
  });
}

describe('layer 2 verification core', () => {
  it('probes a new VIP at once; the owner answering makes it Answering; next probe a period later', () => {
    const c = core();
    c.setTargets([target()], 0);
    assert.deepEqual(
      c.due(0).map((t) => t.ip),
      ['10.0.0.10'],
    );
    assert.deepEqual(c.due(0), [], 'one window at a time');
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(999);
    assert.equal(c.result('10.0.0.10')?.state, 'Pending', 'window still open');
    c.tick(1000);
    const r = c.result('10.0.0.10');
    assert.equal(r?.state, 'Answering');
    assert.deepEqual(r?.answered, [OWNER_MAC]);
    assert.deepEqual(r?.foreign, []);
    assert.deepEqual([...c.takeChanged()], ['ns/web']);
    assert.deepEqual(
      c.resultsOf('ns/web')?.map((x) => x.state),
      ['Answering'],
    );
    assert.equal(c.resultsOf('ns/other'), undefined);
    assert.equal(c.nextDeadline(), 31_000);
    assert.deepEqual(c.due(30_999), []);
    assert.deepEqual(
      c.due(31_000).map((t) => t.ip),
      ['10.0.0.10'],
    );
  });

  it('two silent probes in a row make it NotAnswering; an answer brings it back', () => {
    const c = core();
    c.setTargets([target()], 0);
    c.due(0);
    c.tick(1000);
    assert.equal(c.result('10.0.0.10')?.state, 'Pending', 'one miss is not enough');
    assert.equal(c.nextDeadline(), 3000, 'retried soon');
    c.due(3000);
    c.tick(4000);
    assert.equal(c.result('10.0.0.10')?.state, 'NotAnswering');
    assert.deepEqual(c.counts().states.NotAnswering, 1);
    c.due(6000);
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(7000);
    assert.equal(c.result('10.0.0.10')?.state, 'Answering');
    // A miss after Answering: retried within retryMs (not a period later), then NotAnswering.
    c.due(37_000);
    c.tick(38_000);
    assert.equal(c.result('10.0.0.10')?.state, 'Answering');
    assert.equal(c.nextDeadline(), 40_000);
    c.due(40_000);
    c.tick(41_000);
    assert.equal(c.result('10.0.0.10')?.state, 'NotAnswering');
  });

  it('an answer from another speaker only is WrongMAC', () => {
    const c = core();
    c.setTargets([target()], 0);
    c.due(0);
    c.answer('10.0.0.10', OTHER_SPEAKER);
    c.tick(1000);
    assert.equal(c.result('10.0.0.10')?.state, 'WrongMAC');
    assert.deepEqual(c.result('10.0.0.10')?.foreign, []);
  });

  it('a gratuitous claim from a foreign MAC is a conflict at once; a probe hearing only the owner clears it', () => {
    const c = core();
    c.setTargets([target()], 0);
    c.due(0);
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(1000);
    c.takeChanged();
    assert.deepEqual(c.sighting('10.0.0.10', OTHER_SPEAKER, 2000), [], 'a speaker (handover) is no conflict');
    assert.deepEqual(c.sighting('10.0.0.10', HOST, 2000), ['ns/web']);
    assert.deepEqual(c.sighting('10.0.0.10', HOST, 2000), [], 'reported once');
    assert.deepEqual(c.result('10.0.0.10')?.foreign, [HOST]);
    assert.deepEqual([...c.takeChanged()], ['ns/web']);
    assert.equal(c.counts().conflicts, 1);
    assert.equal(c.nextDeadline(), 4000, 'probed again within retryMs, not a period later');
    // The next probe still hears the host: still a conflict, probed again soon.
    c.due(30_000);
    c.answer('10.0.0.10', OWNER_MAC);
    c.answer('10.0.0.10', HOST);
    c.tick(32_000);
    assert.deepEqual(c.result('10.0.0.10')?.foreign, [HOST]);
    assert.equal(c.nextDeadline(), 34_000);
    // The host let go.
    c.due(34_000);
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(35_000);
    assert.deepEqual(c.result('10.0.0.10')?.foreign, []);
    assert.equal(c.counts().conflicts, 0);
  });

  it('sightings of VIPs it does not probe are ignored', () => {
    const c = core();
    assert.deepEqual(c.sighting('10.0.0.11', HOST, 0), []);
  });

  it('an ownership change makes the VIP Pending and probes it at once; removed VIPs are dropped', () => {
    const c = core();
    c.setTargets([target()], 0);
    c.due(0);
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(1000);
    c.setTargets([target('10.0.0.10', 'node-2', [OTHER_SPEAKER])], 5000);
    assert.equal(c.result('10.0.0.10')?.state, 'Pending');
    assert.deepEqual(
      c.due(5000).map((t) => t.ip),
      ['10.0.0.10'],
    );
    c.answer('10.0.0.10', OTHER_SPEAKER);
    c.tick(6000);
    assert.equal(c.result('10.0.0.10')?.state, 'Answering');
    c.takeChanged();
    c.setTargets([], 7000);
    assert.equal(c.size, 0);
    assert.deepEqual([...c.takeChanged()], ['ns/web']);
  });

  it('Services sharing a VIP each get results; one Service updated alone leaves the others', () => {
    const c = core();
    const api = { ...target(), service: 'ns/api' };
    c.setTargets([target(), api], 0);
    assert.equal(c.due(0).length, 2);
    c.answer('10.0.0.10', OWNER_MAC);
    c.tick(1000);
    assert.equal(c.result('10.0.0.10', 'ns/web')?.state, 'Answering');
    assert.equal(c.result('10.0.0.10', 'ns/api')?.state, 'Answering');
    assert.deepEqual(c.sighting('10.0.0.10', HOST, 2000).sort(), ['ns/api', 'ns/web']);
    c.takeChanged();
    c.setServiceTargets('ns/api', [], 3000);
    assert.equal(c.resultsOf('ns/api'), undefined);
    assert.deepEqual(c.resultsOf('ns/web')?.[0]?.foreign, [HOST]);
    assert.deepEqual([...c.takeChanged()], ['ns/api']);
  });

  it('without the owner MACs, any speaker answering counts', () => {
    const c = core();
    c.setTargets([target('10.0.0.10', 'node-1', null)], 0);
    c.due(0);
    c.answer('10.0.0.10', OTHER_SPEAKER);
    c.tick(1000);
    assert.equal(c.result('10.0.0.10')?.state, 'Answering');
  });

  it('rate-limits probes: 250 new VIPs at 100/s are spread over 2.5 s', () => {
    const c = core();
    const ts = Array.from({ length: 250 }, (_, i) => target(`10.1.${i >> 8}.${i & 255}`));
    c.setTargets(ts, 0);
    let sent = c.due(0).length;
    assert.equal(sent, 100);
    assert.equal(c.due(0).length, 0);
    sent += c.due(1000).length;
    assert.equal(sent, 200);
    sent += c.due(2500).length;
    assert.equal(sent, 250);
  });
});

describe('layer 2 verification conditions', () => {
  const at = '2026-12-03T14:00:00Z';
  const later = '2026-12-03T14:05:00Z';
  const res = (over: Partial<Parameters<typeof draftConditions>[0][number]> = {}) => ({
    service: 'ns/web',
    ip: '10.0.0.10',
    owner: 'node-1',
    state: 'Answering' as const,
    answered: [OWNER_MAC],
    foreign: [] as string[],
    probedAt: 1000,
    ...over,
  });

  it('nothing while every VIP is Pending', () => {
    assert.equal(draftConditions([res({ state: 'Pending', answered: [] })], 'node-2'), undefined);
  });

  it('Answering -> Verified True, AddressConflict False; written once, not again when unchanged', () => {
    const d = draftConditions([res()], 'node-2');
    assert.ok(d);
    const u = conditionUpdate(d, [], at);
    assert.deepEqual(
      u.write?.map((c) => [c.type, c.status, c.reason]),
      [
        [VERIFIED, 'True', 'Answering'],
        [ADDRESS_CONFLICT, 'False', 'NoConflict'],
      ],
    );
    assert.match(u.write?.[0]?.message ?? '', /10\.0\.0\.10 answers ARP from node "node-1"/);
    assert.deepEqual(u.turnedBad, []);
    assert.equal(conditionUpdate(d, u.write ?? [], later).write, undefined);
  });

  it('a conflict: AddressConflict True/ForeignMAC and Verified False, each turned bad once, transition time kept', () => {
    const ok = conditionUpdate(draftConditions([res()], 'node-2') ?? [], [], at).write as ServiceCondition[];
    const d = draftConditions([res({ answered: [OWNER_MAC, HOST], foreign: [HOST] })], 'node-2') ?? [];
    const u = conditionUpdate(d, ok, later);
    const conflict = u.write?.find((c) => c.type === ADDRESS_CONFLICT);
    assert.equal(conflict?.status, 'True');
    assert.equal(conflict?.reason, 'ForeignMAC');
    assert.equal(conflict?.lastTransitionTime, later);
    assert.match(conflict?.message ?? '', new RegExp(`claimed by ${HOST}`));
    assert.deepEqual(
      u.turnedBad.map((c) => c.type),
      [VERIFIED, ADDRESS_CONFLICT],
    );
    // Still in conflict later: no new Event.
    assert.deepEqual(conditionUpdate(d, u.write ?? [], later).turnedBad, []);
  });

  it('NotAnswering wins over the rest and names the owner', () => {
    const d = draftConditions(
      [res({ state: 'NotAnswering', answered: [] }), res({ ip: 'fd00::10', state: 'Answering' })],
      'node-2',
    );
    const v = d?.find((c) => c.type === VERIFIED);
    assert.equal(v?.status, 'False');
    assert.equal(v?.reason, 'NotAnswering');
    assert.match(
      v?.message ?? '',
      /10\.0\.0\.10: no answer to ARP from node "node-2"; node "node-1" should answer/,
    );
  });
});
