// deploy/ against the real apiserver: the kustomization and its overlays pass server-side dry-run,
// the Helm chart's rendered output applies, and the ServiceAccounts get exactly what they need.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { ensureHelm } from '../../lab/toolchain.js';
import { repoPath } from '../support/repo.js';
import { ApiError, KubeClient } from '../../k8s/client.js';

/** Minimal stand-ins for the Prometheus operator's CRDs, so the prometheus overlay can be dry-run. */
const MONITORING_CRDS = ['servicemonitors', 'podmonitors', 'prometheusrules'].map((plural) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.monitoring.coreos.com` },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: {
      plural,
      singular: plural.slice(0, -1),
      kind: {
        servicemonitors: 'ServiceMonitor',
        podmonitors: 'PodMonitor',
        prometheusrules: 'PrometheusRule',
      }[plural],
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
}));

describe('deploy/ on a real apiserver', () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  const kubectl = (...args: string[]): string =>
    execFileSync('kubectl', ['--kubeconfig', cp.adminKubeconfig, ...args], {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });

  before(async () => {
    cp = await startControlPlane();
    admin = KubeClient.fromFile(cp.adminKubeconfig);
    for (const crd of MONITORING_CRDS)
      await admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...MONITORING_CRDS.map((c) => `crd/${c.metadata.name}`),
    );
  });
  after(async () => {
    admin?.close();
    await cp?.stop();
  });

  it('kubectl apply --dry-run=server -k deploy/ passes (namespace and CRDs in place first)', () => {
    kubectl('apply', '-f', repoPath('deploy', 'base', 'namespace.yaml'));
    kubectl('apply', '--server-side', '-k', repoPath('deploy', 'crds'));
    kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd',
      '-l',
      'app.kubernetes.io/part-of=bollard',
    );
    const out = kubectl('apply', '--dry-run=server', '-k', repoPath('deploy'));
    assert.match(out, /deployment\.apps\/controller (created|configured|unchanged) \(server dry run\)/);
    assert.match(out, /daemonset\.apps\/speaker (created|configured|unchanged) \(server dry run\)/);
  });

  it('the l2, bgp and prometheus overlays pass server-side dry-run', () => {
    for (const overlay of ['l2', 'bgp', 'prometheus']) {
      const out = kubectl('apply', '--dry-run=server', '-k', repoPath('deploy', 'overlays', overlay));
      assert.match(out, /daemonset\.apps\/speaker .*\(server dry run\)/, overlay);
    }
  });

  it('applies the manifests for real, and the chart renders and applies into another namespace', () => {
    kubectl('apply', '-k', repoPath('deploy'));
    const helm = ensureHelm(() => undefined);
    const rendered = execFileSync(
      helm,
      [
        'template',
        'bollard-helm',
        repoPath('deploy', 'helm', 'bollard'),
        '--namespace',
        'bollard-helm',
        '--set',
        'prometheus.serviceMonitor=true,prometheus.podMonitor=true',
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    kubectl('create', 'namespace', 'bollard-helm');
    const out = execFileSync('kubectl', ['--kubeconfig', cp.adminKubeconfig, 'apply', '-f', '-'], {
      input: rendered,
      encoding: 'utf8',
    });
    assert.match(out, /daemonset\.apps\/speaker created/);
    assert.match(out, /deployment\.apps\/controller created/);
    assert.match(out, /servicemonitor\.monitoring\.coreos\.com\/bollard-controller created/);
  });

  it('the speaker may patch only Service status (its conditions) and its own Secret; the controller is refused Pods', async () => {
    await admin.create('/api/v1/namespaces', { metadata: { name: 'shop' } }).catch(() => undefined);
    await admin.create('/api/v1/namespaces/shop/services', {
      metadata: { name: 'web' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80 }] },
    });
    await admin.create('/api/v1/namespaces/metallb-system/secrets', {
      metadata: { name: 'memberlist' },
      data: { secretkey: Buffer.from('k').toString('base64') },
    });
    await admin.create('/api/v1/namespaces/metallb-system/secrets', {
      metadata: { name: 'someone-elses' },
      stringData: { x: 'y' },
    });
    const speaker = KubeClient.fromFile(await cp.kubeconfigFor('metallb-system', 'speaker'));
    const controller = KubeClient.fromFile(await cp.kubeconfigFor('metallb-system', 'controller'));
    const refused = (e: unknown) => e instanceof ApiError && e.forbidden;
    try {
      // What each needs works…
      await speaker.get('/api/v1/namespaces/shop/services/web');
      await speaker.get('/api/v1/namespaces/metallb-system/secrets/memberlist');
      await controller.get('/api/v1/namespaces/shop/services/web');
      // …and what it must not do is refused.
      // the speaker patches its own conditions into a Service's status (strategic merge by type)…
      await speaker.patch(
        '/api/v1/namespaces/shop/services/web/status',
        {
          status: {
            conditions: [
              {
                type: 'bollard.io/KubeProxyConflict',
                status: 'False',
                reason: 'NoConflict',
                message: 'test',
                lastTransitionTime: '2026-12-03T00:00:00Z',
              },
            ],
          },
        },
        'strategic',
      );
      // …but cannot replace the status (status.loadBalancer is the controller's) nor change the Service
      await assert.rejects(
        speaker.replace('/api/v1/namespaces/shop/services/web/status', {
          metadata: { name: 'web', namespace: 'shop' },
          status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
        }),
        refused,
      );
      await assert.rejects(
        speaker.patch('/api/v1/namespaces/shop/services/web', { metadata: { labels: { x: 'y' } } }),
        refused,
      );
      await assert.rejects(speaker.get('/api/v1/namespaces/metallb-system/secrets/someone-elses'), refused);
      await assert.rejects(speaker.get('/api/v1/namespaces/metallb-system/secrets'), refused);
      await assert.rejects(speaker.get('/api/v1/namespaces/kube-system/secrets'), refused);
      await assert.rejects(controller.get('/api/v1/pods'), refused);
      await assert.rejects(controller.get('/api/v1/namespaces/shop/pods'), refused);
      await assert.rejects(
        controller.create('/api/v1/namespaces/shop/pods', {
          metadata: { name: 'p' },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        }),
        refused,
      );
      await assert.rejects(
        controller.get('/api/v1/namespaces/metallb-system/secrets/someone-elses'),
        refused,
      );
    } finally {
      speaker.close();
      controller.close();
    }
  });
});
