// The controller under faults, against a real etcd + kube-apiserver with two controller processes:
// a SIGKILL of the leader, an apiserver restart and an etcd restart, each in the middle of a burst of
// Service creations; then the apiserver stopped for ~10 s. Every status change is recorded through a
// watch, and every write the controller makes to Services is recorded by the apiserver's audit log
// (a status write that changes nothing is invisible to a watch). Outcomes asserted: every Service ends
// with exactly one IP, no IP is held twice, no Service that had an IP ever changes it, each Service's
// status is written once, and after an outage nothing is written for Services that did not need it.
// The long version (1,000 Services, 60 s outage) is `npm run bench -- chaos`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { delay, waitFor } from '../../lab/process.js';
import { KubeClient } from '../../k8s/client.js';
import { repoPath } from '../support/repo.js';
import {
  StatusRecorder,
  auditWrites,
  burst,
  controllerEntry,
  leaseHolder,
  spawnController,
  statusWritesPerService,
  waitLeaderIdle,
  writeAuditPolicy,
  type ControllerProc,
} from '../support/chaos.js';
import { applyManifest, create, installCRDs, namespaceObj, pool } from './controller-helpers.js';

const NS = 'metallb-system';
const COUNT = 120;
const OUTAGE_MS = 10_000;

describe('controller reliability: faults mid-burst (2 controller processes)', { timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  let kubeconfig = '';
  let recorder: StatusRecorder;
  let audit: ReturnType<typeof writeAuditPolicy>;
  const auditDir = mkdtempSync(join(tmpdir(), 'bollard-audit-'));
  const ctls: ControllerProc[] = [];

  before(async () => {
    assert.ok(existsSync(controllerEntry()), `${controllerEntry()} missing: build first (npx tsc -p .)`);
    audit = writeAuditPolicy(auditDir, `system:serviceaccount:${NS}:controller`);
    // BOLLARD_CHAOS_DIR keeps the control plane's folder (logs, audit log) for a post-mortem.
    const keep = process.env.BOLLARD_CHAOS_DIR;
    cp = await startControlPlane({ apiserverArgs: audit.args, ...(keep ? { dir: keep } : {}) });
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    kubeconfig = await cp.kubeconfigFor(NS, 'controller');
    admin = KubeClient.fromFile(cp.adminKubeconfig);
    await create(cp, pool(NS, 'chaos', { addresses: ['10.80.0.0/20'] }));
    recorder = new StatusRecorder(cp.adminKubeconfig);
    await recorder.start();
    ctls.push(await spawnController('ctl-a', kubeconfig, cp.logDir));
    await waitFor('ctl-a leads', async () => ((await holder()) === 'ctl-a' ? true : undefined), 60_000, 200);
    ctls.push(await spawnController('ctl-b', kubeconfig, cp.logDir));
  });

  after(async () => {
    await recorder?.stop().catch(() => undefined);
    for (const c of ctls) await c.proc.kill();
    admin?.close();
    await cp?.stop();
    rmSync(auditDir, { recursive: true, force: true });
  });

  const holder = (): Promise<string> => leaseHolder(cp, NS);

  /** For a failure message: which controller exited how, with the end of its log. */
  async function exitedControllers(): Promise<string> {
    const out: string[] = [];
    for (const c of ctls.filter((x) => !x.proc.running)) {
      const log = join(cp.logDir, `controller-${c.id}.log`);
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-6).join('\n') : '';
      out.push(`${c.id} exited ${JSON.stringify(await c.proc.exited)}:\n${tail}`);
    }
    return out.join('\n');
  }

  const leaderIdle = (): Promise<void> => waitLeaderIdle(cp, NS, ctls, 60_000);

  /** Every Service of the namespace has one IP (as the watch sees it); resolves with them. */
  async function allAssigned(
    ns: string,
    names: readonly string[],
    timeoutMs = 180_000,
  ): Promise<Map<string, string>> {
    return waitFor(
      `${names.length} Services in ${ns} with an IP`,
      () => {
        const m = new Map<string, string>();
        for (const n of names) {
          const ips = recorder.ips(`${ns}/${n}`);
          if (ips.length !== 1) return undefined;
          m.set(n, ips[0] as string);
        }
        return m;
      },
      timeoutMs,
      250,
    );
  }

  /** The outcome every case asserts. */
  async function assertOutcome(ns: string, names: readonly string[]): Promise<void> {
    const got = await allAssigned(ns, names);
    // the apiserver's own view agrees with the watch
    const list = await admin.get<{
      items: { metadata: { name: string }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }[];
    }>(`/api/v1/namespaces/${ns}/services`);
    for (const s of list.items) {
      const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
      assert.deepEqual(ips, [got.get(s.metadata.name)], `${ns}/${s.metadata.name}: stored status`);
    }
    // no IP held twice, across every Service in the cluster
    const all = recorder.keys().flatMap((k) => recorder.ips(k));
    assert.equal(new Set(all).size, all.length, 'an IP is held by two Services');
    assert.deepEqual(recorder.violations(`${ns}/`), [], 'a Service that had an IP changed it');
    // no Service's status written twice (no churn, no second writer). At most once, not exactly once: a
    // write in flight when its leader is SIGKILLed is committed, but its audit event may not say 2xx.
    const writes = statusWritesPerService(auditWrites(audit.log));
    const many = names
      .filter((n) => (writes.get(`${ns}/${n}`) ?? 0) > 1)
      .map((n) => `${n}: ${writes.get(`${ns}/${n}`)}`);
    assert.deepEqual(many, [], 'Services whose status was written more than once');
  }

  it(`SIGKILL of the leader during a burst of ${COUNT} Services`, async () => {
    await create(cp, namespaceObj('k1'));
    let killed: string | undefined;
    const names = await burst(admin, {
      namespace: 'k1',
      count: COUNT,
      onCreated: async (done) => {
        if (done !== Math.floor(COUNT / 3) || killed) return;
        killed = await holder();
        const leader = ctls.find((c) => c.id === killed);
        assert.ok(leader, `leader ${killed} is one of ours`);
        await leader.proc.kill();
      },
    });
    assert.ok(killed, 'the leader was killed mid-burst');
    const survivor = ctls.find((c) => c.id !== killed && c.proc.running);
    assert.ok(survivor);
    await waitFor(
      `${survivor.id} leads`,
      async () => ((await holder()) === survivor.id ? true : undefined),
      60_000,
      200,
    );
    await assertOutcome('k1', names);
    // bring the pair back for the next cases
    const idx = ctls.findIndex((c) => c.id === killed);
    ctls.splice(idx, 1);
    ctls.push(await spawnController(`${killed}-2`, kubeconfig, cp.logDir));
  });

  it(`apiserver restart during a burst of ${COUNT} Services`, async () => {
    await create(cp, namespaceObj('k2'));
    let restarted = false;
    const names = await burst(admin, {
      namespace: 'k2',
      count: COUNT,
      onCreated: async (done) => {
        if (done !== Math.floor(COUNT / 3) || restarted) return;
        restarted = true;
        await cp.restartApiserver();
      },
    });
    assert.ok(restarted);
    await assertOutcome('k2', names);
    assert.equal(await exitedControllers(), '', 'a controller process exited');
  });

  it(`etcd restart during a burst of ${COUNT} Services`, async () => {
    await create(cp, namespaceObj('k3'));
    let restarted = false;
    const names = await burst(admin, {
      namespace: 'k3',
      count: COUNT,
      onCreated: async (done) => {
        if (done !== Math.floor(COUNT / 3) || restarted) return;
        restarted = true;
        await cp.restartEtcd();
      },
    });
    assert.ok(restarted);
    await assertOutcome('k3', names);
    assert.equal(await exitedControllers(), '', 'a controller process exited');
  });

  it(`apiserver stopped for ${OUTAGE_MS / 1000} s: no status churn after it returns`, async () => {
    const before = recorder.keys().length;
    assert.ok(before >= 3 * COUNT, `${before} Services exist`);
    // quiescent first: every Service has its status and the pool annotation, the leader's queue is empty
    await waitFor(
      'every Service annotated',
      async () => {
        const l = await admin.get<{ items: { metadata: { annotations?: Record<string, string> } }[] }>(
          '/api/v1/services',
        );
        return l.items.filter((x) => !x.metadata.annotations?.['metallb.io/ip-allocated-from-pool']).length <=
          1
          ? true
          : undefined;
      },
      60_000,
      250,
    );
    await leaderIdle();
    await cp.stopApiserver();
    await delay(OUTAGE_MS); // the fault itself: the apiserver is away this long
    await cp.startApiserver();
    const back = Date.now();
    // the controllers work again: a new Service gets an IP …
    await create(cp, namespaceObj('k4'));
    const fresh = await burst(admin, { namespace: 'k4', count: 1 });
    await allAssigned('k4', fresh);
    // … and the leader has drained its queue after relisting everything
    await leaderIdle();
    const after = auditWrites(audit.log, back - 1000).filter((w) => w.key.split('/')[0] !== 'k4');
    assert.deepEqual(after, [], 'writes to Services that did not need one after the apiserver returned');
    assert.deepEqual(recorder.violations(), [], 'a Service that had an IP changed it');
  });
  // Regression: a new leader on a stale cache re-patched status over a previous leader's write after a
  // conflict, moving the Service. Deterministic form: the status names a valid free IP the allocator
  // does not give the Service (as a previous leader would have written it) — it is adopted, not
  // overwritten.
  it('a status written by someone else with a valid free IP is kept, not overwritten', async () => {
    await create(cp, namespaceObj('k5'));
    const [name] = await burst(admin, { namespace: 'k5', count: 1 });
    const [first] = [...(await allAssigned('k5', [name as string])).values()];
    assert.ok(first);
    const other = '10.80.15.200';
    const at = Date.now();
    const r = await cp.request(
      'PATCH',
      `/api/v1/namespaces/k5/services/${name}/status`,
      { status: { loadBalancer: { ingress: [{ ip: other, ipMode: 'VIP' }] } } },
      'application/merge-patch+json',
    );
    assert.equal(r.status, 200, r.body);
    await waitFor(
      'the leader adopts the status',
      () =>
        readdirSync(cp.logDir)
          .filter((f) => f.startsWith('controller-'))
          .some((f) =>
            readFileSync(join(cp.logDir, f), 'utf8').includes(
              `Service k5/${name} keeps ${other} from its status`,
            ),
          )
          ? true
          : undefined,
      30_000,
      100,
    );
    await leaderIdle();
    const writes = auditWrites(audit.log, at).filter(
      (w) => w.key === `k5/${name}` && w.subresource === 'status',
    );
    assert.deepEqual(writes, [], 'the controller wrote the status back');
    assert.deepEqual(recorder.ips(`k5/${name}`), [other]);
  });
});
