// `bollard explain` on the BGP lab (2 nodes, BIRD): which peers carry the route and the state of those
// sessions (metallb_bgp_session_up from each speaker), ServiceBGPStatus peers, and what explain says
// when the peer goes down (BIRD stopped) and comes back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import {
  explainKubeconfig,
  runExplain,
  type ExplainRun,
  type NodeExplanation,
  type ServiceExplanation,
} from './explain-support.js';

const OBSERVER = 'node-2';

describe('bollard explain on the BGP lab', () => {
  let lab: Lab;
  let kc = '';

  async function explainUntil(
    ref: string,
    what: string,
    ok: (e: ServiceExplanation) => boolean,
    timeoutMs = 30_000,
  ): Promise<ExplainRun<ServiceExplanation>> {
    let last: ExplainRun<ServiceExplanation> | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = await runExplain<ServiceExplanation>(lab, OBSERVER, kc, ['service', ref]);
          return ok(last.json) ? last : undefined;
        },
        timeoutMs,
        300,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nlast explanation:\n${last?.text ?? ''}\n${last?.stderr ?? ''}`,
      );
    }
  }

  const carriedBy = (e: ServiceExplanation): string[] =>
    (e.bgp?.nodes ?? [])
      .flatMap((n) => n.peers.filter((p) => p.carries).map((p) => `${n.node}/${p.peer}`))
      .sort();

  before(async () => {
    lab = await startLab({ nodes: 2, router: 'bird' });
    kc = await explainKubeconfig(lab);
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({
      namespace: 'bgp',
      name: 'web',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
    });
    await lab.addPod('bgp/web', 'node-1');
  });

  after(async () => {
    await lab?.stop();
  });

  it('every node announces to the IPv4 peer with its session up; ServiceBGPStatus lists the peer', async () => {
    const r = await explainUntil(
      'bgp/web',
      'routes carried',
      (e) => carriedBy(e).length === 2 && e.bgp!.nodes.every((n) => n.statusPeers.length > 0),
    );
    const e = r.json;
    assert.equal(e.verdict, 'announced');
    assert.equal(e.pool, 'lab-bgp');
    assert.deepEqual(carriedBy(e), ['node-1/lab-router-v4', 'node-2/lab-router-v4']);
    for (const n of e.bgp?.nodes ?? []) {
      assert.equal(n.peers.find((p) => p.peer === 'lab-router-v4')?.sessionUp, true);
      assert.ok(n.statusPeers.includes('lab-router-v4'), n.statusPeers.join());
      const v6 = n.peers.find((p) => p.peer === 'lab-router-v6');
      if (v6) {
        assert.equal(v6.carries, false);
        assert.match(v6.detail, /carries only IPv6 routes \(dualStackAddressFamily is false\)/);
      }
    }
    assert.ok(e.advertisements.some((a) => a.kind === 'BGPAdvertisement' && a.applies));
    assert.match(r.text, /✓ peer lab-router-v4: session up; the route is announced/);
    const node = await runExplain<NodeExplanation>(lab, OBSERVER, kc, ['node', 'node-1']);
    assert.ok(node.json.sessions.some((x) => x.peer === 'lab-router-v4' && x.up === true));
    assert.ok(
      node.json.vips.some((v) => v.service === 'bgp/web' && v.protocol === 'bgp'),
      node.text,
    );
  });

  it('BGP peer down: explain names the session that is down and says no session carries the route', async () => {
    await lab.stopProcess('router', 'bird');
    try {
      const r = await explainUntil('bgp/web', 'sessions down', (e) => carriedBy(e).length === 0);
      const e = r.json;
      assert.equal(e.verdict, 'not-announced');
      for (const n of e.bgp?.nodes ?? []) {
        const p = n.peers.find((x) => x.peer === 'lab-router-v4');
        assert.equal(p?.sessionUp, false);
        assert.match(p?.detail ?? '', /session down \(metallb_bgp_session_up 0\) to 10\.50\.0\.1 AS \d+/);
      }
      assert.ok(
        e.problems.some((p) => /no BGP session carries a route for/.test(p)),
        r.text,
      );
      assert.ok(e.problems.includes('node-1: BGP session to lab-router-v4 is down'), r.text);
      const node = await runExplain<NodeExplanation>(lab, OBSERVER, kc, ['node', 'node-1']);
      assert.ok(node.json.problems.includes('BGP session to lab-router-v4 is down'), node.text);
      assert.equal(node.code, 1);
    } finally {
      await lab.startProcess('router', 'bird');
    }
    await explainUntil('bgp/web', 'sessions back', (e) => carriedBy(e).length === 2, 60_000);
  });
});
