// `npm run bench -- memory --speaker [--sizes=0,1000] [--dist=DIR]… [--flags='…']…`: a real speaker process
// (layer 2, every interface excluded, no BGP, no membership: Node Ready decides) against a real kube-
// apiserver holding 3 Nodes, a pool, an L2Advertisement and N assigned LoadBalancer Services with an
// EndpointSlice each. For each N: the speaker's RSS, peak RSS, V8 heap used and CPU from its start until
// its ServiceL2Status objects stopped changing (3 polls 1 s apart, at least one written when N > 0), read
// from /proc and /metrics. --dist: the compiled tree to run (another checkout's dist/, for before/after);
// --flags: node flags. --heap-snapshots=DIR: the speaker also writes a heap snapshot there once
// settled (after V8's full GC: live objects only), summarized by constructor (heap-summary.ts).
// --idle=S: the figures again after S seconds with nothing to do (V8's memory reducer shrinks an idle heap).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { repoPath } from '../../lab/repo.js';
import { KubeClient, RESOURCES, resourcePath } from '../../k8s/client.js';
import { METALLB } from '../../k8s/status.js';
import { installCRDs } from '../../test/integration/controller-helpers.js';
import { metricValue } from '../../test/support/chaos.js';
import { summarizeHeap } from './heap-summary.js';

const NS = 'metallb-system';

/** --sizes=0,1000 (default `fallback`). */
export function sizesOf(args: string[], fallback: number[]): number[] {
  const a = args.find((x) => x.startsWith('--sizes='));
  return a ? a.slice(8).split(',').map(Number) : fallback;
}
const MiB = 2 ** 20;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Runs `fn` over items with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

function proc(pid: number): { rss: number; hwm: number; anon: number; file: number; cpuMs: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    rss: kb('VmRSS'),
    hwm: kb('VmHWM'),
    anon: kb('RssAnon'),
    file: kb('RssFile') + kb('RssShmem'),
    cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100,
  };
}

