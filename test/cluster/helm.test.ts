// Bollard as users run it: its own image, installed by `helm install` with the chart's defaults, on
// real kubelet nodes (containerd, CNI, kube-proxy), with real Deployments behind the Services. One lab
// for the file; the steps run in order and each leaves the cluster whole for the next.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { METALLB_NAMESPACE } from '../../lab/deploy.js';
import { tagImage } from '../../lab/containerd.js';
import { helm, helmUninstall, helmUpgrade, waitInstalled } from '../../lab/install.js';
import { startProber } from '../../lab/prober-run.js';
import { waitFor } from '../../lab/process.js';
import { deletePod, listPods, waitPodsReady, waitRolledOut } from '../../lab/workloads.js';
import { ApiError } from '../../k8s/client.js';
import { packageVersion } from '../../lab/image/index.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { repoPath } from '../support/repo.js';
import { startLab, type Lab } from '../support/lab.js';
import { httpGet, vipsOf } from '../support/lab-probes.js';
import {
  allVips,
  announcers,
  awaitAnnouncers,
  awaitBollardReady,
  awaitMovedAndServing,
  awaitServing,
  bollardPods,
  leaderPod,
  watchArp,
} from './support.js';

// async: the lab's egress proxy (the apiserver's way to the speakers) runs in this process
const execFileP = promisify(execFile);

interface SliceEndpoint {
  nodeName?: string;
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
}

