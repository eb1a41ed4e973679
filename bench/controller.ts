// Controller figures: Services/s from creation to IP on a real apiserver (1,000 and 10,000 Services),
// pure allocator allocations/s with 100,000 assignments in an IPv6 /64, and the controller's RSS.
//   npm run bench -- controller [--sizes=1000,10000] [--allocs=100000] [--controller-args='--x=y …']
// (--controller-args: more arguments for the controller, e.g. --optimize-for-size=false)
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, type ControlPlane } from '../lab/controlplane.js';
import { ManagedProcess, waitFor } from '../lab/process.js';
import { parseConfig } from '../config/parse.js';
import { Allocator } from '../controller/allocator.js';
import type { ServiceRequest } from '../controller/request.js';
import { parseAllDocuments } from 'yaml';
import { readdirSync } from 'node:fs';

const NS = 'metallb-system';
const here = fileURLToPath(new URL('.', import.meta.url));
const root = existsSync(join(here, '..', 'deploy')) ? join(here, '..') : join(here, '..', '..');

function flag(args: string[], name: string, def: string): string {
  const f = args.find((a) => a.startsWith(`--${name}=`));
  return f ? f.slice(name.length + 3) : def;
}

function req(i: number): ServiceRequest {
  return {
    key: `bench/s${i}`,
    namespace: 'bench',
    name: `s${i}`,
    labels: {},
    namespaceLabels: {},
    families: [6],
    policy: 'SingleStack',
    requestedIPs: [],
    pool: undefined,
    sharingKey: undefined,
    ports: [{ protocol: 'TCP', port: 80 }],
    etpLocal: false,
    selector: '',
  };
}

function pureAllocator(n: number): void {
  const r = parseConfig({
    ipAddressPools: [{ metadata: { name: 'v6', namespace: NS }, spec: { addresses: ['fd00:1:2:3::/64'] } }],
  });
  if (!r.ok) throw new Error('pool');
  const a = new Allocator([...r.config.pools.values()]);
  const heap0 = process.memoryUsage().heapUsed;
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (!a.ensure(req(i)).ok) throw new Error('alloc failed');
  const fillS = Number(process.hrtime.bigint() - t) / 1e9;
  const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  // churn at full occupancy: release a random one, allocate a new one (lands in the hole)
  const churn = 50_000;
  let next = n;
  t = process.hrtime.bigint();
  for (let i = 0; i < churn; i++) {
    a.release(`bench/s${(i * 7919) % next}`);
    a.ensure(req(next++));
  }
  const churnS = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(
    `pure allocator, IPv6 /64: ${n} allocations in ${fillS.toFixed(2)} s = ${Math.round(n / fillS)} allocations/s; heap +${heapMiB.toFixed(0)} MiB`,
  );
  console.log(`pure allocator, release+allocate at ${n} assignments: ${Math.round(churn / churnS)} pairs/s`);
}

