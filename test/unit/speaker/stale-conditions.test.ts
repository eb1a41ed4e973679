// Verification conditions nobody keeps up: chosen from the Services' conditions and who probes them, and
// removed once per Service (a strategic-merge delete by type) until the cache shows them gone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StaleConditions, staleVerification } from '../../../speaker/layer2/stale-conditions.js';
import type { ServiceFacts } from '../../../speaker/protocol.js';
import { makeLogger } from '../../../k8s/logger.js';

const cond = (type: string) => ({
  type,
  status: 'True' as const,
  reason: 'R',
  message: 'm',
  lastTransitionTime: 't',
});
const svc = (name: string, types: string[]): ServiceFacts => ({
  key: `ns/${name}`,
  namespace: 'ns',
  name,
  labels: {},
  ips: ['10.0.0.1'],
  externalTrafficPolicy: 'Cluster',
  conditions: types.map(cond),
});

describe('stale verification conditions', () => {
  it('are the ones on Services nobody probes; only our two types', () => {
    const services = [
      svc('probed', ['bollard.io/Verified', 'bollard.io/AddressConflict']),
      svc('gone', ['bollard.io/Verified', 'bollard.io/AddressConflict', 'bollard.io/KubeProxyConflict']),
      svc('never', []),
      svc('other', ['bollard.io/ImplementationConflict']),
    ];
    const out = staleVerification(services, (k) => k === 'ns/probed');
    assert.deepEqual(
      out.map((s) => [s.facts.name, s.types]),
      [['gone', ['bollard.io/Verified', 'bollard.io/AddressConflict']]],
    );
  });

  it('are removed once until the cache shows them gone; again after a failed write', async () => {
    const patches: unknown[] = [];
    let fail = false;
    const client = {
      patch: <T>(path: string, body: unknown): Promise<T> => {
        patches.push({ path, body });
        return fail ? Promise.reject(new Error('boom')) : Promise.resolve({} as T);
      },
    };
    const s = new StaleConditions({ client, log: makeLogger({ level: 'silent' }) });
    const gone = svc('gone', ['bollard.io/Verified']);
    s.remove(
      staleVerification([gone], () => false),
      ['ns/gone'],
    );
    s.remove(
      staleVerification([gone], () => false),
      ['ns/gone'],
    );
    assert.equal(patches.length, 1, 'one write while in flight');
    assert.deepEqual(patches[0], {
      path: '/api/v1/namespaces/ns/services/gone/status',
      body: { status: { conditions: [{ type: 'bollard.io/Verified', $patch: 'delete' }] } },
    });
    // the cache caught up (no conditions), then a prober wrote them again and it went stale again
    s.remove(
      staleVerification([svc('gone', [])], () => false),
      ['ns/gone'],
    );
    fail = true;
    s.remove(
      staleVerification([gone], () => false),
      ['ns/gone'],
    );
    assert.equal(patches.length, 2);
    await new Promise<void>((r) => setImmediate(r));
    fail = false;
    s.remove(
      staleVerification([gone], () => false),
      ['ns/gone'],
    );
    assert.equal(patches.length, 3, 'a failed write is tried again at the next pass');
  });
});
