// KubeClient's credentials against a real kube-apiserver: a ServiceAccount token read from a file (as in
// a Pod), and a kubeconfig whose user is an exec plugin, which k8s/kubeconfig.ts hands to
// @kubernetes/client-node (loaded only for it); a list and a watch through each.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as fromYaml, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { KubeClient, RESOURCES, resourcePath, type WatchLine } from '../../k8s/client.js';
import { fromKubeconfigFiles } from '../../k8s/kubeconfig.js';

describe('kubeconfig credentials against a real apiserver', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    await cp?.stop();
  });

  /** The admin kubeconfig as parsed YAML (client certificate and key inline). */
  const adminConfig = (): {
    clusters: { cluster: Record<string, string> }[];
    users: { user: Record<string, string> }[];
  } => fromYaml(readFileSync(cp.adminKubeconfig, 'utf8')) as ReturnType<typeof adminConfig>;

  async function listAndWatch(client: KubeClient): Promise<void> {
    const list = await client.get<{ items: unknown[]; metadata: { resourceVersion: string } }>(
      resourcePath(RESOURCES.namespaces),
    );
    assert.ok(list.items.length > 0);
    const ac = new AbortController();
    const seen: WatchLine[] = [];
    await client.watch(
      resourcePath(RESOURCES.namespaces),
      { resourceVersion: '0' },
      (ev) => {
        seen.push(ev);
        ac.abort();
      },
      ac.signal,
    );
    assert.equal(seen[0]?.type, 'ADDED');
    client.close();
  }

  it('a bearer token read from a file', async () => {
    const token = join(cp.dir, 'sa-token');
    await cp.ensure('/api/v1/namespaces', { metadata: { name: 'token-file' } });
    await cp.ensure('/api/v1/namespaces/token-file/serviceaccounts', { metadata: { name: 'reader' } });
    const saKubeconfig = readFileSync(await cp.kubeconfigFor('token-file', 'reader'), 'utf8');
    const sa = fromYaml(saKubeconfig) as { users: { user: { token: string } }[] };
    writeFileSync(token, `${sa.users[0]?.user.token}\n`);
    const admin = adminConfig();
    const path = join(cp.dir, 'token-file.kubeconfig');
    writeFileSync(
      path,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: admin.clusters[0]?.cluster }],
        users: [{ name: 'u', user: { tokenFile: token } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const client = KubeClient.fromFile(path);
    // the ServiceAccount may not list namespaces: a 403 naming it proves the token was sent
    await assert.rejects(
      client.get(resourcePath(RESOURCES.namespaces)),
      /system:serviceaccount:token-file:reader/,
    );
    client.close();
  });

  it('an exec plugin, through @kubernetes/client-node', async () => {
    const admin = adminConfig();
    const credential = {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: {
        clientCertificateData: Buffer.from(
          admin.users[0]?.user['client-certificate-data'] ?? '',
          'base64',
        ).toString(),
        clientKeyData: Buffer.from(admin.users[0]?.user['client-key-data'] ?? '', 'base64').toString(),
      },
    };
    const script = join(cp.dir, 'credential.json');
    writeFileSync(script, JSON.stringify(credential));
    const path = join(cp.dir, 'exec.kubeconfig');
    writeFileSync(
      path,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: admin.clusters[0]?.cluster }],
        users: [
          {
            name: 'u',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1',
                command: process.execPath,
                args: [
                  '-e',
                  `process.stdout.write(require('fs').readFileSync(${JSON.stringify(script)}, 'utf8'))`,
                ],
                interactiveMode: 'Never',
              },
            },
          },
        ],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    assert.ok(fromKubeconfigFiles([path]).delegate);
    await listAndWatch(KubeClient.fromFile(path));
  });

  it('client certificates inline (the admin kubeconfig)', async () => {
    await listAndWatch(KubeClient.fromFile(cp.adminKubeconfig));
  });
});
