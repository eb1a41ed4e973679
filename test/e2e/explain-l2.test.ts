// `bollard explain` on the lab (layer 2, 3 nodes): each branch of the explanation on a real situation the
// test creates — exhausted pool, namespace-restricted pool, serviceSelectors mismatch, autoAssign false,
// wrong family, sharing conflict, a pool nobody advertises, ETP Local without a local endpoint, a failing
// kube-proxy health check, a node excluded by label, an advertisement's nodeSelectors, a killed speaker —
// by running the real CLI in node-3 (apiserver through the node's forwarder, speakers' metrics on the LAN)
// and asserting both the text and the -o json fields.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { repoPath } from '../support/repo.js';
import { waitFor } from '../../lab/process.js';
import { metallbDemoObjects, type Manifest } from '../../lab/deploy.js';
import { EXCLUDE_LB_LABEL } from '../../speaker/eligibility.js';
import {
  explainKubeconfig,
  runExplain,
  type ExplainRun,
  type NodeExplanation,
  type PoolExplanation,
  type ServiceExplanation,
} from './explain-support.js';
import * as probes from '../support/lab-probes.js';

const NS = 'metallb-system';
const OBSERVER = 'node-3';

function pool(name: string, spec: Record<string, unknown>): Manifest {
  return { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: NS }, spec };
}

