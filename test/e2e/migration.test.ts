// Migration from MetalLB: a configuration written the way MetalLB's documentation shows it
// (test/fixtures/metallb) is applied unchanged with kubectl to the lab, and gives the allocations and
// announcements MetalLB's documentation says it would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startLab, type Lab } from '../support/lab.js';
import { repoPath } from '../support/repo.js';
import { waitFor } from '../../lab/process.js';
import { KubeClient } from '../../k8s/client.js';
import * as probes from '../support/lab-probes.js';

interface EventList {
  items: {
    reason?: string;
    type?: string;
    note?: string;
    regarding?: { name?: string; namespace?: string };
  }[];
}

describe('a MetalLB configuration applied unchanged', () => {
  let lab: Lab;
  let admin: KubeClient;
  const kubectl = (...args: string[]): string =>
    execFileSync('kubectl', ['--kubeconfig', lab.kubeconfig, ...args], { encoding: 'utf8' });

  const ips = (ref: string, count = 1): Promise<string[]> => probes.vipsOf(lab, ref, count, 60_000);

  const arpAnswerers = async (vip: string): Promise<string[]> =>
    [...new Set((await probes.arpingMacs(lab, vip, 3, 0.2)).map((m) => probes.nodeOfMac(lab, m)))].sort();

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'bird' });
    admin = KubeClient.fromFile(lab.kubeconfig);
    kubectl('apply', '-f', repoPath('test', 'fixtures', 'metallb', 'config.yaml'));
    kubectl('apply', '-f', repoPath('test', 'fixtures', 'metallb', 'services.yaml'));
    for (const ns of ['shop', 'team-a']) {
      for (const node of ['node-1', 'node-3'])
        await lab.pods.add({ namespace: ns, node, labels: { app: 'web' } });
    }
  });
  after(async () => {
    admin?.close();
    await lab?.stop();
  });

  it('the controller accepts the whole configuration (ConfigurationState Valid)', async () => {
    await waitFor(
      'ConfigurationState controller Valid',
      async () => {
        const cs = await admin.get<{ status?: { result?: string; errorSummary?: string } }>(
          '/apis/metallb.io/v1beta1/namespaces/metallb-system/configurationstates/controller',
        );
        return cs.status?.result === 'Valid' ? true : undefined;
      },
      30_000,
    );
  });

  it('honours loadBalancerIPs, serviceAllocation, allow-shared-ip, dual-stack and the deprecated address-pool annotation', async () => {
    assert.deepEqual(await ips('shop/fixed'), ['10.50.0.205']);
    assert.deepEqual(
      await ips('team-a/app'),
      ['10.50.0.216'],
      'the namespace pool with priority, lowest address first',
    );
    const [http] = await ips('shop/shared-http');
    const [alt] = await ips('shop/shared-alt');
    assert.equal(http, alt, 'same sharing key, different ports: one IP');
    assert.match(http ?? '', /^10\.50\.0\.20[0-9]$/);
    assert.notEqual(http, '10.50.0.205');
    const dual = await ips('shop/dual', 2);
    assert.ok(
      dual.some((ip) => /^10\.50\.0\.20\d$/.test(ip)) && dual.some((ip) => /^fd00:50::20\d$/.test(ip)),
      `dual: ${dual.join(',')}`,
    );
    assert.deepEqual(
      await ips('shop/legacy'),
      ['10.50.0.240'],
      'autoAssign: false pool, asked for by the old annotation',
    );
    assert.deepEqual(await ips('shop/routed'), ['10.60.0.32']);
    const events = await admin.get<EventList>('/apis/events.k8s.io/v1/namespaces/shop/events');
    assert.ok(
      events.items.some(
        (e) => e.reason === 'deprecatedAnnotation' && e.type === 'Warning' && e.regarding?.name === 'legacy',
      ),
      'a deprecatedAnnotation Warning on shop/legacy',
    );
    const annotated = await admin.get<{ metadata?: { annotations?: Record<string, string> } }>(
      '/api/v1/namespaces/shop/services/legacy',
    );
    assert.equal(annotated.metadata?.annotations?.['metallb.io/ip-allocated-from-pool'], 'reserved');
  });

  it('announces layer 2 pools from one node, and a node-selected advertisement only from that node', async () => {
    await waitFor(
      '10.50.0.216 answered by node-2 only',
      async () => {
        const who = await arpAnswerers('10.50.0.216');
        return who.length === 1 && who[0] === 'node-2' ? true : undefined;
      },
      30_000,
      200,
    );
    const fixed = await waitFor(
      '10.50.0.205 answered',
      async () => {
        const who = await arpAnswerers('10.50.0.205');
        return who.length > 0 ? who : undefined;
      },
      30_000,
      200,
    );
    assert.equal(fixed.length, 1, `exactly one node answers for 10.50.0.205: ${fixed.join(',')}`);
    const r = await lab.exec('client', 'curl', ['-s', '-m', '3', 'http://10.50.0.205/']);
    assert.match(r.stdout, /^pod shop\/.* on node-[13]/);
  });

  it("announces the BGP pool to the router with the advertisement's communities (alias and literal)", async () => {
    const route = await waitFor(
      '10.60.0.32/32 in BIRD with communities',
      async () => {
        const out = await lab.exec('router', 'birdc', ['show', 'route', 'all', '10.60.0.32/32']);
        return /\(64512,100\)/.test(out.stdout) && /\(64512,200\)/.test(out.stdout) ? out.stdout : undefined;
      },
      60_000,
      500,
    );
    assert.match(route, /BGP\.as_path: 64513/);
    const external = await lab.exec('external', 'curl', ['-s', '-m', '3', 'http://10.60.0.32/']);
    assert.match(external.stdout, /^pod shop\/.* on node-/);
  });
});
