// Conflicts with other LoadBalancer implementations, against a real kube-apiserver (the controller runs
// in-process with its ServiceAccount's token):
// - a second controller rewrites status.loadBalancer of a Bollard Service at every turn: Bollard raises
//   bollard.io/ImplementationConflict (ForeignStatusWriter), one Warning Event, bollard_conflicts, and
//   answers each foreign write with at most one write of its own, at a growing interval (counted on a
//   watch of the Service: no write loop); when the other writer stops, Bollard's status holds and the
//   condition clears;
// - a k3s ServiceLB DaemonSet (svclb-*), then a kube-vip DaemonSet, then MetalLB's controller Deployment
//   appear: OtherLoadBalancer on the Service, an Event, the metric, the explain line; gone: cleared.
// Detection delays are printed as `# ` lines, never asserted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { runController, type RunningController } from '../../controller/main.js';
import { KubeClient, RESOURCES, resourcePath } from '../../k8s/client.js';
import { repoPath } from '../support/repo.js';
import { gather } from '../../cli/explain/gather.js';
import { explainService } from '../../cli/explain/service.js';
import { renderService } from '../../cli/explain/render.js';
import {
  applyManifest,
  create,
  eventsFor,
  get,
  ingressIPs,
  installCRDs,
  lbService,
  namespaceObj,
  pool,
  waitForIPs,
  type Obj,
} from './controller-helpers.js';

const NS = 'metallb-system';
const APP_NS = 'conflicts';
const FOREIGN_IP = '198.51.100.77';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}

