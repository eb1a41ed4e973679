// A real Prometheus (Debian's) scrapes the lab's controller and every speaker with deploy/monitoring's
// alert rules loaded, and every query of the Grafana dashboard and every alert expression finds series
// in it: the metric names and the labels the queries match on and join by are the ones Bollard exports.
// Alert conditions are asked as probes (test/support/prom-queries.ts: comparisons with `bool`, `unless`
// as `and`), so they find series whether or not the alert would fire.
//
// The lab (processes mode, 2 nodes, BIRD) runs an L2 Service with externalTrafficPolicy Local (ARP traffic
// from the client, a kube-proxy health check) and a BGP Service, over a BGPPeer with a BFD profile (BIRD
// runs BFD too). Prometheus listens on the machine's loopback; it reaches the controller there and each
// speaker (on its node's IP, inside the sealed lab) through a pair of socat forwarders joined by a Unix
// socket, as the lab's apiserver forwarders do the other way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { ManagedProcess, waitFor } from '../../lab/process.js';
import { metallbDemoObjects, type Manifest } from '../../lab/deploy.js';
import { birdConfig } from '../../lab/routers.js';
import { SPEAKER_METRICS_PORT } from '../../lab/components.js';
import { freePort } from '../support/chaos.js';
import { repoPath } from '../support/repo.js';
import * as probes from '../support/lab-probes.js';
import { monitoringQueries } from '../support/prom-queries.js';

interface PromResponse<T> {
  status: string;
  data: T;
  error?: string;
}