async function post(cp: ControlPlane, path: string, body: unknown): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await cp.request('POST', path, body);
    if (r.status === 201 || r.status === 200 || r.status === 409) return;
    if (attempt > 5) throw new Error(`POST ${path}: ${r.status} ${r.body}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function apply(cp: ControlPlane, file: string): Promise<void> {
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
    if (o) await post(cp, plural[o.kind] as string, o);
  }
}

async function countWithIP(cp: ControlPlane, ns: string): Promise<number> {
  let n = 0;
  let cont = '';
  do {
    const r = await cp.request(
      'GET',
      `/api/v1/namespaces/${ns}/services?limit=2000${cont ? '&continue=' + encodeURIComponent(cont) : ''}`,
    );
    const body = JSON.parse(r.body) as {
      items: { status?: { loadBalancer?: { ingress?: unknown[] } } }[];
      metadata?: { continue?: string };
    };
    for (const s of body.items) if ((s.status?.loadBalancer?.ingress?.length ?? 0) > 0) n++;
    cont = body.metadata?.continue ?? '';
  } while (cont);
  return n;
}

function procFigures(pid: number): string {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(f[11]) + Number(f[12])) / 100;
  return `RSS ${kb('VmRSS').toFixed(1)} MiB (anonymous ${kb('RssAnon').toFixed(1)}), peak ${kb('VmHWM').toFixed(1)} MiB, CPU ${cpu.toFixed(2)} s since start`;
}

async function apiserverRun(sizes: number[], extra: string[]): Promise<void> {
  const entry = join(root, 'dist', 'controller', 'cli-entry.js');
  if (!existsSync(entry)) throw new Error(`${entry} missing; run npx tsc -p .`);
  const cp = await startControlPlane();
  let ctl: ManagedProcess | undefined;
  try {
    for (const f of readdirSync(join(root, 'deploy', 'crds')).filter((x) => x.startsWith('metallb.io_')))
      await apply(cp, join(root, 'deploy', 'crds', f));
    await waitFor(
      'CRDs',
      async () => ((await cp.request('GET', `/apis/metallb.io/v1beta1`)).status === 200 ? true : undefined),
      30_000,
    );
    await post(cp, '/api/v1/namespaces', { metadata: { name: NS } });
    await apply(cp, join(root, 'deploy', 'rbac', 'controller.yaml'));
    const kubeconfig = await cp.kubeconfigFor(NS, 'controller');
    await waitFor(
      'pool CRD',
      async () => {
        const r = await cp.request('POST', `/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`, {
          apiVersion: 'metallb.io/v1beta1',
          kind: 'IPAddressPool',
          metadata: { name: 'bench' },
          spec: { addresses: ['10.128.0.0/15'] },
        });
        return r.status === 201 || r.status === 409 ? true : undefined;
      },
      30_000,
    );
    ctl = ManagedProcess.start(
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
        ...extra,
      ],
      {
        name: 'controller',
        logFile: join(cp.logDir, 'controller.log'),
      },
    );
    await ctl.whileRunning(
      waitFor(
        'leader',
        async () => {
          const r = await cp.request(
            'GET',
            `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/metallb-controller`,
          );
          return r.status === 200 ? true : undefined;
        },
        30_000,
      ),
    );
    const pid = ctl.pid as number;
    console.log(`controller idle (leader): ${procFigures(pid)}`);
    for (const n of sizes) {
      const ns = `bench-${n}`;
      await post(cp, '/api/v1/namespaces', { metadata: { name: ns } });
      const t0 = Date.now();
      let created = 0;
      const workers = Array.from({ length: 64 }, async () => {
        for (;;) {
          const i = created++;
          if (i >= n) return;
          await post(cp, `/api/v1/namespaces/${ns}/services`, {
            metadata: { name: `s${i}` },
            spec: {
              type: 'LoadBalancer',
              allocateLoadBalancerNodePorts: false,
              ports: [{ port: 80, protocol: 'TCP' }],
              selector: { app: `s${i}` },
            },
          });
        }
      });
      await Promise.all(workers);
      const tCreated = Date.now();
      await ctl.whileRunning(
        waitFor(
          `${n} Services with IPs`,
          async () => ((await countWithIP(cp, ns)) === n ? true : undefined),
          30 * 60_000,
          250,
        ),
      );
      const tDone = Date.now();
      const s = (tDone - t0) / 1000;
      console.log(
        `${n} Services: created in ${((tCreated - t0) / 1000).toFixed(1)} s; all with an IP ${s.toFixed(1)} s after the first create = ${(n / s).toFixed(0)} Services/s (last IP ${((tDone - tCreated) / 1000).toFixed(1)} s after the last create); controller ${procFigures(pid)}`,
      );
    }
  } finally {
    await ctl?.stop();
    await cp.stop();
  }
}

export async function run(args: string[]): Promise<void> {
  const sizes = flag(args, 'sizes', '1000,10000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  pureAllocator(Number(flag(args, 'allocs', '100000')));
  await apiserverRun(sizes, flag(args, 'controller-args', '').split(' ').filter(Boolean));
}
