// `bollard explain service`'s conflict lines (pure): the ImplementationConflict and KubeProxyConflict
// conditions on the Service become a "Conflicts:" section, and a True one is a problem of the Service.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { conflictsOf, renderConflicts, withConflicts } from '../../../cli/explain/conflicts.js';
import { explainService } from '../../../cli/explain/service.js';
import { renderService } from '../../../cli/explain/render.js';
import type { ServiceObject, Snapshot } from '../../../cli/explain/types.js';

const conditions = [
  {
    type: 'bollard.io/ImplementationConflict',
    status: 'True',
    reason: 'ForeignStatusWriter',
    message: 'status.loadBalancer was rewritten by other-lb (to 198.51.100.77)',
    lastTransitionTime: '2026-12-03T14:00:00Z',
  },
  { type: 'bollard.io/Verified', status: 'True', reason: 'Answering', message: 'not ours' },
  {
    type: 'bollard.io/KubeProxyConflict',
    status: 'False',
    reason: 'NoConflict',
    message: 'fine',
    lastTransitionTime: '2026-12-03T14:01:00Z',
  },
];

const svc = {
  metadata: { name: 'web', namespace: 'app', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { type: 'LoadBalancer', ipFamilies: ['IPv4'], ports: [{ protocol: 'TCP', port: 80 }] },
  status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] }, conditions },
} as ServiceObject;

describe('explain: conflicts', () => {
  it('reads only the conflict conditions, in a fixed order', () => {
    assert.deepEqual(
      conflictsOf(svc).map((c) => `${c.type}=${c.status} ${c.reason}`),
      [
        'bollard.io/ImplementationConflict=True ForeignStatusWriter',
        'bollard.io/KubeProxyConflict=False NoConflict',
      ],
    );
    assert.deepEqual(conflictsOf(undefined), []);
    assert.deepEqual(renderConflicts([]), []);
  });

  it('a True conflict is the first problem; the section lists each condition', () => {
    const e = withConflicts({ problems: ['later'] }, svc);
    assert.deepEqual(e.problems, [
      'ForeignStatusWriter: status.loadBalancer was rewritten by other-lb (to 198.51.100.77)',
      'later',
    ]);
    assert.deepEqual(renderConflicts(e.conflicts), [
      '',
      'Conflicts:',
      '  ✗ bollard.io/ImplementationConflict=True ForeignStatusWriter since 2026-12-03T14:00:00Z: status.loadBalancer was rewritten by other-lb (to 198.51.100.77)',
      '  ✓ bollard.io/KubeProxyConflict=False NoConflict since 2026-12-03T14:01:00Z: fine',
    ]);
  });

  it('explain service carries them (JSON and text)', () => {
    const snap: Snapshot = {
      namespace: 'metallb-system',
      lbClass: '',
      services: [svc],
      namespaceLabels: new Map([['app', {}]]),
      nodes: [],
      endpointSlices: [],
      config: { ipAddressPools: [], l2Advertisements: [], bgpAdvertisements: [] },
      l2Statuses: [],
      bgpStatuses: [],
      configStates: [],
      events: [],
      speakers: [],
    };
    const e = explainService(snap, 'app/web');
    assert.equal(e.conflicts?.length, 2);
    assert.match(e.problems[0] ?? '', /^ForeignStatusWriter: /);
    assert.match(
      renderService(e),
      /Conflicts:\n {2}✗ bollard\.io\/ImplementationConflict=True ForeignStatusWriter/,
    );
  });
});