interface Target {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

interface RuleGroup {
  rules: { name: string; health: string; lastError?: string; type: string }[];
}

describe('a real Prometheus scraping the lab: the dashboard and the alerts find series', () => {
  let lab: Lab;
  let dir = '';
  let promUrl = '';
  const procs: ManagedProcess[] = [];

  async function api<T>(path: string): Promise<T> {
    const r = await fetch(`${promUrl}${path}`);
    const body = (await r.json()) as PromResponse<T>;
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? r.status}`);
    return body.data;
  }

  const query = async (q: string): Promise<number> =>
    (await api<{ result: unknown[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result.length;

  before(async () => {
    lab = await startLab({ nodes: 2, router: 'bird' });
    const controller = lab.controllerMetrics;
    assert.ok(controller, 'the lab runs the controller as a process');
    dir = mkdtempSync(join(tmpdir(), 'bollard-prometheus-'));

    // BFD on the IPv4 BGPPeer, and in BIRD.
    const objects: Manifest[] = metallbDemoObjects(lab.topology).map((o) =>
      o.kind === 'BGPPeer' && o.metadata.name === 'lab-router-v4'
        ? { ...o, spec: { ...(o.spec as Record<string, unknown>), bfdProfile: 'lab-bfd' } }
        : o,
    );
    await lab.apply(
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'BFDProfile',
        metadata: { name: 'lab-bfd', namespace: 'metallb-system' },
        spec: { receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3 },
      },
      ...objects,
    );
    const bird = birdConfig(lab.topology)
      .split('\n')
      .flatMap((l) => (/^ {2}neighbor \d+\.\d+\.\d+\.\d+ as /.test(l) ? [l, '  bfd on;'] : [l]))
      .concat(
        'protocol bfd { interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }',
      )
      .join('\n');
    const birdFile = join(dir, 'bird-bfd.conf');
    writeFileSync(birdFile, `${bird}\n`);
    const reconf = await lab.exec('router', 'birdc', ['configure', `"${birdFile}"`]);
    assert.match(reconf.stdout, /Reconfigur/, reconf.stdout + reconf.stderr);

    await lab.addService({ namespace: 'l2', name: 'local', externalTrafficPolicy: 'Local' });
    await lab.addPod('l2/local', 'node-1');
    await lab.addService({
      namespace: 'bgp',
      name: 'web',
      dualStack: false,
      annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
    });
    await lab.addPod('bgp/web', 'node-1');

    // Each speaker's metrics, on the machine's loopback.
    const speakers: { node: string; target: string }[] = [];
    for (const n of lab.topology.nodes) {
      const sock = join(lab.dir, `prometheus-${n.name}.sock`);
      procs.push(
        lab
          .host(n.name)
          .spawn(
            'socat',
            [`UNIX-LISTEN:${sock},fork,mode=600,unlink-early`, `TCP:${n.ipv4.ip}:${SPEAKER_METRICS_PORT}`],
            { name: `${n.name}/metrics-forward`, logFile: join(dir, `${n.name}-forward.log`) },
          ),
      );
      const port = await freePort();
      procs.push(
        ManagedProcess.start(
          'socat',
          [`TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sock}`],
          { name: `machine/metrics-forward-${n.name}`, logFile: join(dir, `machine-${n.name}-forward.log`) },
        ),
      );
      speakers.push({ node: n.name, target: `127.0.0.1:${port}` });
    }

    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [repoPath('deploy', 'monitoring', 'alerts.yaml')],
      scrape_configs: [
        {
          job_name: 'bollard-controller',
          static_configs: [{ targets: [controller], labels: { instance: 'controller' } }],
        },
        {
          job_name: 'bollard-speaker',
          static_configs: speakers.map((s) => ({
            targets: [s.target],
            labels: { instance: `${s.node}:${SPEAKER_METRICS_PORT}`, node: s.node },
          })),
        },
      ],
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const prom = ManagedProcess.start(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--log.format=json',
      ],
      { name: 'prometheus', logFile: join(dir, 'prometheus.log') },
    );
    procs.push(prom);
    await prom.whileRunning(
      waitFor(
        'prometheus ready',
        async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined),
        30_000,
        200,
      ),
    );
  });

  after(async () => {
    for (const p of procs.reverse()) await p.stop(3000);
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes the controller and every speaker', async () => {
    const want = 1 + lab.topology.nodes.length;
    let last: Target[] = [];
    await waitFor(
      'every target up',
      async () => {
        last = (await api<{ activeTargets: Target[] }>('/api/v1/targets')).activeTargets;
        return last.length === want && last.every((t) => t.health === 'up') ? true : undefined;
      },
      60_000,
      500,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${JSON.stringify(last.map((t) => [t.labels.instance, t.health, t.lastError]))}`,
      );
    });
  });

  it("MetalLB's labels: BGP peer <address>:<port> with vrf, BFD peer the address, both sessions up", async () => {
    const r = lab.topology.router;
    const bgp = `metallb_bgp_session_up{peer="${r.ipv4.ip}:179",vrf="default"} == 1`;
    const bfd = `metallb_bfd_session_up{peer="${r.ipv4.ip}",vrf="default"} == 1`;
    const nodes = lab.topology.nodes.length;
    for (const q of [bgp, bfd])
      await waitFor(q, async () => ((await query(q)) === nodes ? true : undefined), 90_000, 500);
    const named = `bollard_bgp_peer_info{peer="${r.ipv4.ip}:179",vrf="default",name="lab-router-v4"}`;
    assert.equal(await query(named), nodes);
  });

  it('every dashboard query and every alert expression returns series; every rule evaluates', async () => {
    // ARP requests for the L2 VIP from the client: metallb_layer2_requests_received / responses_sent.
    const [vip] = await probes.vipsOf(lab, 'l2/local');
    assert.ok(vip);
    const queries = monitoringQueries();
    let empty: string[] = [];
    const started = Date.now();
    try {
      await waitFor(
        'series for every query',
        async () => {
          await probes.arpingMacs(lab, vip, 1);
          empty = [];
          for (const q of queries) if ((await query(q.query)) === 0) empty.push(`${q.what}: ${q.query}`);
          return empty.length === 0 ? true : undefined;
        },
        120_000,
        1000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; no series for:\n${empty.join('\n')}`);
    }
    process.stdout.write(`# ${queries.length} queries returned series after ${Date.now() - started} ms\n`);
    for (const q of queries) process.stdout.write(`# ${q.what}: ${q.query.replace(/\s+/g, ' ')}\n`);

    let bad: string[] = [];
    await waitFor(
      'every rule evaluated',
      async () => {
        const groups = (await api<{ groups: RuleGroup[] }>('/api/v1/rules')).groups;
        const rules = groups.flatMap((g) => g.rules);
        bad = rules
          .filter((x) => x.health !== 'ok')
          .map((x) => `${x.name}: ${x.health} ${x.lastError ?? ''}`);
        return rules.length === queries.filter((q) => q.what.startsWith('alert:')).length && bad.length === 0
          ? true
          : undefined;
      },
      30_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${bad.join('; ')}`);
    });
  });
});
