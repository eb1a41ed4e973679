// The layer 2 verification lines of `bollard explain service` from a Service's conditions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  renderVerification,
  verificationOf,
  verificationProblems,
} from '../../../cli/explain/verification.js';
import type { ServiceObject } from '../../../cli/explain/types.js';

const svc = (conditions: object[]): ServiceObject =>
  ({ metadata: { name: 'web', namespace: 'l2' }, status: { conditions } }) as unknown as ServiceObject;

describe('explain: layer 2 verification', () => {
  it('no conditions yet: one line, no problem', () => {
    const v = verificationOf(svc([]));
    assert.deepEqual(verificationProblems(v), []);
    assert.deepEqual(renderVerification(v), ['  verified from the wire: not yet (no probe result)']);
  });

  it('a conflict and a failed verification are problems and ✗ lines; other types are ignored', () => {
    const v = verificationOf(
      svc([
        {
          type: 'bollard.io/Verified',
          status: 'False',
          reason: 'AddressConflict',
          message: 'm1',
          lastTransitionTime: 't1',
        },
        {
          type: 'bollard.io/AddressConflict',
          status: 'True',
          reason: 'ForeignMAC',
          message: 'm2',
          lastTransitionTime: 't2',
        },
        {
          type: 'bollard.io/ImplementationConflict',
          status: 'False',
          reason: 'None',
          message: '',
          lastTransitionTime: 't',
        },
      ]),
    );
    assert.deepEqual(verificationProblems(v), [
      'address conflict: m2 (since t2)',
      'the announcement is not verified: AddressConflict: m1 (since t1)',
    ]);
    assert.deepEqual(renderVerification(v), [
      '  ✗ verified from the wire: AddressConflict: m1 (since t1)',
      '  ✗ address conflict: yes: m2 (since t2)',
    ]);
  });

  it('verified: ✓ lines', () => {
    const v = verificationOf(
      svc([
        {
          type: 'bollard.io/Verified',
          status: 'True',
          reason: 'Answering',
          message: 'ok',
          lastTransitionTime: 't',
        },
        {
          type: 'bollard.io/AddressConflict',
          status: 'False',
          reason: 'NoConflict',
          message: 'only',
          lastTransitionTime: 't',
        },
      ]),
    );
    assert.deepEqual(verificationProblems(v), []);
    assert.deepEqual(renderVerification(v), [
      '  ✓ verified from the wire: Answering: ok (since t)',
      '  ✓ address conflict: no: only (since t)',
    ]);
  });
});
