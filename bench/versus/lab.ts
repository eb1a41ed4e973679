// What the parts of `npm run bench -- versus` share (bench/versus.ts, bench/versus/*.ts): the counting
// apiserver client, the settle-until-quiet wait, /proc figures, each system's controller and speakers
// started in the processes lab, and the table of ratios.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../../lab/controlplane.js';
import { ManagedProcess, delay, waitFor } from '../../lab/process.js';
import {
  metallbSpeakerPod,
  metallbSpeakerPodStatus,
  startMetalLBSpeaker,
  METALLB_METRICS_PORT,
  type MetalLBBinaries,
} from '../../lab/metallb.js';
import type { Lab } from '../../lab/lab.js';
import { readManifests, serviceAccountOf } from '../../lab/deploy.js';
import {
  chartNodeOptions,
  startController,
  startSpeaker,
  SPEAKER_METRICS_PORT,
} from '../../lab/components.js';
import { repoRoot } from '../../lab/repo.js';

export const NS = 'metallb-system';
export const POOL = '10.128.0.0/15';
export const root = repoRoot();

export function flag(args: string[], name: string, def: string): string {
  const f = args.find((a) => a.startsWith(`--${name}=`));
  return f ? f.slice(name.length + 3) : def;
}

export type Counts = Map<string, number>;

export const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'DELETECOLLECTION']);

export function keyOf(
  verb: string,
  group: string,
  resource: string,
  subresource: string,
  code: string,
): string {
  const res = (group ? `${resource}.${group}` : resource) + (subresource ? `/${subresource}` : '');
  return `${verb} ${res}${code.startsWith('2') ? '' : ` [${code}]`}`;
}

