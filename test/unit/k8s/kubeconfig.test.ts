// k8s/kubeconfig.ts: kubeconfig files and the in-cluster ServiceAccount as plain data, without
// @kubernetes/client-node (which is left what only it does: exec, auth-provider, impersonation, proxies).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  defaultAccess,
  fromKubeconfigFiles,
  inCluster,
  KubeconfigError,
  MaterialCache,
  FILE_REFRESH_MS,
} from '../../../k8s/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'bollard-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(
  name: string,
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
  current = 'ctx',
): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': current,
    }),
  );
  return path;
}

describe('kubeconfig files', () => {
  it('reads a token, inline CA and TLS options of the current context', () => {
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nx\n').toString('base64');
    const a = fromKubeconfigFiles([
      kubeconfig(
        'token.yaml',
        {
          server: 'https://10.0.0.1:6443/',
          'certificate-authority-data': ca,
          'tls-server-name': 'kubernetes',
          'insecure-skip-tls-verify': true,
        },
        { token: 'abc' },
      ),
    ]);
    assert.equal(a.server, 'https://10.0.0.1:6443');
    assert.deepEqual(a.ca, { data: Buffer.from(ca, 'base64') });
    assert.deepEqual(a.token, { data: Buffer.from('abc') });
    assert.equal(a.tlsServerName, 'kubernetes');
    assert.equal(a.insecureSkipTLSVerify, true);
    assert.equal(a.delegate, undefined);
  });

  it('makes file paths absolute against the kubeconfig folder', () => {
    mkdirSync(join(dir, 'sub'), { recursive: true });
    const a = fromKubeconfigFiles([
      kubeconfig(
        'sub/files.yaml',
        { server: 'https://h:6443', 'certificate-authority': 'ca.crt' },
        { 'client-certificate': 'c.crt', 'client-key': '/abs/c.key', tokenFile: 'tok' },
      ),
    ]);
    assert.deepEqual(a.ca, { file: join(dir, 'sub', 'ca.crt') });
    assert.deepEqual(a.cert, { file: join(dir, 'sub', 'c.crt') });
    assert.deepEqual(a.key, { file: '/abs/c.key' });
    assert.deepEqual(a.token, { file: join(dir, 'sub', 'tok') });
  });

  it('hands exec, auth-provider, impersonation and proxies to the library', () => {
    const exec = fromKubeconfigFiles([
      kubeconfig('exec.yaml', { server: 'https://h' }, { exec: { command: 'x', apiVersion: 'v1' } }),
    ]);
    assert.deepEqual(exec.delegate, { files: [join(dir, 'exec.yaml')], context: 'ctx' });
    const proxy = fromKubeconfigFiles([
      kubeconfig('proxy.yaml', { server: 'https://h', 'proxy-url': 'http://p:3128' }, { token: 't' }),
    ]);
    assert.ok(proxy.delegate);
    const as = fromKubeconfigFiles([kubeconfig('as.yaml', { server: 'https://h' }, { as: 'bob' })]);
    assert.ok(as.delegate);
  });

  it('merges several files as kubectl does: the first of a name and the first current-context win', () => {
    const first = kubeconfig('m1.yaml', { server: 'https://first' }, { token: 'one' }, '');
    const second = kubeconfig('m2.yaml', { server: 'https://second' }, { token: 'two' });
    const a = fromKubeconfigFiles([first, second]);
    assert.equal(a.server, 'https://first');
    assert.deepEqual(a.token, { data: Buffer.from('one') });
    assert.deepEqual(defaultAccess({ KUBECONFIG: `${first}:${second}` }).server, 'https://first');
  });

  it('names what is missing', () => {
    const p = kubeconfig('bad.yaml', { server: 'https://h' }, {}, 'nope');
    assert.throws(
      () => fromKubeconfigFiles([p]),
      (e: unknown) => e instanceof KubeconfigError && /nope/.test(e.message),
    );
    assert.throws(() => fromKubeconfigFiles([join(dir, 'absent.yaml')]), KubeconfigError);
  });
});

describe('in-cluster', () => {
  const sa = join(dir, 'sa');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), 'tok1\n');

  it('reads the service host and port, the CA and token files', () => {
    const a = inCluster({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, sa);
    assert.equal(a?.server, 'https://10.96.0.1:443');
    assert.deepEqual(a?.ca, { file: join(sa, 'ca.crt') });
    assert.deepEqual(a?.token, { file: join(sa, 'token') });
  });

  it('brackets an IPv6 host; none without the variables or the token', () => {
    assert.equal(
      inCluster({ KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '443' }, sa)?.server,
      'https://[fd00:10:96::1]:443',
    );
    assert.equal(inCluster({}, sa), undefined);
    assert.equal(inCluster({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '443' }, dir), undefined);
  });

  it('reads a rotated token again after FILE_REFRESH_MS', () => {
    let now = 0;
    const cache = new MaterialCache(() => now);
    const token = { file: join(sa, 'token') };
    assert.equal(cache.read(token)?.toString(), 'tok1\n');
    writeFileSync(join(sa, 'token'), 'tok2\n');
    now = FILE_REFRESH_MS - 1;
    assert.equal(cache.read(token)?.toString(), 'tok1\n');
    now = FILE_REFRESH_MS;
    assert.equal(cache.read(token)?.toString(), 'tok2\n');
  });
});
