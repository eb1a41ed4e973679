// The real control plane: versions, Service allocation by the apiserver, the status subresource, RBAC.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { readPins } from '../../lab/toolchain.js';
import { ApiError, KubeClient } from '../../k8s/client.js';

interface Service {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    ports: Array<{ port: number; nodePort?: number }>;
    healthCheckNodePort?: number;
    clusterIPs?: string[];
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip: string; ipMode?: string }> } };
}

describe('control plane', () => {
  let cp: ControlPlane;
  let admin: KubeClient;
  before(async () => {
    cp = await startControlPlane();
    admin = KubeClient.fromFile(cp.adminKubeconfig);
  });
  after(async () => {
    admin?.close();
    await cp?.stop();
  });

  it('kubectl reports the pinned server version', () => {
    const out = execFileSync('kubectl', ['--kubeconfig', cp.adminKubeconfig, 'version', '-o', 'json'], {
      encoding: 'utf8',
    });
    const v = JSON.parse(out) as { serverVersion: { gitVersion: string } };
    assert.equal(v.serverVersion.gitVersion, readPins().kubernetes);
  });

  it('allocates nodePort and healthCheckNodePort for an ETP Local LoadBalancer, dual-stack clusterIPs, and accepts a status patch', async () => {
    await admin.create('/api/v1/namespaces', { metadata: { name: 'shop' } });
    const created = await admin.create<Service>('/api/v1/namespaces/shop/services', {
      metadata: { name: 'web' },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        ipFamilyPolicy: 'RequireDualStack',
        selector: { app: 'web' },
        ports: [{ port: 80, protocol: 'TCP' }],
      },
    });
    const nodePort = created.spec.ports[0]?.nodePort ?? 0;
    assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort} in range`);
    assert.ok((created.spec.healthCheckNodePort ?? 0) >= 30000, 'healthCheckNodePort allocated');
    assert.equal(created.spec.clusterIPs?.length, 2, 'one clusterIP per family');

    const patched = await admin.patch<Service>('/api/v1/namespaces/shop/services/web/status', {
      metadata: { resourceVersion: created.metadata.resourceVersion },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'VIP' }] } },
    });
    assert.deepEqual(patched.status?.loadBalancer?.ingress, [{ ip: '192.0.2.10', ipMode: 'VIP' }]);

    // A stale resourceVersion is a conflict, not a silent overwrite.
    await assert.rejects(
      admin.patch('/api/v1/namespaces/shop/services/web/status', {
        metadata: { resourceVersion: created.metadata.resourceVersion },
        status: { loadBalancer: { ingress: [{ ip: '192.0.2.11', ipMode: 'VIP' }] } },
      }),
      (e: unknown) => e instanceof ApiError && e.conflict,
    );
  });

  it('the client reuses its connections: one for requests in a row, at most 64 for 300 at once', async () => {
    // A client certificate (admin) and a ServiceAccount token (what the speaker and controller use).
    await cp.ensure('/api/v1/namespaces', { metadata: { name: 'pool-test' } });
    const sa = KubeClient.fromFile(await cp.kubeconfigFor('pool-test', 'default'));
    try {
      for (const c of [admin, sa]) {
        const before = c.connectionsOpened;
        for (let i = 0; i < 30; i++) await c.get('/version');
        assert.ok(
          c.connectionsOpened - before <= 1,
          `${c.connectionsOpened - before} connections for 30 GETs`,
        );
        const wave = c.connectionsOpened;
        await Promise.all(Array.from({ length: 300 }, () => c.get('/version')));
        const opened = c.connectionsOpened - wave;
        assert.ok(opened <= 64, `${opened} connections for 300 concurrent GETs`);
      }
    } finally {
      sa.close();
    }
  });

  it('refuses a ServiceAccount what its Role does not grant, and allows what it does', async () => {
    await cp.ensure('/api/v1/namespaces', { metadata: { name: 'rbac-test' } });
    await admin.create('/apis/rbac.authorization.k8s.io/v1/namespaces/rbac-test/roles', {
      metadata: { name: 'svc-reader' },
      rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] }],
    });
    await admin.create('/apis/rbac.authorization.k8s.io/v1/namespaces/rbac-test/rolebindings', {
      metadata: { name: 'svc-reader' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'svc-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'rbac-test' }],
    });
    const reader = KubeClient.fromFile(await cp.kubeconfigFor('rbac-test', 'reader'));
    try {
      const list = await reader.get<{ items: unknown[] }>('/api/v1/namespaces/rbac-test/services');
      assert.ok(Array.isArray(list.items));
      for (const attempt of [
        () => reader.get('/api/v1/namespaces/rbac-test/secrets'),
        () => reader.get('/api/v1/namespaces/shop/services'),
        () =>
          reader.create('/api/v1/namespaces/rbac-test/services', {
            metadata: { name: 'x' },
            spec: { ports: [{ port: 1 }] },
          }),
        () => reader.patch('/api/v1/namespaces/shop/services/web/status', { status: {} }),
      ]) {
        await assert.rejects(attempt(), (e: unknown) => e instanceof ApiError && e.forbidden);
      }
    } finally {
      reader.close();
    }
  });
});
