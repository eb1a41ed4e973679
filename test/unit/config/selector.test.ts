import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LabelSelector } from '../../../config/selector.js';

function sel(spec: Parameters<typeof LabelSelector.parse>[0]): LabelSelector {
  const r = LabelSelector.parse(spec);
  assert.ok(r.ok, JSON.stringify(r));
  return r.selector;
}

describe('LabelSelector', () => {
  it('an empty selector matches everything', () => {
    assert.equal(sel({}).matches({}), true);
    assert.equal(sel(undefined).matches({ a: 'b' }), true);
  });
  it('matchLabels requires every pair', () => {
    const s = sel({ matchLabels: { app: 'web', tier: 'front' } });
    assert.equal(s.matches({ app: 'web', tier: 'front', x: 'y' }), true);
    assert.equal(s.matches({ app: 'web' }), false);
    assert.equal(s.matches({ app: 'db', tier: 'front' }), false);
  });
  it('In, NotIn, Exists, DoesNotExist', () => {
    assert.equal(
      sel({ matchExpressions: [{ key: 'env', operator: 'In', values: ['a', 'b'] }] }).matches({ env: 'b' }),
      true,
    );
    assert.equal(
      sel({ matchExpressions: [{ key: 'env', operator: 'In', values: ['a'] }] }).matches({}),
      false,
    );
    assert.equal(
      sel({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['a'] }] }).matches({}),
      true,
    );
    assert.equal(
      sel({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['a'] }] }).matches({ env: 'a' }),
      false,
    );
    assert.equal(sel({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }).matches({ env: '' }), true);
    assert.equal(sel({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }).matches({}), false);
    assert.equal(sel({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }).matches({}), true);
    assert.equal(
      sel({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }).matches({ env: 'x' }),
      false,
    );
  });
  it('matchLabels and matchExpressions are ANDed', () => {
    const s = sel({
      matchLabels: { app: 'web' },
      matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }],
    });
    assert.equal(s.matches({ app: 'web', env: 'dev' }), true);
    assert.equal(s.matches({ app: 'web', env: 'prod' }), false);
  });
  it('rejects malformed selectors with the field and reason', () => {
    const cases: [Parameters<typeof LabelSelector.parse>[0], string, string][] = [
      [
        { matchExpressions: [{ key: 'a', operator: 'Near', values: [] }] },
        'matchExpressions[0].operator',
        'unknown operator "Near" (want In, NotIn, Exists or DoesNotExist)',
      ],
      [
        { matchExpressions: [{ key: 'a', operator: 'In' }] },
        'matchExpressions[0].values',
        'must be non-empty for operator In',
      ],
      [
        { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
        'matchExpressions[0].values',
        'must be empty for operator Exists',
      ],
      [{ matchLabels: { 'bad key!': 'x' } }, 'matchLabels[bad key!]', 'invalid label key "bad key!"'],
      [{ matchLabels: { ok: 'bad value!' } }, 'matchLabels[ok]', 'invalid label value "bad value!"'],
      [
        { matchExpressions: [{ key: 'UPPER.example/x', operator: 'Exists' }] },
        'matchExpressions[0].key',
        'invalid label key "UPPER.example/x": prefix must be a DNS subdomain',
      ],
    ];
    for (const [spec, field, reason] of cases) {
      const r = LabelSelector.parse(spec);
      assert.equal(r.ok, false);
      if (!r.ok) assert.deepEqual([r.field, r.reason], [field, reason]);
    }
  });
});
