// The validating admission webhook through a real kube-apiserver: the controller (with its ServiceAccount
// and deploy/rbac) serves it over HTTPS with a certificate it made, kept in the Secret and published as
// the caBundle; `kubectl apply` of each kind of bad input fails with the configuration parse's own
// message; every metallb.io example in docs/ is accepted; the certificate is renewed before expiry.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { parseAllDocuments, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { ensureHelm } from '../../lab/toolchain.js';
import { waitFor } from '../../lab/process.js';
import { runController, type RunningController } from '../../controller/main.js';
import { repoPath } from '../support/repo.js';
import { applyManifest, create, installCRDs, namespaceObj, type Obj } from './controller-helpers.js';

const NS = 'metallb-system';
const HOOK = 'config.validate.bollard.metallb.io';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The metallb.io YAML blocks of docs/*.md (each block: its documents). */
export function docExamples(): { file: string; index: number; docs: Obj[] }[] {
  const out: { file: string; index: number; docs: Obj[] }[] = [];
  const dir = repoPath('docs');
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.md'))
    .sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    let i = 0;
    for (const m of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      i++;
      let docs: Obj[];
      try {
        docs = parseAllDocuments(m[1] as string)
          .map((d) => d.toJS() as Obj | null)
          .filter((d): d is Obj => d !== null && typeof d === 'object');
      } catch {
        continue;
      }
      const mine = docs.filter(
        (d) => typeof d.apiVersion === 'string' && d.apiVersion.startsWith('metallb.io/'),
      );
      if (mine.length > 0 && mine.length === docs.length) out.push({ file: f, index: i, docs: mine });
    }
  }
  return out;
}

const NODES: readonly (readonly [string, Record<string, string>])[] = [
  ['wh-node-a', { zone: 'a', role: 'edge' }],
  ['wh-node-b', { zone: 'b' }],
];