describe('cluster: Bollard installed by Helm on real kubelet nodes', () => {
  let lab: Lab;
  let l2v4 = '';
  let l2v6 = '';
  let bgpv4 = '';
  let bgpv6 = '';
  const version = packageVersion();

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'bird', install: 'helm', demo: true });
    [l2v4 = '', l2v6 = ''] = await vipsOf(lab, 'demo/web', 2);
    [bgpv4 = '', bgpv6 = ''] = await vipsOf(lab, 'demo/web-bgp', 2);
  });
  after(async () => {
    await lab?.stop();
  });

  it('runs every Bollard pod Ready from bollard/bollard:<version> on nodes registered by the pinned kubelet', async () => {
    const nodes = await lab.client.get<{
      items: {
        metadata?: { name?: string };
        status?: { nodeInfo?: { kubeletVersion?: string; containerRuntimeVersion?: string } };
      }[];
    }>('/api/v1/nodes');
    assert.deepEqual(
      nodes.items.map((n) => n.metadata?.name).sort(),
      lab.topology.nodes.map((n) => n.name),
    );
    for (const n of nodes.items) {
      assert.equal(n.status?.nodeInfo?.kubeletVersion, lab.cp.bins.version.kubernetes);
      assert.match(n.status?.nodeInfo?.containerRuntimeVersion ?? '', /^containerd:\/\//);
    }
    const [speakers, controllers] = await Promise.all([
      bollardPods(lab, 'speaker'),
      bollardPods(lab, 'controller'),
    ]);
    assert.equal(speakers.length, 3);
    assert.equal(controllers.length, 2);
    for (const p of [...speakers, ...controllers]) {
      assert.ok(p.ready, `${p.name} Ready`);
      assert.deepEqual(p.images, [`bollard/bollard:${version}`]);
    }
    const release = await helm(lab.kubeconfig, ['list', '-n', METALLB_NAMESPACE, '-o', 'json']);
    assert.match(release, /"name":"bollard".*"status":"deployed"/);
  });

  it('answers the demo VIPs: layer 2 from the client (IPv4, IPv6), BGP from behind the router with ECMP over every node', async () => {
    for (const vip of [l2v4, l2v6]) await awaitServing(lab, 'client', vip);
    for (const vip of [bgpv4, bgpv6]) await awaitServing(lab, 'external', vip);
    await awaitAnnouncers(lab, bgpv4, ['node-1', 'node-2', 'node-3']);
    const body = await lab.exec('client', 'curl', ['-s', '-m', '3', `http://${l2v4}/`]);
    assert.match(body.stdout, /^pod demo\/web-node-[12]-\S+ on node-[12]$/m);
  });

  it('`bollard explain` run from the machine reads every speaker through the apiserver and names the owner', async () => {
    const bin = repoPath('bin', 'bollard.mjs');
    const { stdout } = await execFileP(
      process.execPath,
      [bin, 'explain', 'service', 'demo/web', '--kubeconfig', lab.kubeconfig, '-o', 'json'],
      { timeout: 60_000 },
    );
    const e = JSON.parse(stdout) as {
      verdict: string;
      speakers: { endpoint: string; reachable: boolean }[];
      layer2?: { announcing: string[] };
    };
    assert.equal(e.verdict, 'announced');
    assert.equal(e.speakers.length, 3);
    for (const sp of e.speakers) {
      assert.ok(sp.reachable, `${sp.endpoint} reachable`);
      assert.match(sp.endpoint, /^pods\/speaker-\S+:7472 \(apiserver proxy\)$/);
    }
    assert.deepEqual(e.layer2?.announcing, await announcers(lab, l2v4));
  });

  it('externalTrafficPolicy: Local follows real pod readiness, and a terminating pod as Kubernetes defines it', async () => {
    await lab.addService({
      namespace: 'demo',
      name: 'web-local',
      selector: { app: 'web' },
      externalTrafficPolicy: 'Local',
      annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
    });
    const [vip = ''] = await vipsOf(lab, 'demo/web-local');
    await awaitAnnouncers(lab, vip, ['node-1', 'node-2']);

    // node-1's pod fails its readiness probe: the kubelet says so, the EndpointSlice follows, node-1 withdraws
    const [pod1] = await listPods(lab.client, 'demo', 'app=web,bollard.dev/lab-node=node-1');
    assert.ok(pod1);
    await lab.setPodReadiness(pod1, false);
    await awaitAnnouncers(lab, vip, ['node-2']);
    await awaitServing(lab, 'external', vip);
    await lab.setPodReadiness(pod1, true);
    await awaitAnnouncers(lab, vip, ['node-1', 'node-2']);

    // node-2's pod terminates but keeps serving (DRAIN_SECONDS): its endpoint is serving and terminating,
    // not ready; kube-proxy's health check on node-2 fails, so node-2 stops attracting traffic while the
    // pod still answers what reaches it
    await lab.addWebDeployment('demo', 'web', 'node-2', { drainSeconds: 120 });
    await waitRolledOut(lab.client, 'Deployment', 'demo', 'web-node-2');
    await awaitAnnouncers(lab, vip, ['node-1', 'node-2']);
    await lab.client.patch('/apis/apps/v1/namespaces/demo/deployments/web-node-2', { spec: { replicas: 0 } });
    await awaitAnnouncers(lab, vip, ['node-1']);
    const slices = await lab.client.get<{ items: { endpoints?: SliceEndpoint[] }[] }>(
      '/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb-local',
    );
    const onNode2 = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.nodeName === 'node-2');
    assert.ok(onNode2.length > 0, 'node-2 still has its terminating endpoint');
    for (const e of onNode2)
      assert.deepEqual(e.conditions, { ready: false, serving: true, terminating: true });
    await awaitServing(lab, 'external', vip);

    await lab.client.patch('/apis/apps/v1/namespaces/demo/deployments/web-node-2', { spec: { replicas: 1 } });
    await waitPodsReady(lab.client, 'demo', 'app=web', 2);
    await awaitAnnouncers(lab, vip, ['node-1', 'node-2']);
  });

  it('moves the VIP when the owning node\u2019s speaker pod is deleted (the kubelet sends SIGTERM)', async () => {
    const [owner = ''] = await announcers(lab, l2v4);
    assert.ok(owner);
    // the DaemonSet's new pod on the same node may take the VIP back within a second: the move is
    // awaited on the wire (another node's gratuitous ARP), not by polling the client's neighbour entry
    const arp = await watchArp(lab, l2v4);
    try {
      await lab.stopProcess(owner, 'speaker');
      const next = await arp.awaitAnnouncedBy(owner);
      assert.notEqual(next, owner);
    } finally {
      await arp.stop();
    }
    await awaitServing(lab, 'client', l2v4);
    await awaitBollardReady(lab);
  });

  it('moves the VIP when the owner\u2019s speaker container is SIGKILLed through the runtime', async () => {
    await awaitServing(lab, 'client', l2v4);
    const [owner = ''] = await announcers(lab, l2v4);
    const before = (await bollardPods(lab, 'speaker')).find((p) => p.node === owner);
    assert.ok(before);
    const arp = await watchArp(lab, l2v4);
    try {
      await lab.kill(owner, 'speaker');
      await arp.awaitAnnouncedBy(owner);
    } finally {
      await arp.stop();
    }
    await awaitServing(lab, 'client', l2v4);
    // the kubelet restarts the container in the same pod
    await waitFor(
      'speaker container restarted',
      async () => {
        const pod = await lab.client.get<{
          status?: { containerStatuses?: { restartCount?: number; ready?: boolean }[] };
        }>(`/api/v1/namespaces/${METALLB_NAMESPACE}/pods/${before.name}`);
        const c = pod.status?.containerStatuses?.[0];
        return c && (c.restartCount ?? 0) >= 1 && c.ready ? true : undefined;
      },
      120_000,
      500,
    );
  });

  it('moves the VIP when the whole owning node is lost (kubelet stopped, link down)', async () => {
    await awaitServing(lab, 'client', l2v4);
    const [owner = ''] = await announcers(lab, l2v4);
    await lab.stopProcess(owner, 'kubelet');
    await lab.link(owner, 'down');
    try {
      await awaitMovedAndServing(lab, 'client', l2v4, owner);
    } finally {
      await lab.link(owner, 'up');
      await lab.startProcess(owner, 'kubelet');
    }
    await awaitBollardReady(lab);
  });

  it('keeps every Service\u2019s IP when the leading controller pod is deleted, and the other replica leads', async () => {
    const vipsBefore = await allVips(lab);
    const leader = await leaderPod(lab);
    assert.ok(leader, 'a controller leads');
    await deletePod(lab.client, METALLB_NAMESPACE, leader);
    const next = await waitFor(
      'another controller pod leads',
      async () => {
        const l = await leaderPod(lab).catch(() => undefined);
        return l && l !== leader ? l : undefined;
      },
      120_000,
      250,
    );
    assert.notEqual(next, leader);
    // the new leader assigns: a new Service gets an IP
    await lab.addService({ namespace: 'demo', name: 'after-failover', selector: { app: 'web' } });
    await vipsOf(lab, 'demo/after-failover', 1, 60_000);
    const vipsAfter = await allVips(lab);
    for (const [svc, vips] of Object.entries(vipsBefore))
      assert.deepEqual(vipsAfter[svc], vips, `${svc} keeps its IPs`);
    await awaitBollardReady(lab);
  });

  it('rolls the DaemonSet and the Deployment on `helm upgrade` to a new image tag without changing any IP', async () => {
    const vipsBefore = await allVips(lab);
    const tag = `${version}-roll`;
    for (const n of lab.topology.nodes) {
      await tagImage(
        lab.containerdSocket(n.name),
        `docker.io/bollard/bollard:${version}`,
        `docker.io/bollard/bollard:${tag}`,
        n.name,
      );
    }
    const l2 = await startProber(lab.host('client'), `http://${l2v4}/`, lab.logDir);
    const bgp = await startProber(lab.host('external'), `http://${bgpv4}/`, lab.logDir);
    await helmUpgrade({ kubeconfig: lab.kubeconfig, dir: lab.dir, set: { 'image.tag': tag } });
    await waitInstalled(lab.client);
    const [l2Sum, bgpSum] = await Promise.all([l2.stop(), bgp.stop()]);
    for (const [what, s] of [
      ['layer 2', l2Sum],
      ['BGP', bgpSum],
    ] as const) {
      process.stdout.write(
        `# helm upgrade roll, ${what}: ${s.requests} requests, ${s.failures} failed, longest gap ${s.longestGapMs} ms ${JSON.stringify(s.reasons)}\n`,
      );
    }
    for (const p of [...(await bollardPods(lab, 'speaker')), ...(await bollardPods(lab, 'controller'))]) {
      assert.deepEqual(p.images, [`bollard/bollard:${tag}`], `${p.name} runs the new tag`);
    }
    assert.deepEqual(await allVips(lab), vipsBefore);
    await awaitServing(lab, 'client', l2v4);
    await awaitServing(lab, 'external', bgpv4);
  });

  it('`helm uninstall` removes the pods; the VIPs stop answering; Helm keeps only what it keeps by design', async () => {
    await helmUninstall({ kubeconfig: lab.kubeconfig });
    await waitFor(
      'no Bollard pod left',
      async () => ((await listPods(lab.client, METALLB_NAMESPACE)).length === 0 ? true : undefined),
      120_000,
      250,
    );
    // BGP: the router's route is gone once the sessions closed
    await awaitAnnouncers(lab, bgpv4, []);
    // layer 2: nothing answers ARP for the VIP any more (every speaker is gone). A client that still
    // holds the old owner's MAC reaches that node's kube-proxy, which serves the Service's ingress IP
    // until the entry expires: forget it, as the client's kernel does, and ask again.
    await lab.exec('client', 'ip', ['neigh', 'flush', 'to', l2v4]);
    const r = await httpGet(lab, 'client', l2v4, 5);
    assert.equal(r.ok, false, r.detail);
    assert.match((await lab.exec('client', 'ip', ['neigh', 'show', l2v4])).stdout, /FAILED|INCOMPLETE|^$/);

    const gone = async (path: string): Promise<boolean> =>
      lab.client.get(path).then(
        () => false,
        (err: unknown) => err instanceof ApiError && err.notFound,
      );
    for (const path of [
      `/apis/apps/v1/namespaces/${METALLB_NAMESPACE}/daemonsets/speaker`,
      `/apis/apps/v1/namespaces/${METALLB_NAMESPACE}/deployments/controller`,
      `/api/v1/namespaces/${METALLB_NAMESPACE}/serviceaccounts/speaker`,
      `/api/v1/namespaces/${METALLB_NAMESPACE}/serviceaccounts/controller`,
      `/api/v1/namespaces/${METALLB_NAMESPACE}/services/speaker-monitor`,
    ])
      assert.ok(await gone(path), `${path} removed`);
    const roles = await lab.client.get<{
      items: { metadata?: { name?: string; labels?: Record<string, string> } }[];
    }>('/apis/rbac.authorization.k8s.io/v1/clusterroles');
    assert.deepEqual(
      roles.items
        .filter((r) => r.metadata?.labels?.['app.kubernetes.io/instance'] === 'bollard')
        .map((r) => r.metadata?.name),
      [],
    );
    // kept by design: the CRDs (Helm never deletes crds/), the namespace (--create-namespace), and the
    // objects users and Bollard made at run time (pools, advertisements, peers, the memberlist Secret)
    const crds = await lab.client.get<{ items: { metadata?: { name?: string } }[] }>(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    );
    assert.ok(crds.items.some((c) => c.metadata?.name === 'ipaddresspools.metallb.io'));
    assert.ok(!(await gone(`/api/v1/namespaces/${METALLB_NAMESPACE}`)));
  });
});
