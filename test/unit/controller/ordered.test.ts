import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OrderedMap } from '../../../controller/ordered.js';
import { FreeSet } from '../../../controller/freeset.js';

describe('OrderedMap', () => {
  it('agrees with a sorted-array model on set/delete/floor/ceiling/first/entries', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('set' as const), k: fc.bigInt({ min: 0n, max: 60n }) }),
      fc.record({ t: fc.constant('del' as const), k: fc.bigInt({ min: 0n, max: 60n }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.bigInt({ min: -1n, max: 61n }), (ops, probe) => {
        const m = new OrderedMap<string>();
        const model = new Map<bigint, string>();
        for (const o of ops) {
          if (o.t === 'set') {
            m.set(o.k, String(o.k));
            model.set(o.k, String(o.k));
          } else assert.equal(m.delete(o.k), model.delete(o.k));
        }
        const keys = [...model.keys()].sort((a, b) => (a < b ? -1 : 1));
        assert.equal(m.size, keys.length);
        assert.deepEqual(
          [...m.entries()].map(([k]) => k),
          keys,
        );
        assert.deepEqual(m.first()?.[0], keys[0]);
        assert.deepEqual(
          m.floor(probe)?.[0],
          [...keys].reverse().find((k) => k <= probe),
        );
        assert.deepEqual(
          m.ceiling(probe)?.[0],
          keys.find((k) => k >= probe),
        );
        assert.deepEqual(
          [...m.entries(probe)].map(([k]) => k),
          keys.filter((k) => k >= probe),
        );
      }),
    );
  });
});

describe('FreeSet', () => {
  it('take/give keep exact membership and the lowest free address', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 40n })), { maxLength: 150 }),
        (ops) => {
          const f = new FreeSet(
            4,
            [
              { family: 4, first: 0n, last: 20n },
              { family: 4, first: 25n, last: 40n },
            ],
            false,
          );
          const model = new Set<bigint>();
          for (let v = 0n; v <= 40n; v++) if (v <= 20n || v >= 25n) model.add(v);
          for (const [take, v] of ops) {
            const inPool = v <= 20n || v >= 25n;
            if (take) assert.equal(f.take(v), model.delete(v));
            else if (inPool) {
              f.give(v);
              model.add(v);
            }
          }
          for (let v = 0n; v <= 40n; v++) assert.equal(f.has(v), model.has(v), `has(${v})`);
          const lowest = [...model].sort((a, b) => (a < b ? -1 : 1))[0];
          assert.equal(f.lowest(), lowest);
        },
      ),
    );
  });
  it('skips .0 and .255 when avoiding buggy IPs', () => {
    const f = new FreeSet(4, [{ family: 4, first: 255n, last: 257n }], true);
    assert.equal(f.lowest(), 257n);
  });
});
