// Bollard beside MetalLB on the same machine in the same run (issue 17): MetalLB's controller is built
// from the Go module proxy at the version pinned in lab/build/metallb (lab/metallb.ts), and both
// controllers are measured on identical fresh control planes, alternating A/B/A/B.
//   npm run bench -- versus [--quick] [--sizes=1000,10000] [--rounds=2]
// Per system and round: N Services created -> all assigned (Services/s, controller CPU seconds from
// /proc/<pid>/stat, peak RSS = VmHWM), the apiserver's requests per Service by verb and resource
// (from `apiserver_request_total`, minus the requests this bench made itself), and, at the first size,
// the writes per Service for a create, an update that changes nothing either controller reads (a new
// label), and a delete. One table of medians and ratios at the end.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { parseAllDocuments } from 'yaml';
import { startControlPlane, type ControlPlane } from '../lab/controlplane.js';
import { ManagedProcess, delay, waitFor } from '../lab/process.js';
import {
  ensureMetalLB,
  metallbSpeakerPod,
  metallbSpeakerPodStatus,
  startMetalLBSpeaker,
  METALLB_METRICS_PORT,
  type MetalLBBinaries,
} from '../lab/metallb.js';
import { Lab } from '../lab/lab.js';
import { readManifests, serviceAccountOf } from '../lab/deploy.js';
import { chartNodeOptions, startController, startSpeaker, SPEAKER_METRICS_PORT } from '../lab/components.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const NS = 'metallb-system';
const POOL = '10.128.0.0/15';
const here = fileURLToPath(new URL('.', import.meta.url));
const root = existsSync(join(here, '..', 'deploy')) ? join(here, '..') : join(here, '..', '..');

function flag(args: string[], name: string, def: string): string {
  const f = args.find((a) => a.startsWith(`--${name}=`));
  return f ? f.slice(name.length + 3) : def;
}

/** Counts by "VERB resource[/subresource]" (group-qualified when not core). */
type Counts = Map<string, number>;

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'DELETECOLLECTION']);

function keyOf(verb: string, group: string, resource: string, subresource: string, code: string): string {
  const res = (group ? `${resource}.${group}` : resource) + (subresource ? `/${subresource}` : '');
  return `${verb} ${res}${code.startsWith('2') ? '' : ` [${code}]`}`;
}

function parseRequestTotals(text: string): Counts {
  const out: Counts = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(24, close).matchAll(/(\w+)="([^"]*)"/g))
      labels[m[1] as string] = m[2] as string;
    if (!labels.resource) continue; // non-resource URLs (/metrics, /readyz…)
    const k = keyOf(
      labels.verb ?? '?',
      labels.group ?? '',
      labels.resource,
      labels.subresource ?? '',
      labels.code ?? '200',
    );
    out.set(k, (out.get(k) ?? 0) + Number(line.slice(close + 1).trim()));
  }
  return out;
}