describe('bollard explain on the layer 2 lab', () => {
  let lab: Lab;
  let kc = '';

  const explain = (args: string[]): Promise<ExplainRun<ServiceExplanation>> =>
    runExplain<ServiceExplanation>(lab, OBSERVER, kc, args);

  /** Runs explain until `ok` holds for its JSON (the situation may take a moment to settle). */
  async function explainUntil(
    ref: string,
    what: string,
    ok: (e: ServiceExplanation, text: string) => boolean,
    timeoutMs = 20_000,
  ): Promise<ExplainRun<ServiceExplanation>> {
    let last: ExplainRun<ServiceExplanation> | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = await explain(['service', ref]);
          return ok(last.json, last.text) ? last : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nlast explanation:\n${last?.text ?? ''}\n${last?.stderr ?? ''}`,
      );
    }
  }

  const vipsOf = (ref: string): Promise<string[]> => probes.vipsOf(lab, ref);

  const node = (e: ServiceExplanation, n: string) => e.layer2?.nodes.find((x) => x.node === n);
  const poolOf = (e: ServiceExplanation, p: string) => e.pools.find((x) => x.pool === p);

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'none' });
    kc = await explainKubeconfig(lab);
    await lab.apply(
      ...metallbDemoObjects(lab.topology),
      pool('tiny', { addresses: ['10.50.0.160/32'], autoAssign: false }),
      pool('team-a', {
        addresses: ['10.50.0.180-10.50.0.181'],
        autoAssign: false,
        serviceAllocation: { namespaces: ['team-a'] },
      }),
      pool('gold', {
        addresses: ['10.50.0.170-10.50.0.171'],
        autoAssign: false,
        serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: 'gold' } }] },
      }),
      pool('v6only', { addresses: ['fd00:50::190-fd00:50::191'], autoAssign: false }),
      pool('pinned', { addresses: ['10.50.0.190-10.50.0.191'], autoAssign: false }),
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'L2Advertisement',
        metadata: { name: 'pinned', namespace: NS },
        spec: {
          ipAddressPools: ['pinned'],
          nodeSelectors: [{ matchLabels: { 'bollard.test/pinned': 'yes' } }],
        },
      },
    );
    await lab.client.patch('/api/v1/nodes/node-1', {
      metadata: { labels: { 'bollard.test/pinned': 'yes' } },
    });
    await lab.addService({ namespace: 'l2', name: 'web' });
    await lab.addPod('l2/web', 'node-1');
    await lab.addPod('l2/web', 'node-2');
  });

  after(async () => {
    await lab?.stop();
  });

  it('an announced Service: its IP, its pool, the other pools (autoAssign false…), the elected node answering ARP', async () => {
    const vips = await vipsOf('l2/web');
    const r = await explainUntil(
      'l2/web',
      'l2/web announced',
      (e) =>
        // settled: every speaker up and in membership
        e.verdict === 'announced' &&
        e.problems.length === 0 &&
        (e.layer2?.nodes ?? []).every((n) => n.eligible),
    );
    const e = r.json;
    assert.equal(r.code, 0, r.text);
    assert.deepEqual(e.problems, []);
    assert.equal(e.pool, 'lab-l2');
    assert.deepEqual([...e.ips].sort(), [...vips].sort());
    assert.equal(poolOf(e, 'lab-l2')?.verdict, 'holds');
    assert.equal(poolOf(e, 'tiny')?.verdict, 'auto-assign-off');
    assert.match(poolOf(e, 'tiny')?.reason ?? '', /autoAssign is false/);
    assert.deepEqual(
      e.advertisements.filter((a) => a.applies).map((a) => `${a.kind} ${a.name}`),
      ['L2Advertisement lab-l2'],
    );
    assert.equal(e.layer2?.nodes.filter((n) => n.eligible).length, 3);
    assert.ok(e.layer2?.expectedOwner);
    assert.deepEqual(e.layer2?.announcing, [e.layer2?.expectedOwner]);
    assert.match(r.text, /Service l2\/web: has .* and it is announced/);
    assert.match(r.text, new RegExp(`answering ARP/NDP now: ${e.layer2?.expectedOwner}`));
    assert.match(r.text, /✗ tiny: auto-assign-off: autoAssign is false/);
  });

  it('EXTERNAL-IP pending: exhausted pool, sharing conflict (and with whom), a pool nobody advertises', async () => {
    await lab.addService({
      namespace: 'share',
      name: 'a',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': 'tiny', 'metallb.io/allow-shared-ip': 'k' },
    });
    await vipsOf('share/a');
    await lab.addService({
      namespace: 'share',
      name: 'b',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': 'tiny', 'metallb.io/allow-shared-ip': 'k' },
    });
    await lab.addService({
      namespace: 'share',
      name: 'c',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': 'tiny' },
    });

    const b = await explainUntil('share/b', 'share/b controller event', (e) =>
      (e.allocation.lastEvent ?? '').startsWith('AllocationFailed'),
    );
    assert.equal(b.json.verdict, 'pending');
    assert.equal(b.code, 1);
    assert.equal(poolOf(b.json, 'tiny')?.verdict, 'sharing-conflict');
    assert.deepEqual(poolOf(b.json, 'tiny')?.conflicts, ['share/a']);
    assert.match(poolOf(b.json, 'tiny')?.reason ?? '', /10\.50\.0\.160 is used by share\/a on TCP\/80/);
    assert.equal(poolOf(b.json, 'lab-l2')?.verdict, 'not-requested');
    assert.match(b.text, /EXTERNAL-IP pending/);
    assert.match(b.text, /used by share\/a on TCP\/80/);

    const c = await explain(['service', 'share/c']);
    assert.equal(c.json.verdict, 'pending');
    assert.equal(poolOf(c.json, 'tiny')?.verdict, 'exhausted');
    assert.equal(c.json.allocation.reason, 'pool tiny is exhausted: 1 of 1 in use');
    assert.match(c.text, /EXTERNAL-IP pending: pool tiny is exhausted: 1 of 1 in use/);

    const a = await explain(['service', 'share/a']);
    assert.equal(a.json.verdict, 'not-announced');
    assert.ok(
      a.json.problems.some((p) => /no L2Advertisement or BGPAdvertisement covers pool tiny/.test(p)),
      a.text,
    );

    const p = await runExplain<PoolExplanation>(lab, OBSERVER, kc, ['pool', 'tiny']);
    assert.deepEqual(p.json.holders, [{ service: 'share/a', ips: ['10.50.0.160'] }]);
    assert.deepEqual(p.json.usage, [{ family: 'IPv4', total: '1', inUse: '1', available: '0' }]);
    assert.ok(p.json.problems.includes('IPv4 exhausted: 1 of 1 in use'));
    assert.match(p.text, /share\/a: 10\.50\.0\.160/);
  });

  it('EXTERNAL-IP pending: namespace-restricted pool, serviceSelectors mismatch, wrong family', async () => {
    await lab.addService({
      namespace: 'other',
      name: 'ns',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': 'team-a' },
    });
    await lab.addService({
      namespace: 'l2',
      name: 'plain',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': 'gold' },
    });
    await lab.addService({
      namespace: 'l2',
      name: 'v4only',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': 'v6only' },
    });

    const ns = await explain(['service', 'other/ns']);
    assert.equal(ns.json.verdict, 'pending');
    assert.equal(ns.json.allocation.reason, "pool team-a's serviceAllocation does not select other/ns");
    assert.equal(poolOf(ns.json, 'team-a')?.verdict, 'not-selected');
    assert.match(
      poolOf(ns.json, 'team-a')?.reason ?? '',
      /namespaces \[team-a\]; namespace "other" is not selected/,
    );
    assert.match(ns.text, /team-a: not-selected: serviceAllocation restricts it to namespaces \[team-a\]/);

    const sel = await explain(['service', 'l2/plain']);
    assert.equal(poolOf(sel.json, 'gold')?.verdict, 'not-selected');
    assert.match(
      poolOf(sel.json, 'gold')?.reason ?? '',
      /serviceSelectors \(tier In \(gold\)\) do not match/,
    );

    const fam = await explain(['service', 'l2/v4only']);
    assert.equal(fam.json.verdict, 'pending');
    assert.equal(poolOf(fam.json, 'v6only')?.verdict, 'wrong-family');
    assert.equal(fam.json.allocation.reason, 'pool v6only has no IPv4 addresses');
    assert.match(fam.text, /v6only: wrong-family: the pool has no IPv4 addresses; the Service needs IPv4/);
  });

  it('ETP Local: nodes without a local endpoint are not eligible; the one with it answers', async () => {
    await lab.addService({ namespace: 'l2', name: 'local', externalTrafficPolicy: 'Local' });
    await lab.addPod('l2/local', 'node-1');
    await vipsOf('l2/local');
    const r = await explainUntil(
      'l2/local',
      'node-1 answers',
      (e) => e.layer2?.announcing.join() === 'node-1',
    );
    const e = r.json;
    assert.equal(node(e, 'node-1')?.eligible, true);
    for (const n of ['node-2', 'node-3']) {
      assert.equal(node(e, n)?.reason, 'no-local-endpoint');
      assert.match(node(e, n)?.detail ?? '', /no ready endpoint on this node/);
    }
    assert.equal(e.layer2?.expectedOwner, 'node-1');
    assert.match(r.text, /✗ node-2: no-local-endpoint:/);
  });

  it("health check failing: node-1's kube-proxy stopped makes node-1 ineligible; nobody answers", async () => {
    await lab.stopProcess('node-1', 'kube-proxy');
    try {
      const r = await explainUntil(
        'l2/local',
        'node-1 health-check-failing',
        // (text and JSON come from two runs: wait until both show it)
        (e, text) => node(e, 'node-1')?.reason === 'health-check-failing' && /elected: none/.test(text),
      );
      assert.match(node(r.json, 'node-1')?.detail ?? '', /healthCheckNodePort \d+ fails on this node/);
      assert.equal(r.json.layer2?.expectedOwner, undefined);
      assert.ok(
        r.json.problems.some((p) => /no node is eligible to answer ARP\/NDP/.test(p)),
        r.text,
      );
      assert.match(r.text, /elected: none \(no eligible node\)/);
    } finally {
      await lab.startProcess('node-1', 'kube-proxy');
    }
    await explainUntil(
      'l2/local',
      'node-1 healthy again',
      (e) => node(e, 'node-1')?.eligible === true,
      30_000,
    );
  });

  it('a node labelled exclude-from-external-load-balancers is not eligible', async () => {
    await lab.client.patch('/api/v1/nodes/node-2', { metadata: { labels: { [EXCLUDE_LB_LABEL]: '' } } });
    try {
      const r = await explainUntil(
        'l2/web',
        'node-2 excluded',
        (e, text) =>
          node(e, 'node-2')?.reason === 'excluded-by-label' && /✗ node-2: excluded-by-label/.test(text),
      );
      assert.match(node(r.json, 'node-2')?.detail ?? '', /exclude-from-external-load-balancers/);
      assert.match(r.text, /✗ node-2: excluded-by-label/);
    } finally {
      await lab.client.patch('/api/v1/nodes/node-2', { metadata: { labels: { [EXCLUDE_LB_LABEL]: null } } });
    }
  });

  it("an L2Advertisement's nodeSelectors: nodes it does not select are not eligible", async () => {
    await lab.addService({
      namespace: 'l2',
      name: 'pinned',
      dualStack: false,
      selector: { app: 'web' },
      annotations: { 'metallb.io/address-pool': 'pinned' },
    });
    await vipsOf('l2/pinned');
    const r = await explainUntil(
      'l2/pinned',
      'pinned to node-1',
      (e) => e.layer2?.announcing.join() === 'node-1',
    );
    assert.equal(node(r.json, 'node-1')?.eligible, true);
    for (const n of ['node-2', 'node-3']) {
      assert.equal(node(r.json, n)?.reason, 'not-selected');
      assert.equal(node(r.json, n)?.detail, 'the nodeSelectors of pinned do not select this node');
    }
    assert.ok(
      r.json.advertisements.some(
        (a) => a.name === 'pinned' && a.applies && /bollard\.test\/pinned/.test(a.reason),
      ),
    );
  });

  it('a killed speaker: its node is not alive in membership, explain node says so', async () => {
    await lab.kill('node-2', 'speaker');
    try {
      const r = await explainUntil(
        'l2/web',
        'node-2 not alive',
        (e) => node(e, 'node-2')?.reason === 'not-alive',
      );
      assert.match(
        node(r.json, 'node-2')?.detail ?? '',
        /not alive in membership \(declared dead by node-1, node-3\)/,
      );
      assert.ok(r.json.speakers.some((s) => s.node === 'node-2' && !s.reachable));
      assert.ok(r.json.problems.some((p) => /speaker metrics at .* \(node-2\) are unreachable/.test(p)));
      const n = await runExplain<NodeExplanation>(lab, OBSERVER, kc, ['node', 'node-2']);
      assert.equal(n.json.membership.alive, false);
      assert.equal(n.json.speaker.reachable, false);
      assert.match(n.text, /Membership: NOT alive/);
      const me = await runExplain<NodeExplanation>(lab, OBSERVER, kc, ['node', 'node-3']);
      assert.equal(me.json.membership.view['node-2'], false);
      assert.equal(me.json.speaker.configState, 'Valid');
    } finally {
      await lab.startProcess('node-2', 'speaker');
    }
    try {
      await explainUntil('l2/web', 'node-2 back', (e) => node(e, 'node-2')?.eligible === true, 60_000);
    } catch (err) {
      const log = readFileSync(join(lab.logDir, 'node-2-speaker.log'), 'utf8')
        .split('\n')
        .slice(-30)
        .join('\n');
      throw new Error(`${(err as Error).message}\nnode-2 speaker log (tail):\n${log}`);
    }
  });

  it('kubectl bollard explain … runs the plugin from the PATH', async () => {
    const path = `${repoPath('bin')}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
    const r = await lab.exec(
      OBSERVER,
      'env',
      [
        `PATH=${path}`,
        'kubectl',
        'bollard',
        'explain',
        'service',
        'l2/web',
        // The lab's admin kubeconfig, pointed at the node's forwarder: how to run explain in the lab by hand.
        '--kubeconfig',
        lab.kubeconfig,
        '--server',
        lab.topology.nodeApiserver,
        '-o',
        'json',
      ],
      30_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const e = JSON.parse(r.stdout) as ServiceExplanation;
    assert.equal(e.service, 'l2/web');
    assert.equal(e.verdict, 'announced');
  });

  it('an invalid configuration: ConfigurationState controller and speaker-<node> say Invalid, explain says why', async () => {
    const overlapping = pool('overlap', { addresses: ['10.50.0.205/32'] });
    await lab.apply(overlapping);
    try {
      const r = await explainUntil(
        'l2/web',
        'configuration invalid',
        (e) => !e.config.valid && e.config.controllerState === 'Invalid',
      );
      assert.ok(
        r.json.config.errors.some((x) =>
          /IPAddressPool metallb-system\/[\w-]+: spec\.addresses\[0\]: .*overlaps/.test(x),
        ),
        r.text,
      );
      assert.ok(
        r.json.problems.some((p) => /the metallb\.io configuration is invalid/.test(p)),
        r.text,
      );
      assert.match(r.text, /Configuration:\n {2}INVALID \(ConfigurationState controller: Invalid\)/);
      const n = await waitFor(
        'speaker ConfigurationState Invalid',
        async () => {
          const x = await runExplain<NodeExplanation>(lab, OBSERVER, kc, ['node', OBSERVER]);
          return x.json.speaker.configState === 'Invalid' ? x : undefined;
        },
        20_000,
        250,
      );
      assert.ok(n.json.problems.includes(`ConfigurationState speaker-${OBSERVER} is Invalid`), n.text);
      const cs = await lab.client.get<{ status?: { result?: string; errorSummary?: string } }>(
        `/apis/metallb.io/v1beta1/namespaces/${NS}/configurationstates/speaker-${OBSERVER}`,
      );
      assert.match(cs.status?.errorSummary ?? '', /overlaps/);
    } finally {
      await lab.client.delete(`/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools/overlap`);
    }
    await explainUntil(
      'l2/web',
      'configuration valid again',
      (e) => e.config.valid && e.config.controllerState === 'Valid',
    );
  });

  it('explain of a missing Service fails with exit 2 and a JSON error', async () => {
    const r = await explain(['service', 'l2/nope']);
    assert.equal(r.code, 2);
    assert.deepEqual(r.json, { error: 'Service l2/nope: not found' });
  });
});