async function addServices(admin: KubeClient, from: number, to: number): Promise<void> {
  const idx = Array.from({ length: to - from }, (_, k) => from + k);
  await pool(idx, 16, async (i) => {
    const ns = `ns-${i % 20}`;
    const name = `svc-${i}`;
    await admin.create(resourcePath(RESOURCES.services, ns), {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace: ns,
        labels: { app: name, tier: 'web' },
        annotations: { 'metallb.io/ip-allocated-from-pool': 'default' },
      },
      spec: {
        type: 'LoadBalancer',
        // the NodePort range (2,768 ports) would not hold 10,000 Services
        allocateLoadBalancerNodePorts: false,
        selector: { app: name },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    });
    await admin.patch(resourcePath(RESOURCES.services, ns, name, 'status'), {
      status: { loadBalancer: { ingress: [{ ip: `172.20.${(i >> 8) & 255}.${i & 255}` }] } },
    });
    await admin.create(resourcePath(RESOURCES.endpointSlices, ns), {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: [1, 2, 3].map((n) => ({
        addresses: [`10.244.${n}.${i & 255}`],
        conditions: { ready: true },
        nodeName: `node-${n}`,
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  });
}

async function runSpeaker(
  services: number,
  admin: KubeClient,
  kubeconfig: string,
  dist: string,
  flags: string[],
  snapshotDir: string | undefined,
  idleS: number,
): Promise<string> {
  const port = await freePort();
  if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      ...flags,
      ...(snapshotDir ? ['--heapsnapshot-signal=SIGUSR2'] : []),
      join(dist, 'speaker', 'cli-entry.js'),
      `--kubeconfig=${kubeconfig}`,
      '--node=node-1',
      `--namespace=${NS}`,
      `--metrics-bind=127.0.0.1:${port}`,
      '--membership=false',
      '--bgp=false',
      // (in this machine's own network namespace: no iptables of ours there)
      '--flow-handover=false',
      '--interfaces-exclude=.*',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], ...(snapshotDir ? { cwd: snapshotDir } : {}) },
  );
  const pid = child.pid as number;
  try {
    const statuses = async () =>
      (await admin.get<{ items: unknown[] }>(resourcePath(METALLB.serviceL2Statuses, NS))).items.length;
    await waitFor(
      'speaker ready',
      async () =>
        (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok ? true : undefined,
      120_000,
      200,
    );
    let last = -1;
    let same = 0;
    await waitFor(
      'ServiceL2Status objects stable',
      async () => {
        const n = await statuses();
        same = n === last ? same + 1 : 0;
        last = n;
        // with Services, none written yet is a speaker still listing, not one that has settled
        return same >= 3 && (services === 0 || n > 0) ? true : undefined;
      },
      600_000,
      1000,
    );
    const p = proc(pid);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const heap = metricValue(metrics, 'nodejs_heap_size_used_bytes') ?? NaN;
    const heapTotal = metricValue(metrics, 'nodejs_heap_size_total_bytes') ?? NaN;
    const external = metricValue(metrics, 'nodejs_external_memory_bytes') ?? NaN;
    const lagMax = metricValue(metrics, 'nodejs_eventloop_lag_max_seconds') ?? NaN;
    const m = (x: number) => (x / MiB).toFixed(1);
    const line =
      `RSS ${m(p.rss)} MiB (anonymous ${m(p.anon)}, files ${m(p.file)}), peak ${m(p.hwm)} MiB, ` +
      `V8 heap used ${m(heap)} of ${m(heapTotal)} MiB, external ${m(external)} MiB, ` +
      `CPU ${(p.cpuMs / 1000).toFixed(2)} s, longest event-loop stall ${(lagMax * 1000).toFixed(0)} ms; ServiceL2Status ${last}`;
    let idle = '';
    if (idleS > 0) {
      await new Promise((r) => setTimeout(r, idleS * 1000));
      const q = proc(pid);
      const after = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      idle =
        `\n    after ${idleS} s idle: RSS ${m(q.rss)} MiB (anonymous ${m(q.anon)}), V8 heap used ` +
        `${m(metricValue(after, 'nodejs_heap_size_used_bytes') ?? NaN)} of ${m(metricValue(after, 'nodejs_heap_size_total_bytes') ?? NaN)} MiB, CPU ${(q.cpuMs / 1000).toFixed(2)} s`;
    }
    return line + idle + (snapshotDir ? '\n' + (await heapSnapshot(pid, snapshotDir)) : '');
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await admin.delete(resourcePath(METALLB.serviceL2Statuses, NS)).catch(() => undefined);
  }
}

/** Has the speaker write a heap snapshot (SIGUSR2), waits until the file is complete, summarizes it. */
async function heapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let size = -1;
  const file = await waitFor(
    'heap snapshot written',
    () => {
      const f = readdirSync(dir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
      if (!f) return Promise.resolve(undefined);
      const now = statSync(join(dir, f)).size;
      const done = now > 0 && now === size;
      size = now;
      return Promise.resolve(done ? join(dir, f) : undefined);
    },
    300_000,
    1000,
  );
  const { total, groups } = summarizeHeap(file);
  return [
    `    heap snapshot ${file}: ${(total / MiB).toFixed(1)} MiB live; by self size:`,
    ...groups.map(
      (g) => `      ${(g.bytes / MiB).toFixed(2).padStart(7)} MiB  ${String(g.count).padStart(8)}  ${g.what}`,
    ),
  ].join('\n');
}

export async function runSpeakerMemory(args: string[]): Promise<void> {
  const sizes = sizesOf(args, [0, 1000]);
  const dists = args.filter((a) => a.startsWith('--dist=')).map((a) => a.slice(7));
  const flagSets = args
    .filter((a) => a.startsWith('--flags='))
    .map((a) => a.slice(8).split(' ').filter(Boolean));
  const snapshots = args.find((a) => a.startsWith('--heap-snapshots='))?.slice(17);
  const idleS = Number(args.find((a) => a.startsWith('--idle='))?.slice(7) ?? 0);
  const cp = await startControlPlane();
  const admin = KubeClient.fromFile(cp.adminKubeconfig);
  try {
    await installCRDs(cp);
    await admin.create(resourcePath(RESOURCES.namespaces), { metadata: { name: NS } });
    for (let i = 0; i < 20; i++)
      await admin.create(resourcePath(RESOURCES.namespaces), { metadata: { name: `ns-${i}` } });
    for (const n of [1, 2, 3]) {
      await admin.create(resourcePath(RESOURCES.nodes), { metadata: { name: `node-${n}` } });
      await admin.patch(resourcePath(RESOURCES.nodes, undefined, `node-${n}`, 'status'), {
        status: {
          addresses: [{ type: 'InternalIP', address: `127.0.0.${n}` }],
          conditions: [{ type: 'Ready', status: 'True', reason: 'bench', message: 'bench' }],
        },
      });
    }
    await admin.create(resourcePath(METALLB.ipAddressPools, NS), {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'default', namespace: NS },
      spec: { addresses: ['172.20.0.0/16'] },
    });
    await admin.create(resourcePath(METALLB.l2Advertisements, NS), {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: 'l2', namespace: NS },
      spec: {},
    });
    let have = 0;
    for (const n of sizes) {
      const t0 = performance.now();
      await addServices(admin, have, n);
      have = Math.max(have, n);
      console.log(`${n} Services (created in ${((performance.now() - t0) / 1000).toFixed(1)} s):`);
      for (const dist of dists.length > 0 ? dists : [repoPath('dist')])
        for (const [k, flags] of (flagSets.length > 0 ? flagSets : [[]]).entries())
          console.log(
            `  ${dist}${flags.length ? ' ' + flags.join(' ') : ''}: ${await runSpeaker(n, admin, cp.adminKubeconfig, dist, flags, snapshots ? join(snapshots, `${n}-${k}`) : undefined, idleS)}`,
          );
    }
  } finally {
    admin.close();
    await cp.stop();
  }
}