describe('validating admission webhook on a real apiserver', () => {
  let cp: ControlPlane;
  let ctl: RunningController | undefined;
  let port = 0;

  const kubectl = (args: string[], input?: string): Promise<Run> =>
    new Promise((resolve) => {
      const p = execFile(
        'kubectl',
        ['--kubeconfig', cp.adminKubeconfig, ...args],
        { timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) p.stdin?.end(input);
    });
  const apply = (objs: Obj[]): Promise<Run> =>
    kubectl(['apply', '-f', '-'], objs.map((o) => stringify(o)).join('---\n'));

  async function denied(objs: Obj[] | (() => Promise<Run>), message: RegExp): Promise<string> {
    const r = typeof objs === 'function' ? await objs() : await apply(objs);
    assert.notEqual(r.code, 0, `expected a rejection, got: ${r.stdout}`);
    assert.match(
      r.stderr,
      new RegExp(`admission webhook "${HOOK.replace(/\./g, '\\.')}" denied the request: `),
    );
    assert.match(r.stderr, message);
    return r.stderr;
  }
  async function accepted(objs: Obj[]): Promise<void> {
    const r = await apply(objs);
    assert.equal(r.code, 0, r.stderr);
  }

  const pool = (name: string, addresses: string[], extra: Record<string, unknown> = {}, ns = NS): Obj => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name, namespace: ns },
    spec: { addresses, ...extra },
  });
  const peer = (name: string, spec: Record<string, unknown>): Obj => ({
    apiVersion: 'metallb.io/v1beta2',
    kind: 'BGPPeer',
    metadata: { name, namespace: NS },
    spec,
  });
  const bgpAdv = (name: string, spec: Record<string, unknown>): Obj => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'BGPAdvertisement',
    metadata: { name, namespace: NS },
    spec,
  });

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    // Nodes (no kubelet behind them): the webhook decides some rules on them, as in a cluster.
    for (const [name, labels] of NODES) {
      const r = await cp.request('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels },
      });
      assert.equal(r.status, 201, r.body);
    }
    port = await freePort();
    // The deployed configuration, with a url clientConfig to the controller on loopback.
    const [, vwc] = parseAllDocuments(
      readFileSync(repoPath('deploy', 'webhook', 'webhook.yaml'), 'utf8'),
    ).map((d) => d.toJS() as Obj & { webhooks: { clientConfig: Record<string, unknown> }[] });
    assert.equal(vwc?.kind, 'ValidatingWebhookConfiguration');
    for (const w of vwc?.webhooks ?? [])
      w.clientConfig = { url: `https://127.0.0.1:${port}/validate-metallb-io` };
    const r = await cp.request(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      vwc,
    );
    assert.equal(r.status, 201, r.body);
    mkdirSync(cp.logDir, { recursive: true });
    ctl = await runController({
      kubeconfig: await cp.kubeconfigFor(NS, 'controller'),
      namespace: NS,
      metricsBind: '127.0.0.1:0',
      logger: pino(
        { level: 'debug', formatters: { level: (l) => ({ level: l }) } },
        createWriteStream(join(cp.logDir, 'controller.log')),
      ),
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
      webhookBind: `127.0.0.1:${port}`,
      webhookIPs: ['127.0.0.1'],
    });
    await kubectl(['create', 'namespace', 'other']);
    // The apiserver picks the configuration up (and our caBundle) within a moment.
    await waitFor(
      'webhook in force',
      async () => {
        const x = await apply([pool('probe', ['10.250.0.10-10.250.0.5'])]);
        return x.code !== 0 && x.stderr.includes(`admission webhook "${HOOK}" denied`) ? true : undefined;
      },
      30_000,
      250,
    );
  });

  after(async () => {
    await ctl?.stop();
    await cp?.stop();
  });

  it('serves a certificate signed by the CA in Secret bollard-webhook-cert, published as caBundle', async () => {
    const s = JSON.parse(
      (await cp.request('GET', `/api/v1/namespaces/${NS}/secrets/bollard-webhook-cert`)).body,
    ) as {
      type: string;
      data: Record<string, string>;
    };
    assert.equal(s.type, 'kubernetes.io/tls');
    const ca = Buffer.from(s.data['ca.crt'] ?? '', 'base64').toString();
    const cert = new X509Certificate(Buffer.from(s.data['tls.crt'] ?? '', 'base64').toString());
    assert.ok(cert.verify(new X509Certificate(ca).publicKey));
    assert.ok(cert.checkHost('bollard-webhook.metallb-system.svc'));
    assert.ok(cert.checkIP('127.0.0.1'));
    const vwc = JSON.parse(
      (
        await cp.request(
          'GET',
          '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/bollard-validating-webhook',
        )
      ).body,
    ) as { webhooks: { clientConfig: { caBundle?: string } }[] };
    assert.equal(vwc.webhooks[0]?.clientConfig.caBundle, s.data['ca.crt']);
  });

  it('a TLS client trusting only the published caBundle completes a handshake, by IP and by Service name', async () => {
    const vwc = JSON.parse(
      (
        await cp.request(
          'GET',
          '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/bollard-validating-webhook',
        )
      ).body,
    ) as { webhooks: { clientConfig: { caBundle?: string } }[] };
    const bundle = Buffer.from(vwc.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString();
    // The identity checked is the IP (127.0.0.1 SAN), then the Service's DNS name sent as SNI.
    for (const servername of [undefined, 'bollard-webhook.metallb-system.svc']) {
      const sock = tlsConnect({ host: '127.0.0.1', port, ca: bundle, ...(servername ? { servername } : {}) });
      try {
        await once(sock, 'secureConnect');
        assert.ok(sock.authorized, `${servername ?? '127.0.0.1'}: ${String(sock.authorizationError)}`);
        const peer = sock.getPeerX509Certificate();
        assert.ok(peer?.verify(new X509Certificate(bundle).publicKey));
        assert.ok(peer?.checkHost('bollard-webhook.metallb-system.svc.cluster.local'));
      } finally {
        sock.destroy();
      }
    }
    // A client trusting another CA refuses the server.
    const { makeCA } = await import('../../controller/webhook/x509.js');
    const other = await makeCA({ commonName: 'not-the-webhook-ca', validDays: 1 });
    const sock = tlsConnect({ host: '127.0.0.1', port, ca: other.cert });
    try {
      const [err] = (await once(sock, 'error')) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      sock.destroy();
    }
  });

  it('rejects a bad range and overlapping pools', async () => {
    await denied(
      [pool('bad', ['10.250.0.10-10.250.0.5'])],
      /IPAddressPool metallb-system\/bad: spec\.addresses\[0\]: /,
    );
    await accepted([pool('a', ['10.251.0.0/24'])]);
    await denied([pool('b', ['10.251.0.128/25'])], /IPAddressPool metallb-system\/\w: .*overlaps/);
    // An update that creates the overlap is rejected too.
    await accepted([pool('c', ['10.252.0.0/24'])]);
    await denied([pool('c', ['10.251.0.0/28'])], /overlaps/);
  });

  it('rejects objects outside the install namespace', async () => {
    await denied(
      [pool('elsewhere', ['10.253.0.0/24'], {}, 'other')],
      /IPAddressPool elsewhere: metallb\.io objects must be in the install namespace "metallb-system", not "other"/,
    );
  });

  it('rejects invalid timers, invalid ASNs and duplicate peers', async () => {
    await denied(
      [peer('hold', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.1', holdTime: '2s' })],
      /BGPPeer metallb-system\/hold: spec\.holdTime: 2s is invalid: must be 0 or at least 3s/,
    );
    // (peerASN xor dynamicASN is already refused by the CRD's own validation rules, before admission.)
    await denied(
      [peer('asn', { myASN: 64500, peerASN: 64500, peerAddress: '192.0.2.2', ebgpMultiHop: true })],
      /BGPPeer metallb-system\/asn: spec\.ebgpMultiHop: ebgpMultiHop cannot be set on an iBGP session \(peerASN = myASN\)/,
    );
    await denied(
      [
        {
          apiVersion: 'metallb.io/v1beta1',
          kind: 'Community',
          metadata: { name: 'big', namespace: NS },
          spec: { communities: [{ name: 'too-big', value: 'large:4294967296:1:2' }] },
        },
      ],
      /Community metallb-system\/big: spec\.communities\[0\]\.value: /,
    );
    await accepted([peer('p1', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.3' })]);
    await denied(
      [peer('p2', { myASN: 64500, peerASN: 64502, peerAddress: '192.0.2.3' })],
      /BGPPeer metallb-system\/p2: spec\.peerAddress: BGPPeer p1 has the same address 192\.0\.2\.3 and both apply to/,
    );
  });

  it('lists the Nodes (its ClusterRole allows list, not watch) and decides peer and localPref overlaps on them', async () => {
    const can = async (verb: string): Promise<string> =>
      (
        await kubectl(['auth', 'can-i', verb, 'nodes', `--as=system:serviceaccount:${NS}:controller`])
      ).stdout.trim();
    assert.equal(await can('list'), 'yes');
    assert.equal(await can('watch'), 'no');
    assert.equal(await can('get'), 'no');
    const at = (name: string, nodeSelector: Record<string, string>): Obj =>
      peer(name, {
        myASN: 64500,
        peerASN: 64501,
        peerAddress: '192.0.2.40',
        nodeSelectors: [{ matchLabels: nodeSelector }],
      });
    // Different selectors: without the Nodes the webhook would leave them to the speakers; on the Nodes,
    // zone=a and role=edge both pick wh-node-a, and zone=b picks no node zone=a picks.
    await accepted([at('n1-zone-a', { zone: 'a' })]);
    await denied(
      [at('n2-edge', { role: 'edge' })],
      /BGPPeer metallb-system\/n2-edge: spec\.peerAddress: BGPPeer n1-zone-a has the same address 192\.0\.2\.40 and both apply to node "wh-node-a"/,
    );
    await accepted([at('n3-zone-b', { zone: 'b' })]);
    const adv = (name: string, localPref: number, nodeSelector: Record<string, string>): Obj =>
      bgpAdv(name, {
        ipAddressPools: ['lp-nodes'],
        localPref,
        nodeSelectors: [{ matchLabels: nodeSelector }],
      });
    await accepted([pool('lp-nodes', ['10.253.7.0/24'])]);
    await accepted([adv('lp1-zone-a', 100, { zone: 'a' })]);
    await accepted([adv('lp2-zone-b', 200, { zone: 'b' })]);
    await denied(
      [adv('lp3-edge', 300, { role: 'edge' })],
      /localPref 300 conflicts with localPref 100 of BGPAdvertisement lp1-zone-a for pool lp-nodes/,
    );
    const del = await kubectl([
      'delete',
      '-n',
      NS,
      'bgppeer/n1-zone-a',
      'bgppeer/n3-zone-b',
      'bgpadvertisement/lp1-zone-a',
      'bgpadvertisement/lp2-zone-b',
      'ipaddresspool/lp-nodes',
    ]);
    assert.equal(del.code, 0, del.stderr);
  });

  it('rejects duplicate names: a community alias defined twice', async () => {
    const community = (name: string, alias: string, value: string): Obj => ({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'Community',
      metadata: { name, namespace: NS },
      spec: { communities: [{ name: alias, value }] },
    });
    await accepted([community('c1', 'edge', '64500:1')]);
    await denied(
      [community('c2', 'edge', '64500:2')],
      /Community metallb-system\/c\d: spec\.communities\[0\]\.name: duplicate community alias "edge" \(also defined in Community c\d\)/,
    );
    const del = await kubectl(['delete', '-n', NS, 'community', 'c1']);
    assert.equal(del.code, 0, del.stderr);
  });

  it('rejects aggregation lengths shorter than the pool and conflicting localPref', async () => {
    await accepted([pool('agg', ['10.254.0.0/24'])]);
    await denied(
      [bgpAdv('short', { ipAddressPools: ['agg'], aggregationLength: 16 })],
      /BGPAdvertisement metallb-system\/short: spec\.aggregationLength/,
    );
    await accepted([bgpAdv('lp1', { ipAddressPools: ['agg'], localPref: 100 })]);
    await denied(
      [bgpAdv('lp2', { ipAddressPools: ['agg'], localPref: 200 })],
      /localPref 200 conflicts with localPref 100 of BGPAdvertisement lp1 for pool agg/,
    );
  });

  it('rejects deleting a BFD profile a peer uses, and a pool a Service holds an IP from', async () => {
    await accepted([
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'BFDProfile',
        metadata: { name: 'fast', namespace: NS },
        spec: { receiveInterval: 100 },
      },
      peer('bfd-peer', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.9', bfdProfile: 'fast' }),
    ]);
    await denied(
      () => kubectl(['delete', '-n', NS, 'bfdprofile', 'fast']),
      /cannot delete BFDProfile fast: the configuration without it is invalid: BGPPeer metallb-system\/bfd-peer: spec\.bfdProfile: BFDProfile "fast" does not exist/,
    );
    await accepted([pool('held', ['10.255.0.0/30'], { autoAssign: false })]);
    await kubectl(['create', 'namespace', 'shop']);
    await create(cp, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop', annotations: { 'metallb.io/address-pool': 'held' } },
      spec: { type: 'LoadBalancer', ports: [{ port: 80 }] },
    });
    await waitFor(
      'shop/web gets an IP',
      async () => {
        const r = await kubectl([
          'get',
          '-n',
          'shop',
          'svc',
          'web',
          '-o',
          'jsonpath={.status.loadBalancer.ingress[0].ip}',
        ]);
        return r.stdout.trim() ? true : undefined;
      },
      20_000,
      200,
    );
    await denied(
      () => kubectl(['delete', '-n', NS, 'ipaddresspool', 'held']),
      /cannot delete IPAddressPool held: it is in use by 1 Service: shop\/web \(10\.255\.0\.0\)/,
    );
    // Unused objects delete fine.
    const ok = await kubectl(['delete', '-n', NS, 'ipaddresspool', 'c']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('admits objects naming a BFDProfile or Community alias applied after them, with a warning (as MetalLB)', async () => {
    const r = await apply([
      peer('early', { myASN: 64500, peerASN: 64501, peerAddress: '192.0.2.10', bfdProfile: 'later' }),
      bgpAdv('early-adv', { communities: ['later-alias'], localPref: 100 }), // (lp1's, for pool agg)
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Warning: BGPPeer metallb-system\/early: spec\.bfdProfile: BFDProfile "later" does not exist; admitted/,
    );
    await accepted([
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'BFDProfile',
        metadata: { name: 'later', namespace: NS },
        spec: {},
      },
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'Community',
        metadata: { name: 'later', namespace: NS },
        spec: { communities: [{ name: 'later-alias', value: '64500:7' }] },
      },
    ]);
    for (const [k, n] of [
      ['bgpadvertisement', 'early-adv'],
      ['bgppeer', 'early'],
      ['bfdprofile', 'later'],
      ['community', 'later'],
    ] as const) {
      const d = await kubectl(['delete', '-n', NS, k, n]);
      assert.equal(d.code, 0, d.stderr);
    }
  });

  it('accepts every metallb.io example in docs/', async () => {
    const examples = docExamples();
    assert.ok(examples.length > 0, 'docs/ has metallb.io examples');
    // Start from an empty configuration so examples do not collide with the objects above.
    for (const k of ['bgpadvertisements', 'l2advertisements', 'bgppeers', 'communities'])
      await kubectl(['delete', '-n', NS, k, '--all']);
    // Per file: every example's objects together (one example may use another's Community alias or BFD
    // profile), in dependency order, then removed.
    const order = [
      'IPAddressPool',
      'Community',
      'BFDProfile',
      'BGPPeer',
      'L2Advertisement',
      'BGPAdvertisement',
    ];
    for (const file of [...new Set(examples.map((e) => e.file))]) {
      const docs = examples
        .filter((e) => e.file === file)
        .flatMap((e) => e.docs)
        .map((d) => ({ ...d, metadata: { ...d.metadata, namespace: NS } }))
        .sort((a, b) => order.indexOf(a.kind ?? '') - order.indexOf(b.kind ?? ''));
      for (const d of docs) {
        const r = await apply([d]);
        assert.equal(r.code, 0, `${file}: ${d.kind} ${d.metadata.name}: ${r.stderr}`);
      }
      for (const d of [...docs].reverse()) {
        const del = await kubectl(['delete', '--ignore-not-found', '-f', '-'], stringify(d));
        assert.equal(del.code, 0, `${file}: delete ${d.kind} ${d.metadata.name}: ${del.stderr}`);
      }
    }
  });

  it('renews the certificate before expiry and republishes the caBundle', async () => {
    const before = JSON.parse(
      (await cp.request('GET', `/api/v1/namespaces/${NS}/secrets/bollard-webhook-cert`)).body,
    ) as {
      data: Record<string, string>;
    };
    // Another replica that renews far ahead of expiry (renewBefore longer than the validity) rotates it.
    const { WebhookCerts } = await import('../../controller/webhook/certs.js');
    const { KubeClient } = await import('../../k8s/client.js');
    const client = KubeClient.fromFile(await cp.kubeconfigFor(NS, 'controller'));
    try {
      const later = new WebhookCerts({
        client,
        namespace: NS,
        ips: ['127.0.0.1'],
        renewBeforeMs: 400 * 86_400_000,
        log: pino({ level: 'silent' }),
      });
      const m = await later.ensure();
      assert.notEqual(m.cert, Buffer.from(before.data['tls.crt'] ?? '', 'base64').toString());
      assert.ok(m.previousCa, 'the old CA stays trusted during the rotation');
      assert.ok(await later.publish(m));
    } finally {
      client.close();
    }
    // Before this controller reloads, its old certificate is still trusted (old CA in the bundle)…
    await denied([pool('mid-rotation', ['10.250.1.10-10.250.1.5'])], /spec\.addresses\[0\]/);
    // …and after it reloads, the new one is.
    await ctl?.refreshWebhook();
    await denied([pool('after-rotation', ['10.250.1.10-10.250.1.5'])], /spec\.addresses\[0\]/);
    const vwc = JSON.parse(
      (
        await cp.request(
          'GET',
          '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/bollard-validating-webhook',
        )
      ).body,
    ) as { webhooks: { clientConfig: { caBundle?: string } }[] };
    const bundle = Buffer.from(vwc.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString();
    const secret = JSON.parse(
      (await cp.request('GET', `/api/v1/namespaces/${NS}/secrets/bollard-webhook-cert`)).body,
    ) as {
      data: Record<string, string>;
    };
    assert.equal(
      bundle.match(/BEGIN CERTIFICATE/g)?.length,
      2,
      `secret keys: ${Object.keys(secret.data).join(', ')}`,
    );
  });

  it('the webhook overlay and the chart with webhook.enabled pass server-side dry-run', async () => {
    // (Renamed: this apiserver already has bollard-validating-webhook, pointing at the test's controller.)
    const built = await kubectl(['kustomize', repoPath('deploy', 'overlays', 'webhook')]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /--webhook-bind=0\.0\.0\.0:9443/);
    const k = await kubectl(
      ['apply', '--dry-run=server', '-f', '-'],
      built.stdout.replace(
        /name: bollard-validating-webhook\n/,
        'name: bollard-validating-webhook-dry-run\n',
      ),
    );
    assert.equal(k.code, 0, k.stderr);
    assert.match(
      k.stdout,
      /validatingwebhookconfiguration\.admissionregistration\.k8s\.io\/bollard-validating-webhook-dry-run created \(server dry run\)/,
    );
    assert.match(k.stdout, /service\/bollard-webhook created \(server dry run\)/);
    const helm = ensureHelm(() => undefined);
    const rendered = await new Promise<string>((resolve, reject) =>
      execFile(
        helm,
        [
          'template',
          'hooked',
          repoPath('deploy', 'helm', 'bollard'),
          '--namespace',
          NS,
          '--set',
          'webhook.enabled=true',
        ],
        { maxBuffer: 32 * 1024 * 1024 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    assert.match(rendered, /--webhook-bind=0\.0\.0\.0:9443/);
    const h = await kubectl(['apply', '--dry-run=server', '-f', '-'], rendered);
    assert.equal(h.code, 0, h.stderr);
    assert.match(
      h.stdout,
      /validatingwebhookconfiguration\.admissionregistration\.k8s\.io\/hooked-validating-webhook created \(server dry run\)/,
    );
  });

  it('while the install namespace is being deleted, deleting a pool in use goes through (no stuck namespace)', async () => {
    await kubectl(['delete', 'namespace', NS, '--wait=false']);
    // No namespace controller runs here, so the namespace stays Terminating and we delete by hand.
    const r = await kubectl(['delete', '-n', NS, 'ipaddresspool', 'held']);
    assert.equal(r.code, 0, r.stderr);
  });
});
