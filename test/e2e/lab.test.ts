// The lab's data path through its real parts: Nodes registered as a kubelet would, kube-proxy in every
// node (NodePorts, healthCheckNodePort), the flat pod network across nodes, EndpointSlices that follow
// the lab's pods, the router path from the external host, and the apiserver forwarder in each node.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab, type LabPod } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { listNetns } from '../../lab/netns.js';

interface EndpointSlice {
  addressType: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
  ports?: { name?: string; port?: number }[];
}

interface NodeObj {
  metadata: { labels?: Record<string, string> };
  spec: { podCIDR?: string; podCIDRs?: string[] };
  status: {
    addresses?: { type: string; address: string }[];
    conditions?: { type: string; status: string }[];
  };
}

describe('lab: nodes, kube-proxy, pods, EndpointSlices, router path', () => {
  let lab: Lab;
  let nodePort = 0;
  let healthPort = 0;

  /** GET from a host; returns status code and body (code 0 when nothing answered). */
  async function get(host: string, url: string): Promise<{ code: number; body: string }> {
    const r = await lab.exec(host, 'curl', ['-s', '-m', '2', '-g', '-w', '\n%{http_code}', url]);
    const lines = r.stdout.trimEnd().split('\n');
    const code = Number(lines.pop() ?? 0);
    return { code: r.code === 0 ? code : 0, body: lines.join('\n').trim() };
  }

  async function health(node: string): Promise<{ code: number; body: string }> {
    const n = lab.topology.nodes.find((x) => x.name === node);
    assert.ok(n);
    return get('client', `http://${n.ipv4.ip}:${healthPort}/`);
  }

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'bird', components: false });
    const web = await lab.addService({ namespace: 'lab-test', name: 'web', type: 'NodePort' });
    nodePort = web.spec?.ports?.[0]?.nodePort ?? 0;
    await lab.addPod('lab-test/web', 'node-2');
    const local = await lab.addService({
      namespace: 'lab-test',
      name: 'local',
      externalTrafficPolicy: 'Local',
    });
    healthPort = local.spec?.healthCheckNodePort ?? 0;
    await lab.addPod('lab-test/local', 'node-1');
    await lab.addPod('lab-test/local', 'node-2');
  });
  after(async () => {
    await lab?.stop();
  });

  it('registers every node as a kubelet would: Ready, InternalIPs, hostname label, pod CIDRs', async () => {
    for (const n of lab.topology.nodes) {
      const node = await lab.client.get<NodeObj>(`/api/v1/nodes/${n.name}`);
      assert.equal(node.metadata.labels?.['kubernetes.io/hostname'], n.name);
      assert.equal(node.metadata.labels?.['kubernetes.io/os'], 'linux');
      assert.deepEqual(node.spec.podCIDRs, [n.podCIDRv4, n.podCIDRv6]);
      const ips = node.status.addresses?.filter((a) => a.type === 'InternalIP').map((a) => a.address);
      assert.deepEqual(ips, [n.ipv4.ip, n.ipv6?.ip]);
      assert.equal(node.status.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    }
  });

  it('kube-proxy in every node serves the NodePort (to a pod on node-2 from all three)', async () => {
    assert.ok(nodePort > 0);
    for (const n of lab.topology.nodes) {
      for (const ip of [n.ipv4.ip, `[${n.ipv6?.ip}]`]) {
        const r = await waitFor(
          `NodePort on ${n.name} ${ip}`,
          async () => {
            const res = await get('client', `http://${ip}:${nodePort}/`);
            return res.code === 200 ? res : undefined;
          },
          15_000,
        );
        assert.match(r.body, /^pod lab-test\/web-node-2-\d+ on node-2$/);
      }
    }
  });

  it('writes IPv4 and IPv6 EndpointSlices with conditions, nodeName and targetRef', async () => {
    const list = await lab.client.get<{ items: EndpointSlice[] }>(
      '/apis/discovery.k8s.io/v1/namespaces/lab-test/endpointslices',
      {
        labelSelector: 'kubernetes.io/service-name=local',
      },
    );
    assert.deepEqual(list.items.map((s) => s.addressType).sort(), ['IPv4', 'IPv6']);
    const v4 = list.items.find((s) => s.addressType === 'IPv4');
    assert.deepEqual(v4?.endpoints?.map((e) => e.nodeName).sort(), ['node-1', 'node-2']);
    for (const e of v4?.endpoints ?? []) {
      assert.deepEqual(e.conditions, { ready: true, serving: true, terminating: false });
      assert.equal(e.targetRef?.kind, 'Pod');
      assert.equal(e.targetRef?.namespace, 'lab-test');
    }
    assert.deepEqual(v4?.ports, [{ name: 'http', port: lab.topology.podPort, protocol: 'TCP' }]);
  });

  it('EndpointSlices follow one Service as it changes: its selector, then its deletion', async () => {
    const path = '/api/v1/namespaces/lab-test/services';
    const local = await lab.client.get<{ spec: { selector: Record<string, string> } }>(`${path}/local`);
    const nodesOf = async (): Promise<string | undefined> => {
      const l = await lab.client.get<{ items: EndpointSlice[] }>(
        '/apis/discovery.k8s.io/v1/namespaces/lab-test/endpointslices',
        { labelSelector: 'kubernetes.io/service-name=follow' },
      );
      return l.items.length === 0
        ? 'none'
        : (l.items[0]?.endpoints ?? [])
            .map((e) => e.nodeName)
            .sort()
            .join(',');
    };
    await lab.client.create(path, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'follow', namespace: 'lab-test' },
      spec: { selector: { app: 'nothing-here' }, ports: [{ port: 80 }] },
    });
    await waitFor('an empty slice', async () => ((await nodesOf()) === '' ? true : undefined), 20_000);
    await lab.client.patch(`${path}/follow`, { spec: { selector: local.spec.selector } });
    await waitFor(
      "the slice lists local's pods",
      async () => ((await nodesOf()) === 'node-1,node-2' ? true : undefined),
      20_000,
    );
    await lab.client.delete(`${path}/follow`);
    await waitFor('the slice is gone', async () => ((await nodesOf()) === 'none' ? true : undefined), 20_000);
  });

  it('pods reach pods on other nodes over IPv4 and IPv6', async () => {
    const [a] = await lab.podsOf('lab-test/local', 'node-1');
    const [b] = await lab.podsOf('lab-test/local', 'node-2');
    assert.ok(a && b);
    const inA = lab.podHost(a);
    const v4 = await inA.sh('curl', ['-s', '-m', '2', `http://${b.ipv4}/`]);
    assert.equal(v4.trim(), `pod ${b.namespace}/${b.name} on node-2`);
    const v6 = await inA.sh('curl', ['-s', '-m', '2', '-g', `http://[${b.ipv6}]/`]);
    assert.equal(v6.trim(), `pod ${b.namespace}/${b.name} on node-2`);
  });

  it('the external host reaches a pod through the router (static route to the pod CIDR, this test only)', async () => {
    const [pod] = await lab.podsOf('lab-test/local', 'node-2');
    assert.ok(pod);
    const node2 = lab.topology.nodes[1];
    assert.ok(node2?.ipv6);
    const router = lab.host('router');
    await router.sh('ip', ['route', 'add', node2.podCIDRv4, 'via', node2.ipv4.ip]);
    await router.sh('ip', ['-6', 'route', 'add', node2.podCIDRv6 as string, 'via', node2.ipv6.ip]);
    try {
      assert.equal(
        (await get('external', `http://${pod.ipv4}/`)).body,
        `pod ${pod.namespace}/${pod.name} on node-2`,
      );
      assert.equal(
        (await get('external', `http://[${pod.ipv6}]/`)).body,
        `pod ${pod.namespace}/${pod.name} on node-2`,
      );
    } finally {
      await router.exec('ip', ['route', 'del', node2.podCIDRv4]);
      await router.exec('ip', ['-6', 'route', 'del', node2.podCIDRv6 as string]);
    }
    // Without the route the pod is unreachable from outside: the router knows no pod CIDRs by itself.
    assert.equal((await get('external', `http://${pod.ipv4}/`)).code, 0);
  });

  it('kube-proxy answers the healthCheckNodePort: 200 with local endpoints, 503 without', async () => {
    assert.ok(healthPort > 0);
    for (const node of ['node-1', 'node-2']) {
      const r = await waitFor(
        `health 200 on ${node}`,
        async () => {
          const h = await health(node);
          return h.code === 200 ? h : undefined;
        },
        15_000,
      );
      assert.ok((JSON.parse(r.body) as { localEndpoints: number }).localEndpoints >= 1);
    }
    await waitFor(
      'health 503 on node-3',
      async () => ((await health('node-3')).code === 503 ? true : undefined),
      15_000,
    );
  });

  it('pods unready on a node turn its health check 503; ready again turns it 200', async () => {
    await lab.setPodsReady('lab-test/local', 'node-2', false);
    await waitFor(
      'health 503 on node-2',
      async () => ((await health('node-2')).code === 503 ? true : undefined),
      15_000,
    );
    assert.equal((await health('node-1')).code, 200);
    await lab.setPodsReady('lab-test/local', 'node-2', true);
    await waitFor(
      'health 200 on node-2',
      async () => ((await health('node-2')).code === 200 ? true : undefined),
      15_000,
    );
  });

  it('pods removed from a node turn its health check 503 and remove its pod namespace', async () => {
    const removed: LabPod[] = await lab.removePods('lab-test/local', 'node-1');
    await waitFor(
      'health 503 on node-1',
      async () => ((await health('node-1')).code === 503 ? true : undefined),
      15_000,
    );
    assert.ok(!listNetns().includes(removed[0]?.ns as string));
    assert.equal((await health('node-2')).code, 200);
    await lab.addPod('lab-test/local', 'node-1');
    await waitFor(
      'health 200 on node-1',
      async () => ((await health('node-1')).code === 200 ? true : undefined),
      15_000,
    );
  });

  it('processes in a node reach the apiserver at https://127.0.0.1:6443 through the forwarder', async () => {
    const r = await lab.exec('node-1', 'curl', ['-sk', '-m', '2', `${lab.topology.nodeApiserver}/version`]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /"gitVersion": "v1\.33/);
    // The seal: the client has no such forwarder, and no lab host routes to the machine's loopback.
    assert.notEqual(
      (await lab.exec('client', 'curl', ['-sk', '-m', '1', 'https://127.0.0.1:6443/version'])).code,
      0,
    );
  });
});