function diff(after: Counts, before: Counts, own: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0) - (own.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

function sumWrites(c: Counts, exclude: (k: string) => boolean = () => false): number {
  let n = 0;
  for (const [k, v] of c) if (WRITE_VERBS.has(k.split(' ')[0] as string) && !exclude(k)) n += v;
  return n;
}

/**
 * Requests that are not per-Service work of the system under test: Lease renewals (leader election and
 * Bollard's speaker membership: by time, not by Service), the IPAddress objects the apiserver itself
 * writes for each ClusterIP, and the lab's Node heartbeats.
 */
const isBackground = (k: string): boolean =>
  k.includes('leases.coordination.k8s.io') ||
  k.includes('ipaddresses.networking.k8s.io') ||
  k.includes(' nodes/status'); // the processes lab's stand-in kubelets

function fmtCounts(c: Counts, per: number, writesOnly: boolean): string {
  return (
    [...c]
      .filter(([k]) => !writesOnly || WRITE_VERBS.has(k.split(' ')[0] as string))
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${(v / per).toFixed(2)}`)
      .join(', ') || 'none'
  );
}

/** A client that counts its own requests in the apiserver's terms, so they can be subtracted. */
class Client {
  readonly own: Counts = new Map();
  constructor(readonly cp: ControlPlane) {}

  private note(verb: string, resource: string, status: number): void {
    const k = `${verb} ${resource}${status >= 200 && status < 300 ? '' : ` [${status}]`}`;
    this.own.set(k, (this.own.get(k) ?? 0) + 1);
  }

  async metrics(): Promise<Counts> {
    const r = await this.cp.request('GET', '/metrics');
    if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
    return parseRequestTotals(r.body);
  }

  async send(method: string, path: string, body: unknown, verb: string, resource: string, ok: number[]) {
    for (let attempt = 0; ; attempt++) {
      // a request that times out (an apiserver slowed by a loaded machine) is tried again; a create
      // that did land answers 409 then, which the callers that create accept as done
      const r = await this.cp
        .request(method, path, body, method === 'PATCH' ? 'application/merge-patch+json' : 'application/json')
        .catch((err: Error) => {
          if (attempt > 5) throw err;
          return undefined;
        });
      if (!r) {
        await delay(1000);
        continue;
      }
      this.note(verb, resource, r.status);
      if (ok.includes(r.status)) return r;
      if (attempt > 5) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
      await delay(200);
    }
  }

  /** Services in `ns`: how many there are and how many have an ingress IP. */
  async countServices(ns: string): Promise<{ total: number; withIP: number }> {
    let total = 0;
    let withIP = 0;
    let cont = '';
    do {
      const r = await this.send(
        'GET',
        `/api/v1/namespaces/${ns}/services?limit=2000${cont ? '&continue=' + encodeURIComponent(cont) : ''}`,
        undefined,
        'LIST',
        'services',
        [200],
      );
      const body = JSON.parse(r.body) as {
        items: { status?: { loadBalancer?: { ingress?: unknown[] } } }[];
        metadata?: { continue?: string };
      };
      total += body.items.length;
      for (const s of body.items) if ((s.status?.loadBalancer?.ingress?.length ?? 0) > 0) withIP++;
      cont = body.metadata?.continue ?? '';
    } while (cont);
    return { total, withIP };
  }

  /** Runs `fn(i)` for i in 0..n-1 with 64 requests in flight. */
  async each(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= n) return;
          await fn(i);
        }
      }),
    );
  }
}

async function applyFile(c: Client, file: string): Promise<void> {
  const plural: Record<string, string> = {
    CustomResourceDefinition: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    ServiceAccount: `/api/v1/namespaces/${NS}/serviceaccounts`,
    ClusterRole: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    ClusterRoleBinding: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    Role: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`,
    RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`,
  };
  for (const d of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const o = d.toJS() as { kind: string } | null;
    if (!o) continue;
    const path = plural[o.kind];
    if (!path) throw new Error(`${file}: no path for kind ${o.kind}`);
    await c.cp.ensure(path, o);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface System {
  name: 'Bollard' | 'MetalLB';
  version: string;
  /** CRDs, namespace, RBAC; returns the controller, started. */
  start(c: Client): Promise<ManagedProcess>;
}

function bollard(): System {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return {
    name: 'Bollard',
    version: pkg.version,
    async start(c) {
      const entry = join(root, 'dist', 'controller', 'cli-entry.js');
      if (!existsSync(entry)) throw new Error(`${entry} missing; run npx tsc -p .`);
      for (const f of readdirSync(join(root, 'deploy', 'crds')).filter((x) => x.startsWith('metallb.io_')))
        await applyFile(c, join(root, 'deploy', 'crds', f));
      await c.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
      await applyFile(c, join(root, 'deploy', 'rbac', 'controller.yaml'));
      const kubeconfig = await c.cp.kubeconfigFor(NS, 'controller');
      return ManagedProcess.start(
        process.execPath,
        [
          entry,
          '--kubeconfig',
          kubeconfig,
          '--namespace',
          NS,
          '--metrics-bind',
          '127.0.0.1:0',
          '--log-level',
          'warn',
        ],
        { name: 'bollard-controller', logFile: join(c.cp.dir, 'logs', 'bollard-controller.log') },
      );
    },
  };
}

function metallb(bins: MetalLBBinaries): System {
  return {
    name: 'MetalLB',
    version: bins.version,
    async start(c) {
      for (const f of bins.crds) await applyFile(c, f);
      await c.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
      // MetalLB runs with the admin kubeconfig (its RBAC is kustomize templates in its module);
      // webhooks off, as there is no Service in front of it here.
      return ManagedProcess.start(
        bins.controller,
        [
          `--namespace=${NS}`,
          '--webhook-mode=disabled',
          '--disable-cert-rotation',
          `--port=${await freePort()}`,
          '--log-level=warn',
        ],
        {
          name: 'metallb-controller',
          logFile: join(c.cp.dir, 'logs', 'metallb-controller.log'),
          env: { ...process.env, KUBECONFIG: c.cp.adminKubeconfig },
        },
      );
    },
  };
}

const HZ = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / HZ; // utime, stime (fields 14, 15)
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Waits until the apiserver's write counters (background aside) stop moving for `quietMs`, or gives up
 * after `maxMs` and says which writes kept going (a system that never stops writing is a finding).
 */
async function settle(c: Client, say: (l: string) => void, quietMs = 2000, maxMs = 150_000): Promise<Counts> {
  const t0 = Date.now();
  const first = await c.metrics();
  let lastWrites = sumWrites(first, isBackground);
  let since = Date.now();
  for (;;) {
    await delay(500);
    const now = await c.metrics();
    const w = sumWrites(now, isBackground);
    if (w !== lastWrites) {
      lastWrites = w;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return now;
    if (Date.now() - t0 >= maxMs) {
      const s = (Date.now() - t0) / 1000;
      const d = diff(now, first, c.own);
      say(
        `#   ! writes did not stop within ${s.toFixed(0)} s: ${(sumWrites(d, isBackground) / s).toFixed(0)} writes/s (${fmtCounts(d, s, true)} per s)`,
      );
      return now;
    }
  }
}