function condition(svc: Obj | undefined): Cond | undefined {
  return ((svc?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === 'bollard.io/ImplementationConflict',
  );
}

describe('implementation conflicts on a real apiserver', () => {
  let cp: ControlPlane;
  let ctl: RunningController | undefined;
  let admin: KubeClient | undefined;
  const watchStop = new AbortController();

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await create(cp, namespaceObj(APP_NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    const kubeconfig = await cp.kubeconfigFor(NS, 'controller');
    mkdirSync(cp.logDir, { recursive: true });
    const file = createWriteStream(join(cp.logDir, 'controller-conflicts.log'));
    ctl = await runController({
      kubeconfig,
      namespace: NS,
      metricsBind: '127.0.0.1:0',
      logger: pino({ level: 'debug', formatters: { level: (l) => ({ level: l }) } }, file),
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
      foreignWriterPolicy: { rewrite: { initialMs: 500, maxMs: 4000 }, quietMs: 3000 },
    });
    await waitFor('leader', () => (ctl?.reconciler.isLeader ? true : undefined), 15_000);
    await create(cp, pool(NS, 'conflicts', { addresses: ['10.7.0.0/29'] }));
    admin = KubeClient.load(cp.adminKubeconfig);
  });
  after(async () => {
    watchStop.abort();
    admin?.close();
    await ctl?.stop();
    await cp?.stop();
  });

  async function metric(kind: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${ctl?.metricsPort}/metrics`)).text();
    const m = new RegExp(`^bollard_conflicts\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  }

  /** `bollard explain service` (admin kubeconfig, no speakers): its Conflicts lines. */
  async function explainConflicts(name: string): Promise<string[]> {
    // (a CRD's watch cache may still answer 429 "storage is (re)initializing" right after start)
    const snap = await waitFor(
      'explain snapshot',
      () =>
        gather({
          kubeconfig: cp.adminKubeconfig,
          namespace: NS,
          lbClass: '',
          speakerMetrics: [],
          speakerPort: 7472,
          eventsNamespace: APP_NS,
        }),
      20_000,
      200,
    );
    const text = renderService(explainService(snap, `${APP_NS}/${name}`));
    const lines = text.split('\n');
    const at = lines.indexOf('Conflicts:');
    const out = at < 0 ? [] : lines.slice(at, lines.indexOf('', at));
    for (const l of [lines[0] ?? '', ...out]) console.log(`# explain: ${l}`);
    return out;
  }

  async function svcNow(name: string): Promise<Obj | undefined> {
    return get(cp, lbService(APP_NS, name));
  }

  it('a second controller rewriting status: conflict raised once, no write loop, cleared when it stops', async () => {
    await create(cp, lbService(APP_NS, 'fought'));
    const [ours] = await waitForIPs(cp, APP_NS, 'fought', 1);
    assert.ok(ours);
    const c = admin as KubeClient;
    const path = resourcePath(RESOURCES.services, APP_NS, 'fought');

    // Every status change of the Service, as the apiserver serves it: who wrote which IP.
    const seen: { ip: string; at: number }[] = [];
    let onChange: () => void = () => undefined;
    const start = await c.get<Obj>(path);
    let lastIP = ingressIPs(start)[0] ?? '';
    const watching = c.watch(
      resourcePath(RESOURCES.services, APP_NS),
      { fieldSelector: 'metadata.name=fought', resourceVersion: start.metadata.resourceVersion },
      (ev) => {
        const ip = ingressIPs(ev.object as Obj)[0] ?? '';
        if (ip !== lastIP) {
          lastIP = ip;
          seen.push({ ip, at: performance.now() });
        }
        onChange();
      },
      watchStop.signal,
    );

    // The other controller: sets its own IP whenever the status is not its own, 6 times, as
    // "other-lb" (its field manager), and awaits Bollard's answer each time.
    const rounds = 6;
    let firstDetection = 0;
    for (let i = 0; i < rounds; i++) {
      const mark = seen.length;
      const t0 = performance.now();
      await c.patch(
        `${path}/status`,
        { status: { loadBalancer: { ingress: [{ ip: FOREIGN_IP, ipMode: 'VIP' }] } } },
        'merge',
        { fieldManager: 'other-lb' },
      );
      if (i === 0) {
        const cond = await waitFor(
          'ImplementationConflict True',
          async () => {
            const k = condition(await svcNow('fought'));
            return k?.status === 'True' ? k : undefined;
          },
          20_000,
          50,
        );
        firstDetection = performance.now() - t0;
        assert.equal(cond.reason, 'ForeignStatusWriter');
        assert.match(cond.message, /rewritten by other-lb \(to 198\.51\.100\.77\)/);
        console.log(
          `# foreign status writer: condition True ${firstDetection.toFixed(0)} ms after its write`,
        );
        assert.equal(await metric('foreign_status_writer'), 1);
        const lines = await explainConflicts('fought');
        assert.match(
          lines[1] ?? '',
          /✗ bollard\.io\/ImplementationConflict=True ForeignStatusWriter since .*rewritten by other-lb/,
        );
      }
      // Bollard's answer: its IP back, on the watch (or the watch ends, which fails the test)
      await Promise.race([
        new Promise<void>((resolve) => {
          // after this round's foreign write, Bollard's IP again
          onChange = () => {
            const since = seen.slice(mark);
            const f = since.findIndex((x) => x.ip === FOREIGN_IP);
            if (f >= 0 && since.slice(f + 1).some((x) => x.ip === ours)) resolve();
          };
          onChange();
        }),
        watching.then(() => {
          throw new Error('the watch ended before Bollard wrote its status back');
        }),
      ]);
    }
    // The other writer stopped; Bollard's status holds and the conflict clears after the quiet period.
    const cleared = await waitFor(
      'ImplementationConflict False',
      async () => {
        const k = condition(await svcNow('fought'));
        return k?.status === 'False' ? k : undefined;
      },
      30_000,
      100,
    );
    assert.equal(cleared.reason, 'NoConflict');
    assert.deepEqual(ingressIPs(await svcNow('fought')), [ours]);
    assert.equal(await metric('foreign_status_writer'), 0);

    const bollardWrites = seen.filter((s) => s.ip === ours);
    const foreignWrites = seen.filter((s) => s.ip === FOREIGN_IP);
    assert.equal(foreignWrites.length, rounds);
    // each foreign write answered by exactly one write of Bollard's: no loop
    assert.equal(bollardWrites.length, rounds);
    const answers = bollardWrites.map((b, i) => b.at - (foreignWrites[i]?.at ?? 0));
    console.log(
      `# Bollard's write-backs after each foreign write (ms): ${answers.map((a) => a.toFixed(0)).join(', ')}`,
    );

    const events = (await eventsFor(cp, APP_NS, 'fought')).filter((e) => e.reason === 'ForeignStatusWriter');
    assert.equal(events.length, 1, 'one Warning Event per transition into the conflict');
    assert.equal(events[0]?.type, 'Warning');
    watchStop.abort();
    await watching;
  });

  it('another implementation installed (k3s ServiceLB, kube-vip, MetalLB): OtherLoadBalancer; removed: cleared', async () => {
    await create(cp, lbService(APP_NS, 'plain'));
    await waitForIPs(cp, APP_NS, 'plain', 1);
    const ds = (kind: string, name: string, image: string) => ({
      apiVersion: 'apps/v1',
      kind,
      metadata: {
        name,
        namespace: 'kube-system',
        ...(name.startsWith('svclb-') ? { labels: { 'svccontroller.k3s.cattle.io/svcname': 'plain' } } : {}),
      },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'lb', image }] },
        },
      },
    });
    for (const [kind, name, image, impl] of [
      ['DaemonSet', 'svclb-plain-3f2a1b0c', 'rancher/klipper-lb:v0.4.9', 'k3s ServiceLB'],
      ['DaemonSet', 'kube-vip-ds', 'ghcr.io/kube-vip/kube-vip:v0.8.0', 'kube-vip'],
      ['Deployment', 'controller', 'quay.io/metallb/controller:v0.14.8', 'MetalLB'],
    ] as const) {
      const dsPath = `/apis/apps/v1/namespaces/kube-system/${kind.toLowerCase()}s`;
      const t0 = performance.now();
      const r = await cp.request('POST', dsPath, ds(kind, name, image));
      assert.ok(r.status === 201, r.body);
      const cond = await waitFor(
        `OtherLoadBalancer (${impl})`,
        async () => {
          const k = condition(await svcNow('plain'));
          return k?.status === 'True' && k.message.includes(name) ? k : undefined;
        },
        20_000,
        50,
      );
      console.log(
        `# ${impl}: OtherLoadBalancer ${(performance.now() - t0).toFixed(0)} ms after its ${kind} was created`,
      );
      assert.equal(cond.reason, 'OtherLoadBalancer');
      assert.match(cond.message, new RegExp(impl));
      assert.equal(await metric('other_load_balancer'), 1);
      const lines = await explainConflicts('plain');
      assert.match(
        lines[1] ?? '',
        new RegExp(`✗ bollard\\.io/ImplementationConflict=True OtherLoadBalancer since .*${impl}`),
      );
      const events = await waitFor(
        'OtherLoadBalancer Event',
        async () => {
          const e = (await eventsFor(cp, APP_NS, 'plain')).filter((x) => x.reason === 'OtherLoadBalancer');
          return e.some((x) => x.note.includes(name)) ? e : undefined;
        },
        20_000,
      );
      assert.ok(events.every((e) => e.type === 'Warning'));
      const del = await cp.request('DELETE', `${dsPath}/${name}`);
      assert.ok(del.status === 200 || del.status === 202, del.body);
      const gone = await waitFor(
        'ImplementationConflict cleared',
        async () => {
          const k = condition(await svcNow('plain'));
          return k?.status === 'False' ? k : undefined;
        },
        20_000,
        50,
      );
      assert.equal(gone.reason, 'NoConflict');
      assert.equal(await metric('other_load_balancer'), 0);
    }
  });
});
