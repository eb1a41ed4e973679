// The owner's delivery checks on plain `now` values: due at once, a port reported after two failures in a
// row, cleared at the first success, retried soon while failing, dropped with the Service; the facts
// that carry the result to the prober; and the NotDelivered condition it yields.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryCore } from '../../../speaker/layer2/delivery-core.js';
import { layer2Facts, macFactsOf, undeliveredOf } from '../../../speaker/layer2/prober.js';
import { draftConditions, VERIFIED } from '../../../speaker/layer2/conditions.js';

const web = {
  service: 'ns/web',
  endpoints: [
    { ip: '10.0.0.10', port: 80 },
    { ip: '10.0.0.10', port: 81 },
  ],
};

describe('delivery checks (core)', () => {
  it('checks a new Service at once; a port failing twice in a row is undelivered; a success clears it', () => {
    const c = new DeliveryCore({
      periodMs: 30_000,
      minPeriodMs: 30_000,
      retryMs: 2_000,
      failuresToReport: 2,
      maxPerSecond: 10,
    });
    c.setTargets([web], 0);
    assert.deepEqual(c.due(0), [web]);
    assert.deepEqual(c.due(0), [], 'running');
    c.done(
      'ns/web',
      new Map([
        ['10.0.0.10:80', undefined],
        ['10.0.0.10:81', 'connection refused'],
      ]),
      100,
    );
    assert.deepEqual(c.undelivered(), new Map(), 'one failure is not enough');
    assert.equal(c.takeChanged(), false);
    assert.equal(c.nextDeadline(), 2100, 'retried soon');
    c.due(2100);
    c.done(
      'ns/web',
      new Map([
        ['10.0.0.10:80', undefined],
        ['10.0.0.10:81', 'connection refused'],
      ]),
      2200,
    );
    assert.deepEqual(c.undelivered(), new Map([['ns/web', ['10.0.0.10:81 connection refused']]]));
    assert.equal(c.takeChanged(), true);
    c.due(4200);
    c.done(
      'ns/web',
      new Map([
        ['10.0.0.10:80', undefined],
        ['10.0.0.10:81', undefined],
      ]),
      4300,
    );
    assert.deepEqual(c.undelivered(), new Map());
    assert.equal(c.takeChanged(), true);
    assert.equal(c.nextDeadline(), 34_300, 'a period later when all is well');
  });

  it('a Service no longer owned is dropped (and its report with it)', () => {
    const c = new DeliveryCore({ failuresToReport: 1 });
    c.setTargets([web], 0);
    c.due(0);
    c.done('ns/web', new Map([['10.0.0.10:81', 'connection refused']]), 10);
    c.takeChanged();
    c.setTargets([], 20);
    assert.deepEqual(c.undelivered(), new Map());
    assert.equal(c.takeChanged(), true);
    assert.equal(c.nextDeadline(), undefined);
  });

  it('one Service updated alone: unchanged endpoints keep their schedule, changed ones are checked at once', () => {
    const c = new DeliveryCore({ failuresToReport: 1 });
    const api = { service: 'ns/api', endpoints: [{ ip: '10.0.0.11', port: 443 }] };
    c.setTargets([web, api], 0);
    assert.equal(c.due(0).length, 2);
    c.done('ns/web', new Map([['10.0.0.10:80', undefined]]), 10);
    c.done('ns/api', new Map([['10.0.0.11:443', undefined]]), 10);
    c.setService('ns/web', web, 20);
    assert.deepEqual(c.due(20), [], 'same endpoints: not due again');
    const web2 = { service: 'ns/web', endpoints: [{ ip: '10.0.0.10', port: 8080 }] };
    c.setService('ns/web', web2, 30);
    assert.deepEqual(c.due(30), [web2]);
    c.setService('ns/api', undefined, 40);
    assert.equal(c.nextDeadline(), undefined, 'ns/web running, ns/api gone');
  });

  it('Services without TCP ports are never due', () => {
    const c = new DeliveryCore();
    c.setTargets([{ service: 'ns/dns', endpoints: [] }], 0);
    assert.deepEqual(c.due(0), []);
  });
});

describe('facts carried by membership', () => {
  it('MACs and undelivered endpoints round-trip beside Service keys', () => {
    const facts = new Set([
      'ns/local-svc',
      ...layer2Facts(['02:00:00:00:00:01'], new Map([['ns/web', ['10.0.0.10:81 connection refused']]])),
    ]);
    assert.deepEqual(macFactsOf(facts), new Set(['02:00:00:00:00:01']));
    assert.equal(undeliveredOf(facts, 'ns/web'), '10.0.0.10:81 connection refused');
    assert.equal(undeliveredOf(facts, 'ns/we'), '');
    assert.equal(macFactsOf(new Set(['ns/x'])), undefined);
  });

  it('an answering VIP whose owner cannot reach an endpoint is Verified False/NotDelivered', () => {
    const d = draftConditions(
      [
        {
          service: 'ns/web',
          ip: '10.0.0.10',
          owner: 'node-1',
          state: 'Answering',
          answered: ['02:00:00:00:00:01'],
          foreign: [],
          probedAt: 1,
        },
      ],
      'node-2',
      '10.0.0.10:81 connection refused',
    );
    const v = d?.find((c) => c.type === VERIFIED);
    assert.equal(v?.status, 'False');
    assert.equal(v?.reason, 'NotDelivered');
    assert.match(
      v?.message ?? '',
      /but from there kube-proxy does not deliver: 10\.0\.0\.10:81 connection refused/,
    );
  });
});
