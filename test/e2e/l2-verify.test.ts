// Verified announcements and address conflicts in layer 2, on the lab (3 nodes): the VIP's successor in
// election order probes it from the wire and writes bollard.io/Verified and bollard.io/AddressConflict on
// the Service; the owner mirrors them into its ServiceL2Status.
//  1. The client claims the VIP (`ip addr add` + gratuitous ARP with `arping -U`): the conflict shows as a
//     Warning Event, the condition, the ServiceL2Status condition, the metric and an explain line; it
//     clears when the client lets go.
//  2. The owner's ARP answers for the VIP are dropped on the LAN's bridge (ebtables, ARP from the owner's
//     MAC with sender = VIP):
//     Verified becomes False/NotAnswering, and explain says so; lifting the filter brings it back.
//  3. A port whose pods do not listen: the owner's connection to VIP:port through kube-proxy is
//     refused, and Verified becomes False/NotDelivered until the port goes.
import { after, before, describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { electionOrder, electOwner } from '../../speaker/layer2/election.js';
import { metricValue } from '../support/chaos.js';
import * as probes from '../support/lab-probes.js';
import { explainKubeconfig, runExplain, type ServiceExplanation } from './explain-support.js';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

interface EventObj {
  type?: string;
  reason?: string;
  note?: string;
  regarding?: { name?: string };
  metadata?: { name?: string };
}

const execFileP = promisify(execFile);
const NODES = ['node-1', 'node-2', 'node-3'];
const VERIFIED = 'bollard.io/Verified';
const CONFLICT = 'bollard.io/AddressConflict';

describe('layer 2 verification on the lab (3 nodes)', () => {
  let lab: Lab;
  let kc = '';
  let vip = '';
  let owner = '';
  let prober = '';

  const conditions = async (): Promise<Cond[]> =>
    (await lab.client.get<{ status?: { conditions?: Cond[] } }>('/api/v1/namespaces/l2/services/web')).status
      ?.conditions ?? [];

  /** Waits until the Service's condition `type` satisfies `ok`; returns it. */
  async function condition(
    type: string,
    ok: (c: Cond) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<Cond> {
    let last: Cond[] = [];
    try {
      return await waitFor(
        what,
        async () => {
          last = await conditions();
          const c = last.find((x) => x.type === type);
          return c && ok(c) ? c : undefined;
        },
        timeoutMs,
        50,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; conditions: ${JSON.stringify(last, null, 1)}`);
    }
  }

  async function l2StatusConditions(): Promise<Cond[]> {
    const list = await lab.client.get<{
      items: { metadata?: { labels?: Record<string, string> }; status?: { conditions?: Cond[] } }[];
    }>('/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses');
    return (
      list.items.find((i) => i.metadata?.labels?.['metallb.io/service-name'] === 'web')?.status?.conditions ??
      []
    );
  }

  const metrics = async (node: string): Promise<string> => {
    const ip = lab.topology.nodes.find((n) => n.name === node)?.ipv4.ip;
    return (await lab.exec(node, 'curl', ['-sf', '-m', '2', `http://${ip}:7472/metrics`])).stdout;
  };

  /** `kubectl get … -o yaml` from `status:` on, printed as `# ` lines (the docs quote them). */
  const printStatusYaml = async (label: string, args: string[]): Promise<void> => {
    try {
      const { stdout } = await execFileP('kubectl', [
        '--kubeconfig',
        lab.kubeconfig,
        'get',
        ...args,
        '-o',
        'yaml',
      ]);
      const from = stdout.search(/^ {0,4}status:/m);
      process.stdout.write(`# ${label}:\n${stdout.slice(from < 0 ? 0 : from).replace(/^/gm, '# ')}\n`);
    } catch (err) {
      process.stdout.write(`# ${label}: kubectl failed: ${(err as Error).message}\n`);
    }
  };

  const explain = (): Promise<{ json: ServiceExplanation; text: string }> =>
    runExplain<ServiceExplanation>(lab, 'node-3', kc, ['service', 'l2/web']);

  async function explainUntil(what: string, ok: (text: string) => boolean): Promise<string> {
    let last = '';
    try {
      return await waitFor(
        what,
        async () => {
          last = (await explain()).text;
          return ok(last) ? last : undefined;
        },
        30_000,
        250,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast explanation:\n${last}`);
    }
  }

  /** ebtables in the LAN bridge's namespace. */
  const ebtables = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
    try {
      await execFileP('ip', ['netns', 'exec', lab.net.lan.bridgeNs, 'ebtables', ...args]);
      return { code: 0, stderr: '' };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stderr: e.stderr ?? String(err) };
    }
  };
  const blockRule = (): string[] => {
    const ownerMac = lab.topology.nodes.find((n) => n.name === owner)?.mac ?? '';
    return ['FORWARD', '-p', 'ARP', '-s', ownerMac, '--arp-ip-src', vip, '-j', 'DROP'];
  };

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'none' });
    kc = await explainKubeconfig(lab);
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'l2', name: 'web' });
    await lab.addPod('l2/web', 'node-1');
    await lab.addPod('l2/web', 'node-2');
    vip = (await probes.vipsOf(lab, 'l2/web'))[0] as string;
    owner = electOwner(NODES, vip) as string;
    prober = electionOrder(
      NODES.filter((n) => n !== owner),
      vip,
    )[0] as string;
  });

  after(async () => {
    if (lab) {
      await lab.exec('client', 'ip', ['addr', 'del', `${vip}/32`, 'dev', 'eth0']).catch(() => undefined);
      await ebtables('-D', ...blockRule()).catch(() => undefined);
    }
    await lab?.stop();
  });

  it("the VIP's successor verifies it: Verified True/Answering with the owner's MAC, mirrored into ServiceL2Status", async () => {
    const ownerMac = lab.topology.nodes.find((n) => n.name === owner)?.mac.toLowerCase() ?? '';
    const v = await condition(VERIFIED, (c) => c.status === 'True', 'Verified True');
    assert.equal(v.reason, 'Answering');
    assert.match(
      v.message,
      new RegExp(`answers ARP from node "${owner}" \\(${ownerMac}\\), seen from "${prober}"`),
    );
    const c = await condition(CONFLICT, (x) => x.status === 'False', 'AddressConflict False');
    assert.equal(c.reason, 'NoConflict');
    await waitFor(
      'ServiceL2Status conditions',
      async () => {
        const l = await l2StatusConditions();
        return l.some((x) => x.type === VERIFIED && x.status === 'True') ? true : undefined;
      },
      30_000,
      100,
    );
    const m = await metrics(prober);
    assert.ok((metricValue(m, 'bollard_l2_verification', { state: 'Answering' }) ?? 0) >= 1, m);
    const text = await explainUntil('explain: verified', (t) =>
      /✓ verified from the wire: Answering/.test(t),
    );
    process.stdout.write(`# explain (verified):\n${text.replace(/^/gm, '# ')}\n`);
  });

  it('a host on the LAN claims the VIP: Warning Event, AddressConflict True, metric, ServiceL2Status, explain; it clears when the host lets go', async () => {
    const clientMac = lab.topology.client.mac.toLowerCase();
    await lab.exec('client', 'ip', ['addr', 'add', `${vip}/32`, 'dev', 'eth0']);
    const t0 = Date.now();
    await lab.exec('client', 'arping', ['-U', '-S', vip, '-i', 'eth0', '-c', '2', '-W', '0.2', vip], 10_000);
    const c = await condition(CONFLICT, (x) => x.status === 'True', 'AddressConflict True');
    process.stdout.write(
      `# gratuitous ARP from the client -> AddressConflict True on the Service in ${Date.now() - t0} ms\n`,
    );
    assert.equal(c.reason, 'ForeignMAC');
    assert.match(c.message, new RegExp(`${vip.replace(/\./g, '\\.')} is claimed by ${clientMac}`));
    const ev = await waitFor(
      'AddressConflict Event',
      async () => {
        const evs = await lab.client.get<{ items: EventObj[] }>(
          '/apis/events.k8s.io/v1/namespaces/l2/events',
        );
        return evs.items.find((e) => e.reason === 'AddressConflict' && e.regarding?.name === 'web');
      },
      30_000,
      100,
    );
    assert.equal(ev.type, 'Warning');
    process.stdout.write(`# Event: ${ev.type} ${ev.reason}: ${ev.note}\n`);
    assert.equal(metricValue(await metrics(prober), 'bollard_address_conflicts', {}), 1);
    await waitFor(
      'ServiceL2Status AddressConflict True',
      async () =>
        (await l2StatusConditions()).some((x) => x.type === CONFLICT && x.status === 'True')
          ? true
          : undefined,
      30_000,
      100,
    );
    const text = await explainUntil('explain: conflict', (t) => /address conflict: .*claimed by/.test(t));
    process.stdout.write(`# explain (conflict):\n${text.replace(/^/gm, '# ')}\n`);
    await printStatusYaml('kubectl get svc (conflict)', ['-n', 'l2', 'svc', 'web']);
    await printStatusYaml('kubectl get servicel2status (conflict)', [
      '-n',
      'metallb-system',
      'servicel2statuses',
    ]);

    await lab.exec('client', 'ip', ['addr', 'del', `${vip}/32`, 'dev', 'eth0']);
    const t1 = Date.now();
    await condition(CONFLICT, (x) => x.status === 'False', 'AddressConflict cleared');
    process.stdout.write(`# client let go -> AddressConflict False in ${Date.now() - t1} ms\n`);
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True again');
    assert.equal(metricValue(await metrics(prober), 'bollard_address_conflicts', {}), 0);
  });

  it("the owner's ARP answers are dropped: Verified False/NotAnswering, explain says so; lifted, True again", async () => {
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True first');
    // The owner's ARP frames with the VIP as sender (its answers and gratuitous ARP) are dropped on the
    // LAN's bridge: the owner still answers, nobody hears it. (This kernel has no tc classifiers.)
    const add = await ebtables('-A', ...blockRule());
    assert.equal(add.code, 0, add.stderr);
    const t0 = Date.now();
    const v = await condition(VERIFIED, (x) => x.status === 'False', 'Verified False', 90_000);
    process.stdout.write(
      `# answers blocked -> Verified False in ${Date.now() - t0} ms (steady probe period 2 s for this prober's few VIPs)\n`,
    );
    assert.equal(v.reason, 'NotAnswering');
    assert.match(
      v.message,
      new RegExp(`no answer to ARP from node "${prober}"; node "${owner}" should answer`),
    );
    const ev = await waitFor(
      'AnnouncementNotVerified Event',
      async () => {
        const evs = await lab.client.get<{ items: EventObj[] }>(
          '/apis/events.k8s.io/v1/namespaces/l2/events',
        );
        return evs.items.find(
          (e) =>
            e.reason === 'AnnouncementNotVerified' &&
            e.regarding?.name === 'web' &&
            /no answer/.test(e.note ?? ''),
        );
      },
      30_000,
      100,
    );
    process.stdout.write(`# Event: ${ev.type} ${ev.reason}: ${ev.note}\n`);
    assert.ok(
      (metricValue(await metrics(prober), 'bollard_l2_verification', { state: 'NotAnswering' }) ?? 0) >= 1,
    );
    const text = await explainUntil('explain: not answering', (t) =>
      /✗ verified from the wire: NotAnswering/.test(t),
    );
    assert.match(text, /the announcement is not verified: NotAnswering/);
    process.stdout.write(`# explain (not answering):\n${text.replace(/^/gm, '# ')}\n`);
    await printStatusYaml('kubectl get svc (not answering)', ['-n', 'l2', 'svc', 'web']);

    const del = await ebtables('-D', ...blockRule());
    assert.equal(del.code, 0, del.stderr);
    const t1 = Date.now();
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True after unblocking');
    process.stdout.write(`# filter lifted -> Verified True in ${Date.now() - t1} ms\n`);
  });

  it("a port kube-proxy does not deliver (the owner's connection is refused): Verified False/NotDelivered; removed, True again", async () => {
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True first');
    const path = '/api/v1/namespaces/l2/services/web';
    const http = { name: 'http', port: 80, targetPort: lab.topology.podPort, protocol: 'TCP' };
    // Port 81 goes to port 9 of the pods, where nothing listens.
    await lab.client.patch(path, {
      spec: { ports: [http, { name: 'dead', port: 81, targetPort: 9, protocol: 'TCP' }] },
    });
    const t0 = Date.now();
    const v = await condition(VERIFIED, (x) => x.reason === 'NotDelivered', 'Verified False/NotDelivered');
    process.stdout.write(`# port 81 added -> Verified False/NotDelivered in ${Date.now() - t0} ms\n`);
    assert.equal(v.status, 'False');
    assert.match(
      v.message,
      new RegExp(`kube-proxy does not deliver: ${vip.replace(/\./g, '\\.')}:81 connection refused`),
    );
    assert.doesNotMatch(v.message, /:80 /, 'port 80 is delivered');
    const text = await explainUntil('explain: not delivered', (t) =>
      /✗ verified from the wire: NotDelivered/.test(t),
    );
    process.stdout.write(`# explain (not delivered):\n${text.replace(/^/gm, '# ')}\n`);
    await printStatusYaml('kubectl get svc (not delivered)', ['-n', 'l2', 'svc', 'web']);
    await lab.client.patch(path, { spec: { ports: [http] } });
    const t1 = Date.now();
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True after removing the port');
    process.stdout.write(`# port 81 removed -> Verified True in ${Date.now() - t1} ms\n`);
  });
  it('verification conditions removed by hand while the Service is announced are written again by its prober', async () => {
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True first');
    const removed = await lab.client.patch<{ status?: { conditions?: Cond[] } }>(
      '/api/v1/namespaces/l2/services/web/status',
      {
        status: {
          conditions: [
            { type: VERIFIED, $patch: 'delete' },
            { type: CONFLICT, $patch: 'delete' },
          ],
        },
      },
      'strategic',
    );
    assert.deepEqual(
      (removed.status?.conditions ?? []).filter((c) => c.type === VERIFIED || c.type === CONFLICT),
      [],
      'the patch removed both',
    );
    const t0 = Date.now();
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified written again');
    await condition(CONFLICT, (x) => x.status === 'False', 'AddressConflict written again');
    process.stdout.write(`# conditions removed by hand -> written again in ${Date.now() - t0} ms\n`);
  });

  it('a Service no longer announced in layer 2 loses its verification conditions; announced again, it gets them back', async () => {
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True first');
    const path = '/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements/lab-l2';
    const adv = await lab.client.get<{ metadata: { name: string; namespace: string }; spec: unknown }>(path);
    await lab.client.delete(path);
    const t0 = Date.now();
    let last: Cond[] = [];
    await waitFor(
      'the verification conditions removed',
      async () => {
        last = await conditions();
        return last.some((c) => c.type === VERIFIED || c.type === CONFLICT) ? undefined : true;
      },
      60_000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; conditions: ${JSON.stringify(last)}`);
    });
    process.stdout.write(
      `# L2Advertisement deleted -> verification conditions removed in ${Date.now() - t0} ms\n`,
    );
    await lab.client.create('/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements', {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: adv.metadata.name, namespace: adv.metadata.namespace },
      spec: adv.spec,
    });
    await condition(VERIFIED, (x) => x.status === 'True', 'Verified True once announced again');
  });
});