function service(i: number): unknown {
  return {
    metadata: { name: `s${i}` },
    spec: {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      ports: [{ port: 80, protocol: 'TCP' }],
      selector: { app: `s${i}` },
    },
  };
}

interface ControllerRun {
  n: number;
  servicesPerS: number;
  cpuS: number;
  peakRssMiB: number;
  /** RSS once ready (the canary Service assigned), before the first create of the round. */
  idleRssMiB: number;
  requestsPerService: Counts;
  writes?: { create: Counts; update: Counts; delete: Counts };
}

async function controllerRound(
  sys: System,
  sizes: number[],
  say: (l: string) => void,
): Promise<ControllerRun[]> {
  const cp = await startControlPlane();
  const c = new Client(cp);
  let ctl: ManagedProcess | undefined;
  const out: ControllerRun[] = [];
  try {
    ctl = await sys.start(c);
    const proc = ctl;
    await proc.whileRunning(
      waitFor(
        'IPAddressPool accepted',
        async () => {
          const r = await cp.request('POST', `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`, {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'IPAddressPool',
            metadata: { name: 'bench' },
            spec: { addresses: [POOL] },
          });
          return r.status === 201 || r.status === 409 ? true : undefined;
        },
        60_000,
      ),
    );
    // Ready = a canary Service got its IP (both controllers have read the pool).
    await cp.ensure('/api/v1/namespaces', { metadata: { name: 'canary' } });
    await cp.ensure('/api/v1/namespaces/canary/services', service(0));
    await proc.whileRunning(
      waitFor(
        'canary IP',
        async () => ((await c.countServices('canary')).withIP === 1 ? true : undefined),
        120_000,
        200,
      ),
    );
    const pid = proc.pid as number;
    await settle(c, say);
    const idleRss = rssMiB(pid);
    say(`# ${sys.name} controller idle (canary assigned): RSS ${idleRss.toFixed(1)} MiB`);
    for (const [idx, n] of sizes.entries()) {
      const ns = `bench-${n}`;
      await cp.ensure('/api/v1/namespaces', { metadata: { name: ns } });
      const m0 = await settle(c, say);
      c.own.clear();
      const cpu0 = cpuSeconds(pid);
      const t0 = Date.now();
      await c.each(n, (i) =>
        c.send('POST', `/api/v1/namespaces/${ns}/services`, service(i), 'POST', 'services', [201, 409]),
      );
      await proc.whileRunning(
        waitFor(
          `${n} Services with IPs`,
          async () => ((await c.countServices(ns)).withIP === n ? true : undefined),
          60 * 60_000,
          250,
        ),
      );
      const s = (Date.now() - t0) / 1000;
      const m1 = await settle(c, say);
      const run: ControllerRun = {
        n,
        servicesPerS: n / s,
        cpuS: cpuSeconds(pid) - cpu0,
        peakRssMiB: peakRssMiB(pid),
        idleRssMiB: idleRss,
        requestsPerService: diff(m1, m0, c.own),
      };
      say(
        `# ${sys.name} ${n} Services: all assigned ${s.toFixed(1)} s after the first create = ${run.servicesPerS.toFixed(0)}/s; CPU ${run.cpuS.toFixed(1)} s; peak RSS ${run.peakRssMiB.toFixed(0)} MiB`,
      );
      say(`#   requests per Service: ${fmtCounts(run.requestsPerService, n, false)}`);
      if (idx === 0) {
        const create = run.requestsPerService;
        c.own.clear();
        await c.each(n, (i) =>
          c.send(
            'PATCH',
            `/api/v1/namespaces/${ns}/services/s${i}`,
            { metadata: { labels: { touched: 'yes' } } },
            'PATCH',
            'services',
            [200],
          ),
        );
        const m2 = await settle(c, say);
        const update = diff(m2, m1, c.own);
        c.own.clear();
        await c.each(n, (i) =>
          c.send(
            'DELETE',
            `/api/v1/namespaces/${ns}/services/s${i}`,
            undefined,
            'DELETE',
            'services',
            [200, 202, 404],
          ),
        );
        await proc.whileRunning(
          waitFor(
            'Services gone',
            async () => ((await c.countServices(ns)).total === 0 ? true : undefined),
            30 * 60_000,
            250,
          ),
        );
        const m3 = await settle(c, say);
        const del = diff(m3, m2, c.own);
        run.writes = { create, update, delete: del };
        for (const [what, counts] of Object.entries(run.writes))
          say(`#   ${sys.name} writes per Service, ${what}: ${fmtCounts(counts, n, true)}`);
      }
      out.push(run);
    }
  } catch (err) {
    // what was measured before the failure still counts
    say(`# ! ${sys.name} controller part stopped: ${(err as Error).message}`);
  } finally {
    await ctl?.stop();
    await cp.stop();
  }
  return out;
}

