// The layer 2 verifier's condition writes on a fake clock and a fake client whose PATCHes the test
// completes: one write per Service at a time, so a change seen while one is in flight is written after
// it lands and the Service ends with the newest conditions (two in flight could land in either order).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { L2Verifier, type VerifierTarget } from '../../../speaker/layer2/verifier.js';
import type { KubeClient } from '../../../k8s/client.js';
import type { Logger } from '../../../k8s/logger.js';
import { FakeClock } from '../../support/fake-clock.js';

const OWNER_MAC = '02:00:00:00:00:01';
const STRANGER = '02:00:00:00:00:99';
const IP = '10.0.0.10';

interface Condition {
  type: string;
  status: string;
}

function fakeClient() {
  const pending: { conditions: Condition[]; done: () => void }[] = [];
  const landed: Condition[][] = [];
  const client = {
    patch: (_path: string, body: { status?: { conditions?: Condition[] } }) =>
      new Promise<unknown>((resolve) => {
        const conditions = body.status?.conditions ?? [];
        pending.push({
          conditions,
          done: () => {
            landed.push(conditions);
            resolve({});
          },
        });
      }),
  };
  return { client: client as unknown as Pick<KubeClient, 'patch'>, pending, landed };
}

const silent = {
  info: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
  error: () => undefined,
} as unknown as Logger;

const target: VerifierTarget = {
  service: 'ns/web',
  ip: IP,
  owner: 'node-1',
  ownerMacs: new Set([OWNER_MAC]),
  facts: {
    key: 'ns/web',
    namespace: 'ns',
    name: 'web',
    labels: {},
    ips: [IP],
    externalTrafficPolicy: 'Cluster',
  },
  interfaces: [],
  undelivered: '',
};

const flush = () => new Promise((r) => setImmediate(r));
const status = (cs: readonly Condition[] | undefined, type: string) =>
  cs?.find((c) => c.type === type)?.status;

describe('layer 2 verifier: condition writes', () => {
  it('writes one set of conditions per Service at a time, the newest last', async () => {
    const clock = new FakeClock();
    const f = fakeClient();
    const v = new L2Verifier({
      node: 'node-2',
      client: f.client,
      log: silent,
      recordEvent: () => undefined,
      metrics: { setVerification: () => undefined, setConflicts: () => undefined },
      probe: () => 1,
      isSpeakerMac: (m) => m === OWNER_MAC,
      clock,
      wallNow: () => new Date('2026-12-03T10:00:00Z'),
      options: { windowMs: 1000, periodMs: 30_000, minPeriodMs: 30_000, retryMs: 2000 },
    });
    try {
      v.setTargets([target]);
      v.claim(IP, OWNER_MAC); // the owner answers the first probe
      clock.advance(1000); // the window closes: Verified
      assert.equal(f.pending.length, 1);
      assert.equal(status(f.pending[0]?.conditions, 'bollard.io/Verified'), 'True');
      assert.equal(status(f.pending[0]?.conditions, 'bollard.io/AddressConflict'), 'False');

      v.claim(IP, STRANGER); // a foreign MAC while the first write is in flight
      assert.equal(f.pending.length, 1, 'the second write waits for the first');

      f.pending.shift()?.done();
      await flush();
      assert.equal(f.pending.length, 1, 'then the newer conditions are written');
      assert.equal(status(f.pending[0]?.conditions, 'bollard.io/AddressConflict'), 'True');
      f.pending.shift()?.done();
      await flush();
      assert.equal(f.landed.length, 2);
      assert.equal(status(f.landed[1], 'bollard.io/AddressConflict'), 'True');
    } finally {
      v.stop();
    }
  });
});
