// Informer listeners that throw: the event still reaches the other listeners, the failure is reported
// with the object and counted, and the listener gets the event again (on a fake clock) once it takes it.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import {
  informerListenerErrors,
  ListenerDelivery,
  type InformerEvents,
  type ListenerFailure,
} from '../../../k8s/informer-delivery.js';

interface Obj {
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  v: number;
}

const obj = (name: string, v: number): Obj => ({ kind: 'ConfigMap', metadata: { name, namespace: 'ns' }, v });

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const emitter = new EventEmitter<InformerEvents<Obj>>();
  const cache = new Map<string, Obj>();
  const failures: { err: string; f: ListenerFailure }[] = [];
  const d = new ListenerDelivery<Obj>({
    resource: 'configmaps',
    emitter,
    current: (k) => cache.get(k),
    onError: (err, f) => failures.push({ err: err.message, f }),
    backoff: { initialMs: 200, maxMs: 1000 },
  });
  t.after(() => d.stop());
  /** Applies an event to the cache, then delivers it, as the informer does. */
  const put = (o: Obj): void => {
    const key = `ns/${o.metadata.name}`;
    const old = cache.get(key);
    cache.set(key, o);
    if (old) d.update(key, o, old);
    else d.add(key, o);
  };
  const remove = (name: string): void => {
    const key = `ns/${name}`;
    const old = cache.get(key);
    cache.delete(key);
    if (old) d.delete(key, old);
  };
  return { emitter, d, failures, put, remove, tick: (ms: number) => t.mock.timers.tick(ms) };
}

async function errorsCounted(): Promise<number> {
  const m = await informerListenerErrors.get();
  return m.values.find((v) => v.labels.resource === 'configmaps')?.value ?? 0;
}

describe('informer listener delivery', () => {
  it('a throwing listener does not keep the event from the others, is reported and gets it again', async (t) => {
    const { emitter, d, failures, put, tick } = setup(t);
    const before = await errorsCounted();
    let broken = true;
    const gotByFlaky: number[] = [];
    const gotByOther: number[] = [];
    emitter.on('add', (o) => {
      if (broken) throw new Error('listener bug');
      gotByFlaky.push(o.v);
    });
    emitter.on('add', (o) => gotByOther.push(o.v));

    put(obj('a', 1));
    assert.deepEqual(gotByOther, [1], 'the other listener got the event');
    assert.deepEqual(gotByFlaky, []);
    assert.equal(d.pending, 1);
    assert.deepEqual(failures, [
      {
        err: 'listener bug',
        f: {
          resource: 'configmaps',
          event: 'add',
          object: { kind: 'ConfigMap', namespace: 'ns', name: 'a' },
          retryInMs: 200,
        },
      },
    ]);
    assert.equal(await errorsCounted(), before + 1);

    tick(200); // still broken: retried, reported again, the backoff doubles
    assert.equal(failures.length, 2);
    assert.equal(failures[1]?.f.retryInMs, 400);
    broken = false;
    tick(400);
    assert.deepEqual(gotByFlaky, [1], 'delivered once the listener takes it');
    assert.deepEqual(gotByOther, [1], 'the others are not called again');
    assert.equal(d.pending, 0);
    assert.equal(await errorsCounted(), before + 2);
  });

  it('later events for the object fold into the waiting one, which carries the current object', (t) => {
    const { emitter, put, tick } = setup(t);
    let broken = true;
    const updates: string[] = [];
    emitter.on('update', (o, old) => {
      if (broken) throw new Error('listener bug');
      updates.push(`${old.v}->${o.v}`);
    });
    put(obj('a', 1));
    put(obj('a', 2)); // throws: waits
    put(obj('a', 3)); // folded into the waiting update
    broken = false;
    tick(200);
    assert.deepEqual(updates, ['1->3'], 'one update, from what the listener last had to the current object');
  });

  it('an add whose object was deleted before the retry is dropped; the delete reaches the delete listeners', (t) => {
    const { emitter, d, put, remove, tick } = setup(t);
    const adds: number[] = [];
    const deletes: string[] = [];
    let broken = true;
    emitter.on('add', (o) => {
      if (broken) throw new Error('listener bug');
      adds.push(o.v);
    });
    emitter.on('delete', (o) => deletes.push(o.metadata.name));
    put(obj('gone', 1));
    remove('gone');
    broken = false;
    put(obj('kept', 7));
    tick(200);
    assert.deepEqual(adds, [7]);
    assert.deepEqual(deletes, ['gone']);
    assert.equal(d.pending, 0);
  });

  it('synced and delete are retried as they were', (t) => {
    const { emitter, d, put, remove, tick } = setup(t);
    let broken = true;
    const seen: string[] = [];
    emitter.on('synced', () => {
      if (broken) throw new Error('synced bug');
      seen.push('synced');
    });
    emitter.on('delete', (o) => {
      if (broken) throw new Error('delete bug');
      seen.push(`delete ${o.metadata.name} ${o.v}`);
    });
    put(obj('x', 1));
    remove('x');
    d.synced();
    assert.equal(d.pending, 2);
    broken = false;
    tick(200);
    assert.deepEqual(seen.sort(), ['delete x 1', 'synced']);
  });

  it('a listener removed meanwhile is not called again, and a stopped delivery retries after resume', (t) => {
    const { emitter, d, put, tick } = setup(t);
    const calls: string[] = [];
    const removed = (): void => {
      calls.push('removed');
      throw new Error('bug');
    };
    let broken = true;
    const kept = (o: Obj): void => {
      calls.push(`kept ${o.v}`);
      if (broken) throw new Error('bug');
    };
    emitter.on('add', removed);
    emitter.on('add', kept);
    put(obj('a', 1));
    emitter.off('add', removed);
    d.stop();
    broken = false;
    tick(10_000);
    assert.deepEqual(calls, ['removed', 'kept 1'], 'no retry while stopped');
    d.resume();
    tick(400);
    assert.deepEqual(calls, ['removed', 'kept 1', 'kept 1']);
    assert.equal(d.pending, 0);
  });
});