export function parseRequestTotals(text: string): Counts {
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

export function diff(after: Counts, before: Counts, own: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0) - (own.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

export function sumWrites(c: Counts, exclude: (k: string) => boolean = () => false): number {
  let n = 0;
  for (const [k, v] of c) if (WRITE_VERBS.has(k.split(' ')[0] as string) && !exclude(k)) n += v;
  return n;
}

/**
 * Requests that are not per-Service work of the system under test: Lease renewals (leader election and
 * Bollard's speaker membership: by time, not by Service), the IPAddress objects the apiserver itself
 * writes for each ClusterIP, and the lab's Node heartbeats.
 */
export const isBackground = (k: string): boolean =>
  k.includes('leases.coordination.k8s.io') ||
  k.includes('ipaddresses.networking.k8s.io') ||
  k.includes(' nodes/status'); // the processes lab's stand-in kubelets

export function fmtCounts(c: Counts, per: number, writesOnly: boolean): string {
  return (
    [...c]
      .filter(([k]) => !writesOnly || WRITE_VERBS.has(k.split(' ')[0] as string))
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${(v / per).toFixed(2)}`)
      .join(', ') || 'none'
  );
}

/** A client that counts its own requests in the apiserver's terms, so they can be subtracted. */
export class Client {
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

export async function applyFile(c: Client, file: string): Promise<void> {
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

export async function freePort(): Promise<number> {
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

export const HZ = 100; // USER_HZ on Linux

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / HZ; // utime, stime (fields 14, 15)
}

export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Waits until the apiserver's write counters (background aside) stop moving for `quietMs`, or gives up
 * after `maxMs` and says which writes kept going (a system that never stops writing is a finding).
 */
export async function settle(
  c: Client,
  say: (l: string) => void,
  quietMs = 2000,
  maxMs = 150_000,
): Promise<Counts> {
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

export function rssMiB(pid: number, field = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export type SystemName = 'Bollard' | 'MetalLB';

export interface InLab {
  controller: ManagedProcess;
  /** One per node, in the topology's order; `restartSpeaker` replaces an entry. */
  speakers: ManagedProcess[];
  /** Starts node `i`'s speaker again as it was started (Bollard: with `drainMs` if given). */
  restartSpeaker(i: number, opts?: { drainMs?: number }): ManagedProcess;
}

export interface InLabOptions {
  /** Whose controller assigns the IPs (default: the system's own). */
  controller?: SystemName;
  /** Bollard's speakers' `--drain-time` (default the process lab's, LAB_SPEAKER_DRAIN_MS). */
  drainMs?: number;
}

async function startBollardController(lab: Lab): Promise<ManagedProcess> {
  const file = (n: string): string => join(root, 'deploy', 'rbac', `${n}.yaml`);
  await lab.apply(...readManifests(file('controller')));
  const csa = serviceAccountOf(file('controller'));
  if (!csa) throw new Error('deploy/rbac/controller.yaml names no ServiceAccount');
  const controller = startController({
    kubeconfig: await lab.kubeconfigFor(csa.namespace, csa.name),
    namespace: NS,
    metricsPort: await freePort(),
    logDir: lab.logDir,
  });
  if (!controller) throw new Error('Bollard controller entry point missing; run npx tsc -p .');
  return controller;
}

async function startMetalLBController(lab: Lab, bins: MetalLBBinaries): Promise<ManagedProcess> {
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
      logFile: join(lab.logDir, 'metallb-controller.log'),
      env: { ...process.env, KUBECONFIG: lab.cp.adminKubeconfig },
    },
  );
}

/** Starts one system's controller (or the one `opts.controller` names) and its speakers in the lab. */
export async function startSystemInLab(
  lab: Lab,
  sys: SystemName,
  bins: MetalLBBinaries,
  opts: InLabOptions = {},
): Promise<InLab> {
  const nodes = lab.topology.nodes;
  const ctlOf = opts.controller ?? sys;
  if (sys === 'Bollard') {
    const file = (n: string): string => join(root, 'deploy', 'rbac', `${n}.yaml`);
    await lab.apply(...readManifests(file('speaker')));
    const ssa = serviceAccountOf(file('speaker'));
    if (!ssa) throw new Error('deploy/rbac/speaker.yaml names no ServiceAccount');
    const controller =
      ctlOf === 'Bollard' ? await startBollardController(lab) : await startMetalLBController(lab, bins);
    const skc = await lab.kubeconfigFor(ssa.namespace, ssa.name, { inNode: true });
    // as the chart runs them: its NODE_OPTIONS (speaker.nodeOptions); it sets none for the controller
    const nodeOptions = chartNodeOptions('speaker');
    const start = (i: number, drainMs = opts.drainMs): ManagedProcess => {
      const n = nodes[i];
      if (!n) throw new Error(`no node ${i}`);
      const p = startSpeaker(lab.host(n.name), {
        kubeconfig: skc,
        namespace: NS,
        metricsHost: n.ipv4.ip,
        logDir: lab.logDir,
        nodeOptions,
        ...(drainMs !== undefined ? { drainMs } : {}),
      });
      if (!p) throw new Error('Bollard speaker entry point missing');
      return p;
    };
    const speakers = nodes.map((_, i) => start(i));
    return {
      controller,
      speakers,
      restartSpeaker: (i, o) => (speakers[i] = start(i, o?.drainMs ?? opts.drainMs)),
    };
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
  const controller =
    ctlOf === 'MetalLB' ? await startMetalLBController(lab, bins) : await startBollardController(lab);
  const start = (i: number): ManagedProcess => {
    const n = nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return startMetalLBSpeaker(lab.host(n.name), {
      binary: bins.speaker,
      kubeconfig: inNode,
      namespace: NS,
      nodeIP: n.ipv4.ip,
      secretDir,
      logDir: lab.logDir,
    });
  };
  const speakers = nodes.map((_, i) => start(i));
  return { controller, speakers, restartSpeaker: (i) => (speakers[i] = start(i)) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export interface Row {
  what: string;
  unit: string;
  bollard: number;
  metallb: number;
  /** Whether a larger figure is better (Services/s) or worse (CPU, RSS, requests). */
  higherIsBetter: boolean;
}

export function printTable(rows: Row[], say: (l: string) => void): void {
  say('');
  say('| figure | Bollard | MetalLB | Bollard / MetalLB |');
  say('| --- | ---: | ---: | ---: |');
  for (const r of rows) {
    // NaN: not measured for that system (or not applicable, as MetalLB's drain)
    const ratio =
      Number.isNaN(r.bollard) || Number.isNaN(r.metallb)
        ? '—'
        : r.metallb === 0
          ? r.bollard === 0
            ? '1'
            : '∞'
          : (r.bollard / r.metallb).toFixed(2);
    const f = (x: number): string =>
      Number.isNaN(x) ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(x % 1 === 0 ? 0 : 2);
    say(
      `| ${r.what} (${r.unit}${r.higherIsBetter ? ', higher is better' : ''}) | ${f(r.bollard)} | ${f(r.metallb)} | ${ratio} |`,
    );
  }
}

/** Ready: every speaker serves its metrics on its node's address. */
export async function speakersReady(lab: Lab, sys: SystemName, speakers: ManagedProcess[]): Promise<void> {
  const port = sys === 'Bollard' ? SPEAKER_METRICS_PORT : METALLB_METRICS_PORT;
  await Promise.all(
    lab.topology.nodes.map((n, i) =>
      (speakers[i] as ManagedProcess).whileRunning(
        waitFor(
          `${n.name} speaker metrics`,
          async () => {
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
}

/** Creates a metallb.io object in the system's namespace (409: already there). */
export async function createCR(
  c: Client,
  kind: string,
  version: string,
  plural: string,
  spec: unknown,
  name = 'bench',
): Promise<void> {
  await c.send(
    'POST',
    `/apis/metallb.io/${version}/namespaces/${NS}/${plural}`,
    { apiVersion: `metallb.io/${version}`, kind, metadata: { name }, spec },
    'POST',
    `${plural}.metallb.io`,
    [201, 409],
  );
}

/** A selector-less LoadBalancer Service `s<i>` and its EndpointSlice naming one ready endpoint on `node`. */
export async function createServiceWithEndpoint(
  c: Client,
  ns: string,
  i: number,
  node: { name: string; index: number },
): Promise<void> {
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
          addresses: [`10.244.${node.index}.${10 + (i % 200)}`],
          conditions: { ready: true },
          nodeName: node.name,
        },
      ],
      ports: [{ port: 80, protocol: 'TCP', name: '' }],
    },
    'POST',
    'endpointslices.discovery.k8s.io',
    [201, 409],
  );
}
