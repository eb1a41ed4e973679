// The informer layer the controller and speakers stand on: no event lost across watch timeouts,
// a 410 Gone (etcd compacted past the watch's resourceVersion), a kube-apiserver restart, or a
// listener that throws.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { ApiError, KubeClient, RESOURCES } from '../../k8s/client.js';
import { Informer, type ListenerFailure } from '../../k8s/informer.js';
import { informerListenerErrors } from '../../k8s/informer-delivery.js';

interface ConfigMap {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

/** Every event the informer delivered, as `type name value`; a test awaits a line as it arrives. */
class Recorder {
  readonly log: string[] = [];
  readonly errors: Error[] = [];
  private readonly waiters = new Map<string, (() => void)[]>();
  attach(inf: Informer<ConfigMap>): void {
    inf.on('add', (o) => this.record(`add ${o.metadata.name} ${o.data?.v ?? ''}`));
    inf.on('update', (o) => this.record(`update ${o.metadata.name} ${o.data?.v ?? ''}`));
    inf.on('delete', (o) => this.record(`delete ${o.metadata.name}`));
  }
  has(line: string): boolean {
    return this.log.includes(line);
  }
  /** Resolves once the informer has delivered this event (at once if it has). */
  waitFor(line: string): Promise<void> {
    if (this.has(line)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(line, [...(this.waiters.get(line) ?? []), resolve]));
  }
  private record(line: string): void {
    this.log.push(line);
    for (const w of this.waiters.get(line) ?? []) w();
    this.waiters.delete(line);
  }
}

/** The informer listener errors counted for a resource so far in this process. */
async function listenerErrors(resource: string): Promise<number> {
  const m = await informerListenerErrors.get();
  return m.values.find((v) => v.labels.resource === resource)?.value ?? 0;
}

async function etcdPost(endpoint: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${endpoint}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Turns a lost event into a failure within a minute (the runner's own limit is ten); no test waits on it. */
const GUARD = { timeout: 60_000 };

describe('informer', () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  const ns = 'inf';
  const cm = (name: string) => `/api/v1/namespaces/${ns}/configmaps${name ? '/' + name : ''}`;
  before(async () => {
    // Without the watch cache, a watch from a compacted revision gets a real 410 Gone from etcd.
    cp = await startControlPlane({ apiserverArgs: ['--watch-cache=false'] });
    admin = KubeClient.fromFile(cp.adminKubeconfig);
    await admin.create('/api/v1/namespaces', { metadata: { name: ns } });
  });
  after(async () => {
    admin?.close();
    await cp?.stop();
  });

  it('sees every add, update and delete across many short watches', GUARD, async () => {
    const client = KubeClient.fromFile(cp.adminKubeconfig);
    const inf = new Informer<ConfigMap>(client, {
      resource: RESOURCES.configMaps,
      namespace: ns,
      watchTimeoutSeconds: 1,
    });
    const rec = new Recorder();
    rec.attach(inf);
    try {
      await inf.start();
      // Changes keep coming until the watch has been re-opened three times (its server-side timeout
      // is 1-2 s), so changes are made while watches end and start. Each round is paced by the
      // informer delivering the round before it: one round is always in flight.
      const firstWatch = inf.watches;
      const seen = async (j: number): Promise<void> => {
        await rec.waitFor(`add t${j} 1`);
        await rec.waitFor(`update t${j} 2`);
        if (j % 2 === 0) await rec.waitFor(`delete t${j}`);
      };
      let i = 0;
      while (inf.watches < firstWatch + 3) {
        const name = `t${i}`;
        await admin.create(cm(''), { metadata: { name }, data: { v: '1' } });
        await admin.patch(cm(name), { data: { v: '2' } });
        if (i % 2 === 0) await admin.delete(cm(name));
        if (i > 0) await seen(i - 1);
        i++;
      }
      await seen(i - 1);
      assert.ok(inf.watches >= 3, `the watch was re-opened across timeouts (${inf.watches} watches)`);
      assert.equal(inf.list().length, Math.floor(i / 2), 'the cache holds exactly the surviving objects');
    } finally {
      await inf.stop();
      client.close();
    }
  });

  it('relists on 410 Gone and delivers what happened meanwhile', GUARD, async () => {
    const client = KubeClient.fromFile(cp.adminKubeconfig);
    const errors: Error[] = [];
    const inf = new Informer<ConfigMap>(client, {
      resource: RESOURCES.configMaps,
      namespace: ns,
      onError: (e) => errors.push(e),
    });
    const rec = new Recorder();
    rec.attach(inf);
    try {
      await admin.create(cm(''), { metadata: { name: 'gone-kept' }, data: { v: 'a' } });
      await admin.create(cm(''), { metadata: { name: 'gone-deleted' }, data: { v: 'a' } });
      await inf.start();
      await rec.waitFor('add gone-kept a');
      await inf.stop(); // the watch is down from here; the cache keeps its resourceVersion

      await admin.patch(cm('gone-kept'), { data: { v: 'b' } });
      await admin.delete(cm('gone-deleted'));
      await admin.create(cm(''), { metadata: { name: 'gone-new' }, data: { v: 'c' } });
      const range = await etcdPost(cp.etcdEndpoint, '/v3/kv/range', {
        key: Buffer.from('/').toString('base64'),
        limit: 1,
      });
      const revision = (range.header as { revision: string }).revision;
      await etcdPost(cp.etcdEndpoint, '/v3/kv/compaction', { revision, physical: true });

      const listsBefore = inf.lists;
      await inf.start();
      await rec.waitFor('update gone-kept b');
      await rec.waitFor('delete gone-deleted');
      await rec.waitFor('add gone-new c');
      assert.ok(
        errors.some((e) => e instanceof ApiError && e.gone),
        `a 410 was seen: ${errors.map((e) => e.message).join('; ')}`,
      );
      assert.ok(inf.lists > listsBefore, 'the informer relisted');
    } finally {
      await inf.stop();
      client.close();
    }
  });

  it('resumes after a kube-apiserver restart without losing an event', GUARD, async () => {
    const client = KubeClient.fromFile(cp.adminKubeconfig);
    const inf = new Informer<ConfigMap>(client, {
      resource: RESOURCES.configMaps,
      namespace: ns,
      backoffMaxMs: 500,
    });
    const rec = new Recorder();
    rec.attach(inf);
    try {
      await admin.create(cm(''), { metadata: { name: 'r1' }, data: { v: '1' } });
      await inf.start();
      await rec.waitFor('add r1 1');
      await cp.restartApiserver();
      await admin.patch(cm('r1'), { data: { v: '2' } });
      await admin.create(cm(''), { metadata: { name: 'r2' }, data: { v: '1' } });
      await admin.delete(cm('r1'));
      await rec.waitFor('update r1 2');
      await rec.waitFor('add r2 1');
      await rec.waitFor('delete r1');
      assert.ok(inf.watches >= 2, 'the watch was re-opened');
    } finally {
      await inf.stop();
      client.close();
    }
  });

  it(
    'a listener that throws gets the event again once it takes it; the others get it at once',
    GUARD,
    async () => {
      const client = KubeClient.fromFile(cp.adminKubeconfig);
      let reportFailure: (f: ListenerFailure) => void = () => undefined;
      const reported = new Promise<ListenerFailure>((resolve) => (reportFailure = resolve));
      const inf = new Informer<ConfigMap>(client, {
        resource: RESOURCES.configMaps,
        namespace: ns,
        backoffInitialMs: 50,
        backoffMaxMs: 200,
        onListenerError: (_err, f) => reportFailure(f),
      });
      const rec = new Recorder();
      rec.attach(inf);
      let faulty = true;
      let deliver: (o: ConfigMap) => void = () => undefined;
      const delivered = new Promise<ConfigMap>((resolve) => (deliver = resolve));
      inf.on('add', (o) => {
        if (o.metadata.name !== 'listener-fault') return;
        if (faulty) throw new Error('injected listener fault');
        deliver(o);
      });
      try {
        await inf.start();
        const before = await listenerErrors('configmaps');
        await admin.create(cm(''), { metadata: { name: 'listener-fault' }, data: { v: '1' } });
        const failure = await reported;
        assert.deepEqual(failure.object, { kind: 'ConfigMap', namespace: ns, name: 'listener-fault' });
        assert.equal(failure.event, 'add');
        await rec.waitFor('add listener-fault 1'); // the other listener was not held up
        assert.ok((await listenerErrors('configmaps')) > before, 'the failure is counted');

        // While the listener still fails, the object changes: the retry carries the current object.
        await admin.patch(cm('listener-fault'), { data: { v: '2' } });
        await rec.waitFor('update listener-fault 2');
        faulty = false;
        const got = await delivered;
        assert.equal(got.data?.v, '2');
        assert.equal(inf.get(ns, 'listener-fault')?.data?.v, '2', 'the cache holds the current object');
        assert.equal(inf.pendingDeliveries, 0, 'nothing is left to deliver');
      } finally {
        await inf.stop();
        client.close();
      }
    },
  );
});
