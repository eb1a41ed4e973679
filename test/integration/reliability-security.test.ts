// Security against the real apiserver: least privilege of deploy/rbac proven with SelfSubjectAccessReview
// as each ServiceAccount (the apiserver's own RBAC decision, nothing written), for what each program
// needs and a wide set of things it must never be able to do; and the controller's admission webhook
// speaks TLS only (a plain-HTTP AdmissionReview gets no answer; the same over HTTPS does).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { KubeClient } from '../../k8s/client.js';
import { runController, type RunningController } from '../../controller/main.js';
import { repoPath } from '../support/repo.js';
import { applyManifest, create, installCRDs, namespaceObj } from './controller-helpers.js';

const NS = 'metallb-system';

interface Access {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}
const a = (verb: string, resource: string, more: Omit<Access, 'verb' | 'resource'> = {}): Access => ({
  verb,
  resource,
  ...more,
});
const inNs = { namespace: NS };

// What each program must be able to do (a positive control: the reviews are not all "no").
const SPEAKER_NEEDS: Access[] = [
  a('list', 'services'),
  a('watch', 'endpointslices', { group: 'discovery.k8s.io' }),
  a('list', 'nodes'),
  a('get', 'secrets', { ...inNs, name: 'memberlist' }),
  a('create', 'servicel2statuses', { group: 'metallb.io', ...inNs }),
  a('create', 'events', { group: 'events.k8s.io', namespace: 'default' }),
  // its own conditions on the Services (bollard.io/Verified, AddressConflict, KubeProxyConflict)
  a('patch', 'services', { subresource: 'status', namespace: 'default' }),
];
const CONTROLLER_NEEDS: Access[] = [
  a('patch', 'services', { subresource: 'status', namespace: 'default' }),
  a('list', 'ipaddresspools', { group: 'metallb.io', ...inNs }),
  a('update', 'leases', { group: 'coordination.k8s.io', ...inNs, name: 'metallb-controller' }),
  a('create', 'secrets', inNs),
  a('list', 'nodes'), // the webhook, for the rules decided on the Nodes
  a('watch', 'daemonsets', { group: 'apps' }), // another LoadBalancer implementation installed
  a('watch', 'deployments', { group: 'apps' }),
];
// What neither may ever do.
const NOBODY: Access[] = [
  a('list', 'secrets'),
  a('list', 'secrets', inNs),
  a('get', 'secrets', { namespace: 'kube-system', name: 'anything' }),
  a('get', 'secrets', { ...inNs, name: 'someone-elses' }),
  a('create', 'pods', { namespace: 'default' }),
  a('create', 'pods', { subresource: 'exec', namespace: 'default', name: 'p' }),
  a('delete', 'services', { namespace: 'default' }),
  a('create', 'services', { namespace: 'default' }),
  a('delete', 'nodes'),
  a('patch', 'nodes'),
  a('create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }),
  a('create', 'rolebindings', { group: 'rbac.authorization.k8s.io', ...inNs }),
  a('escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }),
  a('bind', 'clusterroles', { group: 'rbac.authorization.k8s.io' }),
  a('impersonate', 'users'),
  a('impersonate', 'serviceaccounts', inNs),
  a('create', 'serviceaccounts', { subresource: 'token', ...inNs, name: 'controller' }),
  a('create', 'customresourcedefinitions', { group: 'apiextensions.k8s.io' }),
  a('delete', 'ipaddresspools', { group: 'metallb.io', ...inNs }),
  a('update', 'bgppeers', { group: 'metallb.io', ...inNs }),
  a('delete', 'leases', { group: 'coordination.k8s.io', ...inNs, name: 'metallb-controller' }),
  a('update', 'leases', {
    group: 'coordination.k8s.io',
    namespace: 'kube-system',
    name: 'kube-controller-manager',
  }),
  a('update', 'configmaps', { namespace: 'kube-system' }),
  a('patch', 'validatingwebhookconfigurations', {
    group: 'admissionregistration.k8s.io',
    name: 'someone-elses',
  }),
  a('create', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }),
];
const SPEAKER_NEVER: Access[] = [
  ...NOBODY,
  a('update', 'services', { subresource: 'status', namespace: 'default' }),
  a('patch', 'services', { namespace: 'default' }),
  a('update', 'services', { namespace: 'default' }),
  a('create', 'secrets', inNs),
  a('update', 'leases', { group: 'coordination.k8s.io', ...inNs, name: 'metallb-controller' }),
  a('patch', 'ipaddresspools', { group: 'metallb.io', subresource: 'status', ...inNs }),
];
const CONTROLLER_NEVER: Access[] = [
  ...NOBODY,
  a('get', 'secrets', { ...inNs, name: 'some-bgp-password' }),
  a('update', 'secrets', { ...inNs, name: 'memberlist' }),
  a('list', 'pods'),
  a('update', 'daemonsets', { group: 'apps', namespace: 'kube-system' }),
  a('get', 'deployments', { group: 'apps', namespace: 'kube-system', name: 'coredns' }),
  a('create', 'servicel2statuses', { group: 'metallb.io', ...inNs }),
  a('update', 'leases', { group: 'coordination.k8s.io', ...inNs, name: 'other-lease' }),
];

describe('security: least-privilege RBAC and a TLS-only webhook', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let speaker: KubeClient;
  let controller: KubeClient;
  let ctl: RunningController | undefined;

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'speaker.yaml'));
    speaker = KubeClient.fromFile(await cp.kubeconfigFor(NS, 'speaker'));
    controller = KubeClient.fromFile(await cp.kubeconfigFor(NS, 'controller'));
  });

  after(async () => {
    await ctl?.stop();
    speaker?.close();
    controller?.close();
    await cp?.stop();
  });

  async function allowed(c: KubeClient, x: Access): Promise<boolean> {
    const r = await c.create<{ status?: { allowed?: boolean } }>(
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: x.verb,
            resource: x.resource,
            group: x.group ?? '',
            ...(x.subresource ? { subresource: x.subresource } : {}),
            ...(x.namespace ? { namespace: x.namespace } : {}),
            ...(x.name ? { name: x.name } : {}),
          },
        },
      },
    );
    return r.status?.allowed === true;
  }
  const show = (x: Access): string =>
    `${x.verb} ${x.group ? x.group + '/' : ''}${x.resource}${x.subresource ? '/' + x.subresource : ''}${x.namespace ? ' in ' + x.namespace : ''}${x.name ? ' ' + x.name : ''}`;

  for (const [who, needs, never] of [
    ['speaker', SPEAKER_NEEDS, SPEAKER_NEVER],
    ['controller', CONTROLLER_NEEDS, CONTROLLER_NEVER],
  ] as const) {
    it(`${who}: allowed what it needs, refused ${never.length} things it must never do`, async () => {
      const c = who === 'speaker' ? speaker : controller;
      const missing: string[] = [];
      for (const x of needs) if (!(await allowed(c, x))) missing.push(show(x));
      assert.deepEqual(missing, [], `${who} lacks`);
      const extra: string[] = [];
      for (const x of never) if (await allowed(c, x)) extra.push(show(x));
      assert.deepEqual(extra, [], `${who} may`);
    });
  }

  it('the webhook answers an AdmissionReview over HTTPS and never over plain HTTP', async () => {
    mkdirSync(cp.logDir, { recursive: true });
    ctl = await runController({
      kubeconfig: await cp.kubeconfigFor(NS, 'controller'),
      namespace: NS,
      metricsBind: '127.0.0.1:0',
      logger: pino({ level: 'debug' }, createWriteStream(join(cp.logDir, 'controller-webhook.log'))),
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
      webhookBind: '127.0.0.1:0',
      webhookIPs: ['127.0.0.1'],
    });
    const port = await waitFor('webhook port', () => ctl?.webhookPort, 30_000);
    const review = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u1',
        kind: { group: 'metallb.io', version: 'v1beta1', kind: 'IPAddressPool' },
        resource: { group: 'metallb.io', version: 'v1beta1', resource: 'ipaddresspools' },
        namespace: NS,
        name: 'p',
        operation: 'CREATE',
        object: {
          apiVersion: 'metallb.io/v1beta1',
          kind: 'IPAddressPool',
          metadata: { name: 'p', namespace: NS },
          spec: { addresses: ['10.77.0.0/24'] },
        },
      },
    });
    const post = (tls: boolean): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const send = tls ? httpsRequest : httpRequest;
        const req = send(
          {
            host: '127.0.0.1',
            port,
            path: '/validate-metallb-io',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(review) },
            timeout: 5000,
            ...(tls ? { rejectUnauthorized: false } : {}),
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(review);
      });
    const ok = await post(true);
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as { response?: { uid?: string } }).response?.uid, 'u1');
    const plain = await post(false).then(
      (r) => `answered ${r.status}: ${r.body.slice(0, 200)}`,
      (err: Error) => `refused: ${err.message}`,
    );
    assert.match(plain, /^refused: /, `plain HTTP was ${plain}`);
  });
});
