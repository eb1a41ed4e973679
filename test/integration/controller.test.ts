// The controller against a real kube-apiserver, driven as a user would: Services, pools and namespaces are
// created and changed; status, annotations, Events, pool status and ConfigurationState are read back.
// The controller runs in-process with its ServiceAccount's token (deploy/rbac/controller.yaml), never admin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { runController, type RunningController } from '../../controller/main.js';
import { KubeClient, ApiError } from '../../k8s/client.js';
import { repoPath } from '../support/repo.js';
import {
  applyManifest,
  create,
  eventsFor,
  get,
  ingressIPs,
  installCRDs,
  lbService,
  mergePatch,
  namespaceObj,
  pool,
  remove,
  waitForEvent,
  waitForIPs,
  type Obj,
} from './controller-helpers.js';

const NS = 'metallb-system';

describe('controller on a real apiserver', () => {
  let cp: ControlPlane;
  let ctl: RunningController | undefined;
  let kubeconfig = '';
  /** The objects whose changes asked the controller for a configuration reload, as it logged them. */
  const reloadAskers: { kind: string; name: string }[] = [];
  let onReloadAsked: () => void = () => undefined;

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'controller.yaml'));
    kubeconfig = await cp.kubeconfigFor(NS, 'controller');
    mkdirSync(cp.logDir, { recursive: true });
    const file = createWriteStream(join(cp.logDir, 'controller.log'));
    const logger = pino(
      { level: 'debug', formatters: { level: (l) => ({ level: l }) } },
      {
        write: (line: string) => {
          if (line.includes('"msg":"configuration reload scheduled"')) {
            const { object } = JSON.parse(line) as { object: { kind: string; name: string } };
            reloadAskers.push(object);
            onReloadAsked();
          }
          file.write(line);
        },
      },
    );
    ctl = await runController({
      kubeconfig,
      namespace: NS,
      metricsBind: '127.0.0.1:0',
      logger,
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
    });
    await waitFor('leader', () => (ctl?.reconciler.isLeader ? true : undefined), 15_000);
  });
  after(async () => {
    await ctl?.stop();
    await cp?.stop();
  });

  async function ns(name: string, labels?: Record<string, string>): Promise<void> {
    await create(cp, namespaceObj(name, labels));
  }
  /** A pool only the given namespaces may use (keeps tests apart); waits until the controller has loaded it. */
  async function nsPool(
    name: string,
    addresses: string[],
    namespaces: string[],
    extra: Record<string, unknown> = {},
  ): Promise<Obj> {
    const p = await create(cp, pool(NS, name, { addresses, serviceAllocation: { namespaces }, ...extra }));
    await poolLoaded(name);
    return p;
  }
  /** The controller writes pool status once it has the pool in its model. */
  async function poolLoaded(name: string): Promise<void> {
    await waitFor(
      `pool ${name} loaded`,
      async () =>
        (await get(cp, pool(NS, name, {})))?.status?.availableIPv4 !== undefined ? true : undefined,
      10_000,
    );
  }

  it('assigns the lowest free IP: status ingress with ipMode VIP, the pool annotation, an IPAllocated Event', async () => {
    await ns('t1');
    await nsPool('t1-pool', ['10.1.0.10-10.1.0.20'], ['t1']);
    await create(cp, lbService('t1', 'web'));
    assert.deepEqual(await waitForIPs(cp, 't1', 'web'), ['10.1.0.10']);
    const svc = await get(cp, lbService('t1', 'web'));
    assert.deepEqual((svc?.status as { loadBalancer: unknown }).loadBalancer, {
      ingress: [{ ip: '10.1.0.10', ipMode: 'VIP' }],
    });
    await waitFor(
      'annotation',
      async () =>
        (await get(cp, lbService('t1', 'web')))?.metadata.annotations?.[
          'metallb.io/ip-allocated-from-pool'
        ] === 't1-pool'
          ? true
          : undefined,
      10_000,
    );
    const ev = await waitForEvent(cp, 't1', 'web', 'IPAllocated');
    assert.equal(ev.note, 'Assigned IP ["10.1.0.10"] from pool t1-pool');
    assert.equal(ev.type, 'Normal');
    await create(cp, lbService('t1', 'api'));
    assert.deepEqual(await waitForIPs(cp, 't1', 'api'), ['10.1.0.11']);
  });

  it('honours a requested IP and reports one outside every pool', async () => {
    await ns('t2');
    await nsPool('t2-pool', ['10.2.0.0/24'], ['t2']);
    await create(
      cp,
      lbService('t2', 'fixed', { annotations: { 'metallb.io/loadBalancerIPs': '10.2.0.77' } }),
    );
    assert.deepEqual(await waitForIPs(cp, 't2', 'fixed'), ['10.2.0.77']);
    await create(cp, lbService('t2', 'legacy', { spec: { loadBalancerIP: '10.2.0.78' } }));
    assert.deepEqual(await waitForIPs(cp, 't2', 'legacy'), ['10.2.0.78']);
    await create(cp, lbService('t2', 'stray', { annotations: { 'metallb.io/loadBalancerIPs': '10.9.9.9' } }));
    const ev = await waitForEvent(cp, 't2', 'stray', 'AllocationFailed');
    assert.equal(ev.note, 'Failed to allocate IP for "t2/stray": 10.9.9.9 is not in any pool');
    assert.equal(ev.type, 'Warning');
    assert.deepEqual(ingressIPs(await get(cp, lbService('t2', 'stray'))), []);
    await create(
      cp,
      lbService('t2', 'both', {
        annotations: { 'metallb.io/loadBalancerIPs': '10.2.0.5' },
        spec: { loadBalancerIP: '10.2.0.6' },
      }),
    );
    const both = await waitForEvent(cp, 't2', 'both', 'AllocationFailed');
    assert.match(
      both.note,
      /spec.loadBalancerIP and the metallb.io\/loadBalancerIPs annotation are both set/,
    );
    // a taken IP is refused with the holder named
    await create(
      cp,
      lbService('t2', 'thief', { annotations: { 'metallb.io/loadBalancerIPs': '10.2.0.77' } }),
    );
    const thief = await waitForEvent(cp, 't2', 'thief', 'AllocationFailed');
    assert.equal(thief.note, 'Failed to allocate IP for "t2/thief": 10.2.0.77 is used by t2/fixed');
  });

  it('shares an IP between Services with the same allow-shared-ip key and disjoint ports', async () => {
    await ns('t3');
    await nsPool('t3-pool', ['10.3.0.1-10.3.0.9'], ['t3']);
    const share = { 'metallb.io/allow-shared-ip': 'k' };
    await create(cp, lbService('t3', 'http', { annotations: share }));
    const [ip] = await waitForIPs(cp, 't3', 'http');
    await create(
      cp,
      lbService('t3', 'https', {
        annotations: share,
        spec: { ports: [{ name: 'https', port: 443, protocol: 'TCP' }] },
      }),
    );
    assert.deepEqual(await waitForIPs(cp, 't3', 'https'), [ip]);
    await create(cp, lbService('t3', 'clash', { annotations: share }));
    const [other] = await waitForIPs(cp, 't3', 'clash');
    assert.notEqual(other, ip, 'same port 80 cannot share');
    await create(
      cp,
      lbService('t3', 'pinned', { annotations: { ...share, 'metallb.io/loadBalancerIPs': ip as string } }),
    );
    const ev = await waitForEvent(cp, 't3', 'pinned', 'AllocationFailed');
    assert.match(ev.note, new RegExp(`${ip} is used by t3/(http|clash) on TCP/80`));
  });

  it('address-pool picks an autoAssign: false pool; pools are otherwise chosen by priority', async () => {
    await ns('t4');
    await create(
      cp,
      pool(NS, 't4-manual', {
        addresses: ['10.4.9.0/30'],
        autoAssign: false,
        serviceAllocation: { namespaces: ['t4'] },
      }),
    );
    await create(
      cp,
      pool(NS, 't4-low', {
        addresses: ['10.4.2.0/30'],
        serviceAllocation: { priority: 20, namespaces: ['t4'] },
      }),
    );
    await create(
      cp,
      pool(NS, 't4-high', {
        addresses: ['10.4.1.0/30'],
        serviceAllocation: { priority: 10, namespaces: ['t4'] },
      }),
    );
    for (const p of ['t4-manual', 't4-low', 't4-high']) await poolLoaded(p);
    await create(cp, lbService('t4', 'auto'));
    assert.deepEqual(await waitForIPs(cp, 't4', 'auto'), ['10.4.1.0']);
    await create(cp, lbService('t4', 'manual', { annotations: { 'metallb.io/address-pool': 't4-manual' } }));
    assert.deepEqual(await waitForIPs(cp, 't4', 'manual'), ['10.4.9.0']);
    await create(
      cp,
      lbService('t4', 'old', { annotations: { 'metallb.universe.tf/address-pool': 't4-low' } }),
    );
    assert.deepEqual(await waitForIPs(cp, 't4', 'old'), ['10.4.2.0']);
    const dep = await waitForEvent(cp, 't4', 'old', 'deprecatedAnnotation');
    assert.equal(
      dep.note,
      'annotation metallb.universe.tf/address-pool is deprecated, use metallb.io/address-pool',
    );
    assert.equal(dep.type, 'Warning');
  });

  it('a namespace-selected pool: a label change on the namespace moves the Service, with a ClearAssignment Event', async () => {
    await ns('t5', { tier: 'gold' });
    await create(
      cp,
      pool(NS, 't5-gold', {
        addresses: ['10.5.1.0/30'],
        serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }] },
      }),
    );
    await poolLoaded('t5-gold');
    await nsPool('t5-any', ['10.5.2.0/30'], ['t5']);
    await create(cp, lbService('t5', 'web'));
    assert.deepEqual(await waitForIPs(cp, 't5', 'web'), ['10.5.1.0']);
    await mergePatch(cp, namespaceObj('t5'), { metadata: { labels: { tier: 'bronze' } } });
    await waitFor(
      'moved',
      async () => (ingressIPs(await get(cp, lbService('t5', 'web')))[0] === '10.5.2.0' ? true : undefined),
      15_000,
    );
    const ev = await waitForEvent(cp, 't5', 'web', 'ClearAssignment');
    assert.equal(ev.note, "Cleared 10.5.1.0: pool t5-gold's serviceAllocation no longer selects t5/web");
  });

  it('reports exhaustion, then assigns when an IP is freed by a deletion', async () => {
    await ns('t6');
    await nsPool('t6-pool', ['10.6.0.1-10.6.0.2'], ['t6']);
    await create(cp, lbService('t6', 'a'));
    await create(cp, lbService('t6', 'b'));
    await waitForIPs(cp, 't6', 'a');
    await waitForIPs(cp, 't6', 'b');
    await create(cp, lbService('t6', 'c'));
    const ev = await waitForEvent(cp, 't6', 'c', 'AllocationFailed');
    assert.equal(ev.note, 'Failed to allocate IP for "t6/c": pool t6-pool is exhausted: 2 of 2 in use');
    const [freed] = ingressIPs(await get(cp, lbService('t6', 'a')));
    await remove(cp, lbService('t6', 'a'));
    assert.deepEqual(await waitForIPs(cp, 't6', 'c'), [freed]);
  });

  it('keeps pool status current', async () => {
    await waitFor(
      'pool status',
      async () => {
        const p = await get(cp, pool(NS, 't6-pool', {}));
        const st = p?.status as Record<string, number> | undefined;
        return st?.assignedIPv4 === 2 && st.availableIPv4 === 0 && st.assignedIPv6 === 0 ? st : undefined;
      },
      10_000,
    );
  });

  // One minute: a lost marker fails then rather than at the runner's ten minutes; nothing waits on it.
  it(
    'its own pool status writes do not reload the configuration (nor requeue every Service)',
    { timeout: 60_000 },
    async () => {
      await ns('t6b');
      await nsPool('t6b-pool', ['10.6.1.1-10.6.1.3'], ['t6b']);
      const before = reloadAskers.length;
      await create(cp, lbService('t6b', 'a'));
      await create(cp, lbService('t6b', 'b'));
      await waitForIPs(cp, 't6b', 'a');
      await waitForIPs(cp, 't6b', 'b');
      await waitFor(
        'pool status counts both',
        async () =>
          ((await get(cp, pool(NS, 't6b-pool', {})))?.status as Record<string, number> | undefined)
            ?.assignedIPv4 === 2
            ? true
            : undefined,
        10_000,
      );
      // The marker: a label on the pool, a change that does reload. The controller's informer gets it
      // after the status writes above (one watch, in resourceVersion order), so once it asks for its
      // reload, any reload a status write asked for has been logged before it.
      const marked = new Promise<void>((resolve) => {
        onReloadAsked = () => {
          if (reloadAskers.length > before && reloadAskers.at(-1)?.name === 't6b-pool') resolve();
        };
      });
      await mergePatch(cp, pool(NS, 't6b-pool', {}), { metadata: { labels: { marker: 'after-status' } } });
      await marked;
      assert.deepEqual(
        reloadAskers.slice(before).map((o) => `${o.kind}/${o.name}`),
        ['IPAddressPool/t6b-pool'],
        'only the label change asked for a reload, not the status writes before it',
      );
    },
  );

  it('releases the IP and clears status when the Service stops being a LoadBalancer', async () => {
    await ns('t7');
    await nsPool('t7-pool', ['10.7.0.1/32'], ['t7']);
    await create(cp, lbService('t7', 'web'));
    await waitForIPs(cp, 't7', 'web');
    await mergePatch(cp, lbService('t7', 'web'), { spec: { type: 'ClusterIP' } });
    const ev = await waitForEvent(cp, 't7', 'web', 'ClearAssignment');
    assert.equal(ev.note, 'Released 10.7.0.1: the Service is no longer of type LoadBalancer (now ClusterIP)');
    await waitFor(
      'status cleared',
      async () => (ingressIPs(await get(cp, lbService('t7', 'web'))).length === 0 ? true : undefined),
      10_000,
    );
    await create(cp, lbService('t7', 'next'));
    assert.deepEqual(await waitForIPs(cp, 't7', 'next'), ['10.7.0.1']);
  });

  it('never touches a Service of another loadBalancerClass', async () => {
    await ns('t8');
    await nsPool('t8-pool', ['10.8.0.0/30'], ['t8']);
    await create(cp, lbService('t8', 'theirs', { spec: { loadBalancerClass: 'example.com/other' } }));
    await create(cp, lbService('t8', 'ours'));
    await waitForIPs(cp, 't8', 'ours');
    const theirs = await get(cp, lbService('t8', 'theirs'));
    assert.deepEqual(ingressIPs(theirs), []);
    assert.equal(theirs?.metadata.annotations?.['metallb.io/ip-allocated-from-pool'], undefined);
    assert.deepEqual(await eventsFor(cp, 't8', 'theirs'), []);
  });

  it('dual-stack: RequireDualStack gets both families from one pool; without one it fails clearly', async () => {
    await ns('t9');
    await nsPool('t9-ds', ['10.9.0.0/30', 'fd00:9::/126'], ['t9']);
    await create(
      cp,
      lbService('t9', 'ds', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } }),
    );
    assert.deepEqual(await waitForIPs(cp, 't9', 'ds', 2), ['10.9.0.0', 'fd00:9::']);
    await create(
      cp,
      lbService('t9', 'v6', { spec: { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] } }),
    );
    assert.deepEqual(await waitForIPs(cp, 't9', 'v6'), ['fd00:9::1']);
    await ns('t9b');
    await nsPool('t9b-v4', ['10.9.1.0/30'], ['t9b']);
    await create(
      cp,
      lbService('t9b', 'ds', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } }),
    );
    const ev = await waitForEvent(cp, 't9b', 'ds', 'AllocationFailed', /no pool holds/);
    assert.equal(
      ev.note,
      'Failed to allocate IP for "t9b/ds": no pool holds both IPv4 and IPv6 addresses for RequireDualStack Service t9b/ds',
    );
    // PreferDualStack falls back to IPv4 and adds IPv6 once the pool has some
    await create(
      cp,
      lbService('t9b', 'pref', { spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] } }),
    );
    const [v4] = await waitForIPs(cp, 't9b', 'pref', 1);
    await mergePatch(cp, pool(NS, 't9b-v4', {}), { spec: { addresses: ['10.9.1.0/30', 'fd00:9:1::/126'] } });
    const both = await waitForIPs(cp, 't9b', 'pref', 2);
    assert.equal(both[0], v4, 'the IPv4 address is kept');
  });

  it('pool shrink moves the affected Service; pool deletion clears it, with reasons', async () => {
    await ns('t10');
    await nsPool('t10-pool', ['10.10.0.1-10.10.0.4'], ['t10']);
    await create(cp, lbService('t10', 'a'));
    await waitForIPs(cp, 't10', 'a');
    await create(cp, lbService('t10', 'b'));
    assert.deepEqual(await waitForIPs(cp, 't10', 'b'), ['10.10.0.2']);
    await mergePatch(cp, pool(NS, 't10-pool', {}), { spec: { addresses: ['10.10.0.1/32', '10.10.0.3/32'] } });
    await waitFor(
      'b moved',
      async () => (ingressIPs(await get(cp, lbService('t10', 'b')))[0] === '10.10.0.3' ? true : undefined),
      15_000,
    );
    const moved = await waitForEvent(cp, 't10', 'b', 'ClearAssignment');
    assert.equal(
      moved.note,
      'Cleared 10.10.0.2: 10.10.0.2 is no longer in any pool (pool t10-pool was deleted or shrunk)',
    );
    assert.deepEqual(ingressIPs(await get(cp, lbService('t10', 'a'))), ['10.10.0.1'], 'a did not move');
    await remove(cp, pool(NS, 't10-pool', {}));
    await waitFor(
      'a cleared',
      async () => (ingressIPs(await get(cp, lbService('t10', 'a'))).length === 0 ? true : undefined),
      15_000,
    );
    await waitForEvent(cp, 't10', 'a', 'AllocationFailed');
  });

  it('an invalid configuration is reported (Event, ConfigurationState) and the last good one stays in force', async () => {
    await ns('t11');
    await nsPool('t11-pool', ['10.11.0.0/30'], ['t11']);
    await waitFor(
      'state valid',
      async () =>
        (
          await get(cp, {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'ConfigurationState',
            metadata: { name: 'controller', namespace: NS },
          })
        )?.status?.result === 'Valid'
          ? true
          : undefined,
      10_000,
    );
    // overlaps t11-pool: the schema accepts it, the parse rejects it
    await create(cp, pool(NS, 't11-z-overlap', { addresses: ['10.11.0.2/31'] }));
    const state = await waitFor(
      'state invalid',
      async () => {
        const s = await get(cp, {
          apiVersion: 'metallb.io/v1beta1',
          kind: 'ConfigurationState',
          metadata: { name: 'controller', namespace: NS },
        });
        return s?.status?.result === 'Invalid' ? s : undefined;
      },
      10_000,
    );
    assert.equal(
      state.status?.errorSummary,
      'IPAddressPool metallb-system/t11-z-overlap: spec.addresses[0]: 10.11.0.2/31 overlaps with 10.11.0.0/30 in pool t11-pool',
    );
    const ev = await waitForEvent(
      cp,
      NS,
      't11-z-overlap',
      'InvalidConfiguration',
      undefined,
      'IPAddressPool',
    );
    assert.equal(
      ev.note,
      'spec.addresses[0]: 10.11.0.2/31 overlaps with 10.11.0.0/30 in pool t11-pool; the last valid configuration stays in force',
    );
    // the last good model still allocates
    await create(cp, lbService('t11', 'web'));
    assert.deepEqual(await waitForIPs(cp, 't11', 'web'), ['10.11.0.0']);
    assert.match(await metricsText(), /metallb_k8s_client_config_stale_bool 1/);
    await remove(cp, pool(NS, 't11-z-overlap', {}));
    await waitFor(
      'state valid again',
      async () =>
        (
          await get(cp, {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'ConfigurationState',
            metadata: { name: 'controller', namespace: NS },
          })
        )?.status?.result === 'Valid'
          ? true
          : undefined,
      10_000,
    );
  });

  async function metricsText(): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${ctl?.metricsPort}/metrics`);
    return r.text();
  }

  it('serves /metrics with MetalLB names, /healthz and /readyz', async () => {
    const text = await metricsText();
    for (const name of [
      'metallb_allocator_addresses_total{pool="t1-pool"} 11',
      'metallb_allocator_addresses_in_use_total{pool="t1-pool"} 2',
      'metallb_allocator_ipv4_addresses_in_use_total{pool="t1-pool"} 2',
      'metallb_allocator_ipv6_addresses_total{pool="t9-ds"} 4',
      'metallb_k8s_client_config_loaded_bool 1',
      'bollard_controller_is_leader 1',
      'metallb_k8s_client_updates_total',
      'metallb_k8s_client_update_errors_total',
      'bollard_controller_reconcile_duration_seconds_bucket',
      'bollard_controller_workqueue_depth',
    ])
      assert.ok(text.includes(name), `missing ${name}`);
    assert.equal((await fetch(`http://127.0.0.1:${ctl?.metricsPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${ctl?.metricsPort}/readyz`)).status, 200);
  });

  it('creates the memberlist Secret with 128 random bytes', async () => {
    const s = await waitFor(
      'memberlist',
      async () =>
        get(cp, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'memberlist', namespace: NS } }),
      10_000,
    );
    const key = (s.data as Record<string, string>).secretkey ?? '';
    assert.equal(Buffer.from(key, 'base64').length, 128);
  });

  it("the controller's token is refused what it must not do", async () => {
    const client = KubeClient.fromFile(kubeconfig);
    try {
      const refused = async (method: string, path: string, body?: unknown) => {
        await assert.rejects(
          client.request(method, path, { body }),
          (e: unknown) => e instanceof ApiError && e.forbidden,
          `${method} ${path}`,
        );
      };
      await refused('GET', '/api/v1/pods');
      await refused('GET', '/api/v1/namespaces/t1/secrets');
      await refused('GET', `/api/v1/namespaces/${NS}/secrets/other`);
      await refused('DELETE', '/api/v1/namespaces/t1/services/web');
      await refused(
        'POST',
        `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`,
        pool(NS, 'evil', { addresses: ['10.99.0.0/24'] }),
      );
      await refused('GET', '/apis/metallb.io/v1beta1/namespaces/t1/ipaddresspools');
      await refused('PUT', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/someone-else`, {});
      // and it may do what it needs
      await client.get('/api/v1/services');
    } finally {
      client.close();
    }
  });
});
