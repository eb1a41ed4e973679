import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sameJson } from '../../../k8s/same-json.js';

describe('sameJson', () => {
  it('a ServiceL2Status served in the apiserver order is the one we built', () => {
    const built = { node: 'n1', serviceName: 'web', serviceNamespace: 'ns', interfaces: [{ name: 'eth0' }] };
    const served = { interfaces: [{ name: 'eth0' }], node: 'n1', serviceName: 'web', serviceNamespace: 'ns' };
    assert.notEqual(JSON.stringify(built), JSON.stringify(served));
    assert.ok(sameJson(served, built));
  });
  it('differs on a value, a missing key, an extra key, and list order', () => {
    assert.ok(!sameJson({ a: 1 }, { a: 2 }));
    assert.ok(!sameJson({ a: 1 }, { a: 1, b: 2 }));
    assert.ok(!sameJson({ a: 1, b: 2 }, { a: 1 }));
    assert.ok(!sameJson({ l: [1, 2] }, { l: [2, 1] }));
    assert.ok(!sameJson({ l: [] }, { l: {} }));
    assert.ok(!sameJson({ a: null }, { a: {} }));
  });
  it('a key set to undefined is absent, as in JSON', () => {
    assert.ok(sameJson({ a: 1, b: undefined }, { a: 1 }));
    assert.ok(sameJson({ a: { c: [1, { d: 'x' }] } }, { a: { c: [1, { d: 'x' }] } }));
  });
});
