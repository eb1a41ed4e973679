// The ConfigurationState publisher: one write at a time, the newest status wins, a failed write is
// retried on the clock. The client is a fake whose status PATCHes the test completes one by one, so
// the order in which writes land is the test's to choose.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeClient } from '../../../k8s/client.js';
import { ConfigStatePublisher } from '../../../k8s/config-state.js';
import { configurationStateLabels, type ConfigurationStateStatus } from '../../../k8s/status.js';
import { FakeClock } from '../../support/fake-clock.js';

const spec = { type: 'Speaker', nodeName: 'node-1' } as const;

function fakeClient() {
  const pending: { body: ConfigurationStateStatus; done: (err?: Error) => void }[] = [];
  const landed: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    get: () => Promise.resolve({ metadata: { labels: configurationStateLabels(spec) } }),
    patch: (_path: string, body: { status: ConfigurationStateStatus }) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<void>((resolve, reject) =>
        pending.push({
          body: body.status,
          done: (err) => {
            inFlight--;
            if (err) return reject(err);
            landed.push(body.status.errorSummary);
            resolve();
          },
        }),
      );
    },
  };
  /** Completes the oldest PATCH once one is there. */
  const next = async (err?: Error): Promise<string> => {
    while (pending.length === 0) await new Promise((r) => setImmediate(r));
    const p = pending.shift();
    p?.done(err);
    return p?.body.errorSummary ?? '';
  };
  return {
    client: client as unknown as KubeClient,
    landed,
    next,
    pending,
    maxInFlight: () => maxInFlight,
  };
}

const status = (errorSummary: string): ConfigurationStateStatus => ({
  result: errorSummary ? 'Invalid' : 'Valid',
  errorSummary,
});

function publisher(client: KubeClient, clock = new FakeClock()) {
  const errors: number[] = [];
  const p = new ConfigStatePublisher({
    client,
    namespace: 'metallb-system',
    name: 'speaker-node-1',
    spec,
    clock,
    onError: (_err, retryInMs) => errors.push(retryInMs),
  });
  return { p, errors, clock };
}

describe('ConfigStatePublisher', () => {
  it('writes one status at a time and the newest last, folding those asked for meanwhile', async () => {
    const f = fakeClient();
    const { p } = publisher(f.client);
    const first = p.publish(status('not found'));
    const mid = p.publish(status('stale'));
    const last = p.publish(status('cannot be read'));
    assert.equal(await f.next(), 'not found');
    assert.equal(await f.next(), 'cannot be read');
    await Promise.all([first, mid, last]);
    assert.deepEqual(f.landed, ['not found', 'cannot be read']);
    assert.equal(f.maxInFlight(), 1);
  });

  it('a repeated verdict is not written again, though its condition carries a newer time', async () => {
    const f = fakeClient();
    const { p } = publisher(f.client);
    const cond = (time: string) => ({
      type: 'configReconcilerValid',
      status: 'True' as const,
      reason: 'Reconciled',
      message: '',
      lastTransitionTime: time,
    });
    const a = p.publish({ ...status(''), conditions: [cond('2026-12-03T10:00:00Z')] });
    await f.next();
    await a;
    await p.publish({ ...status(''), conditions: [cond('2026-12-03T10:00:07Z')] });
    assert.equal(f.pending.length, 0);
    assert.deepEqual(f.landed, ['']);
  });

  it('does not write a status already written, unless told to forget', async () => {
    const f = fakeClient();
    const { p } = publisher(f.client);
    const a = p.publish(status(''));
    await f.next();
    await a;
    await p.publish(status(''));
    assert.equal(f.pending.length, 0);
    p.forget();
    const b = p.publish(status(''));
    await f.next();
    await b;
    assert.deepEqual(f.landed, ['', '']);
  });

  it('retries a failed write after the backoff, on the clock', async () => {
    const f = fakeClient();
    const { p, errors, clock } = publisher(f.client);
    const a = p.publish(status('x'));
    await f.next(new Error('apiserver unavailable'));
    await a;
    assert.equal(errors.length, 1);
    assert.ok((errors[0] ?? 0) > 0);
    clock.advance(errors[0] ?? 0);
    assert.equal(await f.next(), 'x');
    assert.deepEqual(f.landed, ['x']);
  });

  it('a newer status is written at once, not after the backoff of the failed one', async () => {
    const f = fakeClient();
    const { p, errors } = publisher(f.client);
    const a = p.publish(status('old'));
    await f.next(new Error('conflict'));
    await a;
    const b = p.publish(status('new'));
    assert.equal(await f.next(), 'new');
    await b;
    assert.deepEqual(f.landed, ['new']);
    assert.equal(errors.length, 1);
  });

  it('writes nothing while not allowed (a controller that no longer leads) or once stopped', async () => {
    const f = fakeClient();
    const { p } = publisher(f.client);
    await p.publish(status('x'), () => false);
    p.stop();
    await p.publish(status('y'));
    assert.equal(f.pending.length, 0);
    assert.deepEqual(f.landed, []);
  });
});
