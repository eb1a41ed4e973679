import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventRecorder } from '../../../k8s/events.js';
import { wallClock } from '../../../proto/clock.js';
import type { KubeClient } from '../../../k8s/client.js';

/** Records what the recorder would send to the apiserver. */
function fakeClient() {
  const calls: { verb: 'create' | 'patch'; path: string; body: unknown }[] = [];
  const client = {
    create: async (path: string, body: unknown) => {
      calls.push({ verb: 'create', path, body });
      return body;
    },
    patch: async (path: string, body: unknown) => {
      calls.push({ verb: 'patch', path, body });
      return body;
    },
  };
  return { calls, client: client as unknown as KubeClient };
}

describe('EventRecorder', () => {
  const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', namespace: 'ns', name });

  it('folds a repeat within the window into the series of the first Event; after it, a new Event', async () => {
    let now = 1_000_000;
    const { calls, client } = fakeClient();
    const rec = new EventRecorder(client, {
      controller: 'c',
      instance: 'i',
      windowMs: 60_000,
      clock: { ...wallClock, now: () => now },
    });
    await rec.emit(svc('a'), 'Normal', 'nodeAssigned', 'from node-1');
    now += 1000;
    await rec.emit(svc('a'), 'Normal', 'nodeAssigned', 'from node-1');
    await rec.emit(svc('a'), 'Normal', 'nodeAssigned', 'from node-2');
    now += 60_000;
    await rec.emit(svc('a'), 'Normal', 'nodeAssigned', 'from node-2');
    assert.deepEqual(
      calls.map((c) => c.verb),
      ['create', 'patch', 'create', 'create'],
    );
    assert.deepEqual((calls[1]?.body as { series: { count: number } }).series.count, 2);
  });

  it('keeps folding repeats with thousands of distinct Events remembered (expired ones are pruned)', async () => {
    let now = 0;
    const { calls, client } = fakeClient();
    const rec = new EventRecorder(client, {
      controller: 'c',
      instance: 'i',
      windowMs: 10_000,
      clock: { ...wallClock, now: () => now },
    });
    for (let i = 0; i < 12_000; i++) await rec.emit(svc(`s${i}`), 'Normal', 'nodeAssigned', 'x');
    now += 5_000;
    await rec.emit(svc('s11999'), 'Normal', 'nodeAssigned', 'x'); // within the window: a series
    now += 20_000;
    await rec.emit(svc('s1'), 'Normal', 'nodeAssigned', 'x'); // expired: new
    assert.deepEqual(
      calls.slice(-2).map((c) => c.verb),
      ['patch', 'create'],
    );
  });
});
