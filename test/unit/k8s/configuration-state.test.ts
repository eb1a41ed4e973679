// ConfigurationState as MetalLB writes it: labels metallb.io/component-type (controller|speaker) and
// metallb.io/node-name (speakers) — MetalLB: internal/k8s/k8s.go, configStateLabels — and a condition per
// component (poolReconcilerValid for the controller, configReconcilerValid for a speaker) with the
// reasons Reconciled / ConfigurationError (internal/k8s/controllers/values.go, reportCondition).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configCondition, configurationStateLabels } from '../../../k8s/status.js';

describe('ConfigurationState', () => {
  it('labels: component type, and the node for a speaker', () => {
    assert.deepEqual(configurationStateLabels({ type: 'Controller' }), {
      'metallb.io/component-type': 'controller',
    });
    assert.deepEqual(configurationStateLabels({ type: 'Speaker', nodeName: 'node-1' }), {
      'metallb.io/component-type': 'speaker',
      'metallb.io/node-name': 'node-1',
    });
  });
  it('condition: True/Reconciled when valid, False/ConfigurationError with the errors otherwise', () => {
    const now = new Date('2026-12-03T10:00:00.123Z');
    assert.deepEqual(configCondition('configReconcilerValid', '', now), {
      type: 'configReconcilerValid',
      status: 'True',
      reason: 'Reconciled',
      message: '',
      lastTransitionTime: '2026-12-03T10:00:00Z',
    });
    const bad = configCondition(
      'poolReconcilerValid',
      'IPAddressPool metallb-system/p: spec.addresses: x',
      now,
    );
    assert.deepEqual(
      [bad.type, bad.status, bad.reason, bad.message],
      [
        'poolReconcilerValid',
        'False',
        'ConfigurationError',
        'IPAddressPool metallb-system/p: spec.addresses: x',
      ],
    );
    assert.equal(configCondition('poolReconcilerValid', 'x'.repeat(40000), now).message.length, 30000);
  });
});