// ---- speakers: layer 2, in the lab (processes mode: nodes are network namespaces) ----

interface SpeakerRun {
  /** Mean over the nodes' speakers. */
  rssMiB: Record<number, number>;
  /** The part of RSS that is not file pages (the program's binary and libraries, shared page cache). */
  anonMiB: Record<number, number>;
  /** CPU seconds per speaker (mean) from the last size to this one (0: from start to ready). */
  cpuS: Record<number, number>;
  /** API writes per Service by the controller and all speakers together (leases and ClusterIPs aside). */
  writesPerService: Record<number, number>;
}

function rssMiB(pid: number, field = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Starts one system's controller and speakers in the lab; returns the speaker processes. */
async function startSystemInLab(
  lab: Lab,
  sys: System['name'],
  bins: MetalLBBinaries,
): Promise<{ controller: ManagedProcess; speakers: ManagedProcess[] }> {
  const nodes = lab.topology.nodes;
  if (sys === 'Bollard') {
    const file = (n: string): string => join(root, 'deploy', 'rbac', `${n}.yaml`);
    await lab.apply(...readManifests(file('controller')), ...readManifests(file('speaker')));
    const csa = serviceAccountOf(file('controller'));
    const ssa = serviceAccountOf(file('speaker'));
    if (!csa || !ssa) throw new Error('deploy/rbac names no ServiceAccounts');
    const controller = startController({
      kubeconfig: await lab.kubeconfigFor(csa.namespace, csa.name),
      namespace: NS,
      metricsPort: await freePort(),
      logDir: lab.logDir,
    });
    if (!controller) throw new Error('Bollard controller entry point missing; run npx tsc -p .');
    const skc = await lab.kubeconfigFor(ssa.namespace, ssa.name, { inNode: true });
    // as the chart runs them: its NODE_OPTIONS (speaker.nodeOptions); it sets none for the controller
    const nodeOptions = chartNodeOptions('speaker');
    const speakers = nodes.map((n) => {
      const p = startSpeaker(lab.host(n.name), {
        kubeconfig: skc,
        namespace: NS,
        metricsHost: n.ipv4.ip,
        logDir: lab.logDir,
        nodeOptions,
      });
      if (!p) throw new Error('Bollard speaker entry point missing');
      return p;
    });
    return { controller, speakers };
  }
  // MetalLB: its CRDs over the lab's (same API), its memberlist secret, a Pod object per speaker.
  await lab.apply(...bins.crds.flatMap((f) => readManifests(f)));
  const secretDir = join(lab.dir, 'metallb-memberlist');
  mkdirSync(secretDir, { recursive: true });
  writeFileSync(join(secretDir, 'secretkey'), randomBytes(96).toString('base64'), { mode: 0o600 });
  const admin = readFileSync(lab.cp.adminKubeconfig, 'utf8');
  const inNode = join(lab.dir, 'metallb-node.kubeconfig');
  writeFileSync(inNode, admin.split(lab.cp.server).join(lab.topology.nodeApiserver), { mode: 0o600 });
  // no controller-manager in the processes lab: the ServiceAccount admission wants `default` to exist
  await lab.cp.ensure(`/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: 'default' } });
  for (const n of nodes) {
    const pod = metallbSpeakerPod(NS, n.name);
    await lab.cp.ensure(`/api/v1/namespaces/${NS}/pods`, pod);
    const r = await lab.cp.request(
      'PATCH',
      `/api/v1/namespaces/${NS}/pods/metallb-speaker-${n.name}/status`,
      metallbSpeakerPodStatus(n.ipv4.ip),
      'application/merge-patch+json',
    );
    if (r.status !== 200) throw new Error(`pod status for ${n.name}: ${r.status} ${r.body}`);
  }
  const controller = ManagedProcess.start(
    bins.controller,
    [
      `--namespace=${NS}`,
      '--webhook-mode=disabled',
      '--disable-cert-rotation',
      `--port=${await freePort()}`,
      '--log-level=warn',
    ],
    {
      name: 'metallb-controller',
      logFile: join(lab.logDir, 'metallb-controller.log'),
      env: { ...process.env, KUBECONFIG: lab.cp.adminKubeconfig },
    },
  );
  const speakers = nodes.map((n) =>
    startMetalLBSpeaker(lab.host(n.name), {
      binary: bins.speaker,
      kubeconfig: inNode,
      namespace: NS,
      nodeIP: n.ipv4.ip,
      secretDir,
      logDir: lab.logDir,
    }),
  );
  return { controller, speakers };
}

async function speakerRound(
  sys: System['name'],
  bins: MetalLBBinaries,
  sizes: number[],
  nodeCount: number,
  say: (l: string) => void,
): Promise<SpeakerRun> {
  const lab = await Lab.start({
    nodes: nodeCount,
    router: 'none',
    ipv6: false,
    components: false,
    kubeProxy: false,
  });
  const procs: ManagedProcess[] = [];
  const out: SpeakerRun = { rssMiB: {}, anonMiB: {}, cpuS: {}, writesPerService: {} };
  try {
    const c = new Client(lab.cp);
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: NS } });
    const { controller, speakers } = await startSystemInLab(lab, sys, bins);
    procs.push(controller, ...speakers);
    const nodes = lab.topology.nodes;
    // ready: every speaker serves its metrics on the node's address
    await Promise.all(
      nodes.map((n, i) =>
        (speakers[i] as ManagedProcess).whileRunning(
          waitFor(
            `${n.name} speaker metrics`,
            async () => {
              const port = sys === 'Bollard' ? SPEAKER_METRICS_PORT : METALLB_METRICS_PORT;
              const r = await lab
                .host(n.name)
                .exec('curl', ['-sf', '-m', '1', '-o', '/dev/null', `http://${n.ipv4.ip}:${port}/metrics`]);
              return r.code === 0 ? true : undefined;
            },
            120_000,
            250,
          ),
        ),
      ),
    );
    await c.send(
      'POST',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`,
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: 'bench' },
        spec: { addresses: [POOL] },
      },
      'POST',
      'ipaddresspools.metallb.io',
      [201, 409],
    );
    await c.send(
      'POST',
      `/apis/metallb.io/v1beta1/namespaces/${NS}/l2advertisements`,
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'L2Advertisement',
        metadata: { name: 'bench' },
        spec: { ipAddressPools: ['bench'] },
      },
      'POST',
      'l2advertisements.metallb.io',
      [201, 409],
    );
    const pids = speakers.map((p) => p.pid as number);
    let cpu = pids.map(() => 0);
    const ns = 'bench';
    await lab.cp.ensure('/api/v1/namespaces', { metadata: { name: ns } });
    let made = 0;
    for (const n of [0, ...sizes]) {
      const m0 = await settle(c, say);
      c.own.clear();
      // selector-less Services, each with an EndpointSlice naming one ready endpoint on a node
      await c.each(n - made, async (j) => {
        const i = made + j;
        const node = nodes[i % nodes.length];
        await c.send(
          'POST',
          `/api/v1/namespaces/${ns}/services`,
          {
            metadata: { name: `s${i}` },
            spec: {
              type: 'LoadBalancer',
              allocateLoadBalancerNodePorts: false,
              ports: [{ port: 80, protocol: 'TCP' }],
            },
          },
          'POST',
          'services',
          [201, 409],
        );
        await c.send(
          'POST',
          `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
          {
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: { name: `s${i}`, labels: { 'kubernetes.io/service-name': `s${i}` } },
            addressType: 'IPv4',
            endpoints: [
              {
                addresses: [`10.244.${node?.index ?? 1}.${10 + (i % 200)}`],
                conditions: { ready: true },
                nodeName: node?.name,
              },
            ],
            ports: [{ port: 80, protocol: 'TCP', name: '' }],
          },
          'POST',
          'endpointslices.discovery.k8s.io',
          [201, 409],
        );
      });
      const added = n - made; // the Services this step created (per-Service figures divide by these)
      made = n;
      await controller.whileRunning(
        waitFor(
          `${n} Services with IPs`,
          async () => ((await c.countServices(ns)).withIP === n ? true : undefined),
          60 * 60_000,
          500,
        ),
      );
      // taken in: every Service has its ServiceL2Status (both speakers write one per announced Service)
      const l2 = await controller.whileRunning(
        waitFor(
          `${n} ServiceL2Status objects`,
          async () => {
            const r = await c.send(
              'GET',
              `/apis/metallb.io/v1beta1/namespaces/${NS}/servicel2statuses`,
              undefined,
              'LIST',
              'servicel2statuses.metallb.io',
              [200],
            );
            const items = (JSON.parse(r.body) as { items: unknown[] }).items.length;
            return items >= n ? items : undefined;
          },
          20 * 60_000,
          500,
        ),
      );
      const m1 = await settle(c, say, 3000);
      if (n > 0) {
        const d = diff(m1, m0, c.own);
        out.writesPerService[n] = sumWrites(d, isBackground) / added;
        say(`#   ${sys} controller + speakers, writes per Service added: ${fmtCounts(d, added, true)}`);
      }
      const now = pids.map(cpuSeconds);
      out.rssMiB[n] = mean(pids.map((p) => rssMiB(p)));
      out.anonMiB[n] = mean(pids.map((p) => rssMiB(p, 'RssAnon')));
      out.cpuS[n] = mean(now.map((x, k) => x - (cpu[k] as number)));
      cpu = now;
      say(
        `# ${sys} speakers (layer 2, ${nodes.length} nodes), ${n} Services: RSS ${pids.map((p) => rssMiB(p).toFixed(0)).join(', ')} MiB (anonymous ${pids.map((p) => rssMiB(p, 'RssAnon').toFixed(0)).join(', ')}); CPU ${out.cpuS[n].toFixed(1)} s each (mean) since the previous step; ${l2} ServiceL2Status`,
      );
    }
  } catch (err) {
    // what was measured before the failure still counts
    say(`# ! ${sys} speaker part stopped: ${(err as Error).message}`);
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await lab.stop();
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Row {
  what: string;
  unit: string;
  bollard: number;
  metallb: number;
  /** Whether a larger figure is better (Services/s) or worse (CPU, RSS, requests). */
  higherIsBetter: boolean;
}

function printTable(rows: Row[], say: (l: string) => void): void {
  say('');
  say('| figure | Bollard | MetalLB | Bollard / MetalLB |');
  say('| --- | ---: | ---: | ---: |');
  for (const r of rows) {
    const ratio = r.metallb === 0 ? (r.bollard === 0 ? '1' : '∞') : (r.bollard / r.metallb).toFixed(2);
    const f = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(x % 1 === 0 ? 0 : 2));
    say(
      `| ${r.what} (${r.unit}${r.higherIsBetter ? ', higher is better' : ''}) | ${f(r.bollard)} | ${f(r.metallb)} | ${ratio} |`,
    );
  }
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const sizes = flag(args, 'sizes', quick ? '1000' : '1000,10000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const rounds = Number(flag(args, 'rounds', '2'));
  const speakerSizes = flag(args, 'speaker-sizes', quick ? '1000' : '1000,10000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const nodeCount = Number(flag(args, 'nodes', '2'));
  const parts = flag(args, 'parts', 'controller,speaker').split(',');
  const say = (l: string): void => console.log(l);
  const bins = ensureMetalLB();
  const systems = [bollard(), metallb(bins)];
  say(
    `# Bollard ${systems[0]?.version} vs MetalLB ${bins.version} (native mode, built from the Go module proxy)`,
  );
  say(
    `# Bollard's speakers with the chart's NODE_OPTIONS=${JSON.stringify(chartNodeOptions('speaker'))}, its controller with ${JSON.stringify(chartNodeOptions('controller'))}`,
  );
  say(`# sizes ${sizes.join(', ')}; ${rounds} rounds, alternating ${systems.map((s) => s.name).join('/')}`);
  const results = new Map<string, ControllerRun[][]>(systems.map((s) => [s.name, []]));
  const speakerResults = new Map<string, SpeakerRun[]>(systems.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++)
    for (const sys of systems) {
      say(`# round ${r + 1}: ${sys.name}`);
      // a part that fails is reported and left out; the table shows what was measured
      if (parts.includes('controller'))
        await controllerRound(sys, sizes, say).then(
          (r) => results.get(sys.name)?.push(r),
          (err: Error) => say(`# ! ${sys.name} controller part failed: ${err.message}`),
        );
      if (parts.includes('speaker'))
        await speakerRound(sys.name, bins, speakerSizes, nodeCount, say).then(
          (r) => speakerResults.get(sys.name)?.push(r),
          (err: Error) => say(`# ! ${sys.name} speaker part failed: ${err.message}`),
        );
    }
  const pick = (name: string, n: number, f: (x: ControllerRun) => number | undefined): number =>
    median(
      (results.get(name) ?? [])
        .map((rs) => rs.find((x) => x.n === n))
        .map((x) => (x ? f(x) : undefined))
        .filter((x): x is number => x !== undefined),
    );
  const rows: Row[] = [];
  const both = (
    what: string,
    unit: string,
    higher: boolean,
    f: (x: ControllerRun) => number | undefined,
    n: number,
  ): void => {
    rows.push({
      what,
      unit,
      bollard: pick('Bollard', n, f),
      metallb: pick('MetalLB', n, f),
      higherIsBetter: higher,
    });
  };
  if (parts.includes('controller') && sizes.length > 0)
    both(
      'controller idle (ready, canary assigned): RSS',
      'MiB',
      false,
      (x) => x.idleRssMiB,
      sizes[0] as number,
    );
  for (const n of parts.includes('controller') ? sizes : []) {
    const label = `controller, ${n.toLocaleString('en')} Services → all assigned`;
    both(`${label}: rate`, 'Services/s', true, (x) => x.servicesPerS, n);
    both(`${label}: CPU`, 's', false, (x) => x.cpuS, n);
    both(`${label}: peak RSS`, 'MiB', false, (x) => x.peakRssMiB, n);
    both(
      `${label}: API requests per Service`,
      'all verbs, leases and ClusterIP bookkeeping aside',
      false,
      (x) => {
        let t = 0;
        for (const [k, v] of x.requestsPerService) if (!isBackground(k)) t += v;
        return t / n;
      },
      n,
    );
    both(
      `${label}: API writes per Service`,
      'leases and ClusterIP bookkeeping aside',
      false,
      (x) => sumWrites(x.requestsPerService, isBackground) / n,
      n,
    );
  }
  for (const n of [0, ...speakerSizes]) {
    const sp = (name: string, f: (x: SpeakerRun) => number | undefined): number =>
      median((speakerResults.get(name) ?? []).map(f).filter((x): x is number => x !== undefined));
    if ((speakerResults.get('Bollard') ?? []).length === 0) break;
    const label = `speaker, layer 2, ${n.toLocaleString('en')} Services`;
    rows.push({
      what: `${label}: RSS per speaker`,
      unit: 'MiB',
      bollard: sp('Bollard', (x) => x.rssMiB[n]),
      metallb: sp('MetalLB', (x) => x.rssMiB[n]),
      higherIsBetter: false,
    });
    rows.push({
      what: `${label}: RSS per speaker, anonymous only`,
      unit: 'MiB, without the file pages of the program and its libraries',
      bollard: sp('Bollard', (x) => x.anonMiB[n]),
      metallb: sp('MetalLB', (x) => x.anonMiB[n]),
      higherIsBetter: false,
    });
    rows.push({
      what: `${label}: CPU per speaker ${n === 0 ? 'from start to idle' : 'to take them in'}`,
      unit: 's',
      bollard: sp('Bollard', (x) => x.cpuS[n]),
      metallb: sp('MetalLB', (x) => x.cpuS[n]),
      higherIsBetter: false,
    });
    if (n > 0)
      rows.push({
        what: `${label}: API writes per Service, controller + ${nodeCount} speakers`,
        unit: 'leases and ClusterIP bookkeeping aside',
        bollard: sp('Bollard', (x) => x.writesPerService[n]),
        metallb: sp('MetalLB', (x) => x.writesPerService[n]),
        higherIsBetter: false,
      });
  }
  const n0 = sizes[0] as number;
  for (const what of parts.includes('controller') ? (['create', 'update', 'delete'] as const) : []) {
    both(
      `writes per Service, ${what === 'update' ? 'no-op update (a new label)' : what}`,
      `${n0.toLocaleString('en')} Services, leases and ClusterIP bookkeeping aside`,
      false,
      (x) => (x.writes ? sumWrites(x.writes[what], isBackground) / n0 : undefined),
      n0,
    );
  }
  printTable(rows, say);
}
