// Shared by the reliability tests and bench/chaos.ts: a recorder of every Service status change seen
// through a watch (the project's informer, as the admin), the apiserver's audit log of the
// controller's writes (the only way to see a status write that changed nothing), a Service burst that
// keeps going through apiserver outages, and a way to run two controller processes.
import { createServer } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ApiError, KubeClient, RESOURCES } from '../../k8s/client.js';
import { Informer } from '../../k8s/informer.js';
import { ManagedProcess, delay, waitFor } from '../../lab/process.js';
import type { ControlPlane } from '../../lab/controlplane.js';
import type { LabHost } from '../../lab/hosts.js';
import { repoRoot } from './repo.js';

export interface SvcLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

export function ipsOf(s: SvcLike | undefined): string[] {
  return (s?.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
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

/** A change of a Service's ingress IPs as the watch saw it. */
export interface StatusChange {
  key: string;
  at: number;
  from: string[];
  to: string[];
}

/**
 * Watches Services (one namespace or all) and records every change of their ingress IPs. A change
 * from one non-empty set to another, or back to empty while the Service exists, is a violation: a
 * Service that had an IP must keep it.
 */
export class StatusRecorder {
  readonly changes: StatusChange[] = [];
  private readonly current = new Map<string, string[]>();
  private readonly informer: Informer<SvcLike & { metadata: { name: string } }>;
  private readonly client: KubeClient;

  constructor(kubeconfig: string, namespace?: string) {
    this.client = KubeClient.fromFile(kubeconfig);
    this.informer = new Informer(this.client, {
      resource: RESOURCES.services,
      ...(namespace ? { namespace } : {}),
      backoffInitialMs: 100,
      backoffMaxMs: 1000,
    });
    const seen = (s: SvcLike): void => {
      const key = `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`;
      const to = ipsOf(s).sort();
      const from = this.current.get(key) ?? [];
      if (from.join(',') !== to.join(',')) this.changes.push({ key, at: Date.now(), from, to });
      this.current.set(key, to);
    };
    this.informer.on('add', seen);
    this.informer.on('update', seen);
    this.informer.on('delete', (s) =>
      this.current.delete(`${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`),
    );
  }

  async start(): Promise<void> {
    await this.informer.start();
  }

  async stop(): Promise<void> {
    await this.informer.stop();
    this.client.close();
  }

  /** Services (by key) whose non-empty IPs changed or were removed. */
  violations(prefix = ''): StatusChange[] {
    return this.changes.filter((c) => c.key.startsWith(prefix) && c.from.length > 0);
  }

  ips(key: string): string[] {
    return this.current.get(key) ?? [];
  }

  keys(prefix = ''): string[] {
    return [...this.current.keys()].filter((k) => k.startsWith(prefix));
  }
}

/** An audit policy that records (metadata only) every write of `user` to Services and their status. */
export function writeAuditPolicy(dir: string, user: string): { policy: string; log: string; args: string[] } {
  const policy = join(dir, 'audit-policy.yaml');
  const log = join(dir, 'audit.log');
  writeFileSync(
    policy,
    stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [
        {
          level: 'Metadata',
          users: [user],
          verbs: ['create', 'update', 'patch'],
          resources: [{ group: '', resources: ['services', 'services/status'] }],
        },
        { level: 'None' },
      ],
    }),
  );
  return {
    policy,
    log,
    args: [`--audit-policy-file=${policy}`, `--audit-log-path=${log}`, '--audit-log-mode=blocking'],
  };
}

export interface AuditWrite {
  at: number;
  verb: string;
  key: string;
  subresource: string;
  code: number;
}

/** The audited writes (ResponseComplete) from the audit log, optionally only those at or after `since`. */
export function auditWrites(log: string, since = 0): AuditWrite[] {
  if (!existsSync(log)) return [];
  const out: AuditWrite[] = [];
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let ev: {
      stage?: string;
      verb?: string;
      requestReceivedTimestamp?: string;
      objectRef?: { namespace?: string; name?: string; subresource?: string };
      responseStatus?: { code?: number };
    };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      continue; // a line being written
    }
    if (ev.stage !== 'ResponseComplete') continue;
    const at = Date.parse(ev.requestReceivedTimestamp ?? '');
    if (at < since) continue;
    out.push({
      at,
      verb: ev.verb ?? '',
      key: `${ev.objectRef?.namespace ?? ''}/${ev.objectRef?.name ?? ''}`,
      subresource: ev.objectRef?.subresource ?? '',
      code: ev.responseStatus?.code ?? 0,
    });
  }
  return out;
}

/** Successful status writes per Service key. */
export function statusWritesPerService(writes: readonly AuditWrite[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const w of writes)
    if (w.subresource === 'status' && w.code >= 200 && w.code < 300) m.set(w.key, (m.get(w.key) ?? 0) + 1);
  return m;
}

/** A LoadBalancer Service as the bursts and the soak create it: port 80, no NodePorts. */
export function lbServiceBody(namespace: string, name: string, selector: Record<string, string>): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      type: 'LoadBalancer',
      // thousands of Services: the 2,768 NodePorts of the default range would run out
      allocateLoadBalancerNodePorts: false,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      selector,
    },
  };
}

export interface BurstOptions {
  namespace: string;
  count: number;
  prefix?: string;
  concurrency?: number;
  /** The Services' selector (default app=<name>: no endpoints). */
  selector?: Record<string, string>;
  /** Called after each creation with how many are done (to trigger a fault mid-burst). */
  onCreated?: (done: number) => void | Promise<void>;
  /** Progress every 10 s (for the bench). */
  onProgress?: (line: string) => void;
  /** Called when a creation had to be abandoned after 45 s without an answer (then retried). */
  onHung?: (name: string, ms: number) => void;
}

/**
 * Creates `count` LoadBalancer Services, `concurrency` at a time. A creation that fails because the
 * apiserver is away is retried until it succeeds (409 counts as done), so a burst runs through outages.
 */
export async function burst(client: KubeClient, o: BurstOptions): Promise<string[]> {
  const names = Array.from({ length: o.count }, (_, i) => `${o.prefix ?? 's'}${i}`);
  let next = 0;
  let done = 0;
  const worker = async (state: (s: string) => void): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= names.length) return;
      const name = names[i] as string;
      for (let attempt = 0; ; attempt++) {
        state(`${name}#${attempt}`);
        try {
          // An overall deadline of our own: a request must never wait forever, whatever the client does.
          const signal = AbortSignal.timeout(45_000);
          const started = Date.now();
          try {
            await client.request('POST', `/api/v1/namespaces/${o.namespace}/services`, {
              signal,
              body: lbServiceBody(o.namespace, name, o.selector ?? { app: name }),
            });
          } finally {
            if (signal.aborted) o.onHung?.(name, Date.now() - started);
          }
          break;
        } catch (err) {
          const status = err instanceof ApiError ? err.status : 0;
          if (status === 409) break;
          if (status >= 400 && status < 500 && status !== 429) throw err;
          state(`${name}#${attempt}:${status}`);
          await delay(Math.min(100 * 2 ** attempt, 1000));
        }
      }
      done++;
      state(`cb${done}`);
      await o.onCreated?.(done);
    }
  };
  const states = new Map<number, string>();
  const ticker = o.onProgress
    ? setInterval(
        () =>
          o.onProgress?.(
            `${done}/${o.count} created; next ${next}; workers: ${[...states.values()].join(' ')}`,
          ),
        10_000,
      )
    : undefined;
  try {
    await Promise.all(
      Array.from({ length: o.concurrency ?? 10 }, async (_, w) => {
        states.set(w, 'run');
        await worker((st) => states.set(w, st));
        states.set(w, 'done');
      }),
    );
  } finally {
    clearInterval(ticker);
  }
  return names;
}

export const controllerEntry = (): string => join(repoRoot(), 'dist', 'controller', 'cli-entry.js');

export interface ControllerProc {
  id: string;
  proc: ManagedProcess;
  metricsPort: number;
}

/**
 * Cuts (or heals) membership UDP between `host` and `peerIps`, both ways, in one iptables-restore: the
 * rules change at one instant, so a heal time measured from here is not process start-ups.
 */
export async function membershipPartition(
  host: LabHost,
  peerIps: readonly string[],
  op: 'cut' | 'heal',
  port = 7946,
): Promise<void> {
  const verb = op === 'cut' ? '-I' : '-D';
  const lines = peerIps.flatMap((ip) => [
    `${verb} INPUT -p udp -s ${ip} --dport ${port} -j DROP`,
    `${verb} OUTPUT -p udp -d ${ip} --dport ${port} -j DROP`,
  ]);
  const script = ['*filter', ...lines, 'COMMIT', ''].join('\n');
  await host.sh('sh', ['-c', `printf '${script}' | iptables-restore --noflush`]);
}

/** The controller holding the metallb-controller Lease in `namespace` ('' when none, or the apiserver is down). */
export async function leaseHolder(cp: ControlPlane, namespace: string): Promise<string> {
  const r = await cp
    .request('GET', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/metallb-controller`)
    .catch(() => ({ status: 0, body: '' }));
  return r.status === 200
    ? ((JSON.parse(r.body) as { spec?: { holderIdentity?: string } }).spec?.holderIdentity ?? '')
    : '';
}

/** Waits until the controller holding the Lease reports an empty work queue. */
export async function waitLeaderIdle(
  cp: ControlPlane,
  namespace: string,
  ctls: readonly ControllerProc[],
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    'leader queue empty',
    async () => {
      const id = await leaseHolder(cp, namespace);
      const c = ctls.find((x) => x.id === id);
      const text = c ? await scrape(`http://127.0.0.1:${c.metricsPort}/metrics`) : undefined;
      return text !== undefined && metricValue(text, 'bollard_controller_workqueue_depth') === 0
        ? true
        : undefined;
    },
    timeoutMs,
    250,
  );
}

/** Starts the compiled controller as its own process with a short lease (tests and the bench). */
export async function spawnController(
  id: string,
  kubeconfig: string,
  logDir: string,
  lease = { duration: '4s', renew: '3s', retry: '500ms' },
  namespace = 'metallb-system',
): Promise<ControllerProc> {
  const metricsPort = await freePort();
  const proc = ManagedProcess.start(
    process.execPath,
    [
      controllerEntry(),
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--metrics-bind',
      `127.0.0.1:${metricsPort}`,
      '--identity',
      id,
      '--lease-duration',
      lease.duration,
      '--renew-deadline',
      lease.renew,
      '--retry-period',
      lease.retry,
    ],
    { name: `controller-${id}`, logFile: join(logDir, `controller-${id}.log`) },
  );
  return { id, proc, metricsPort };
}

/** One metric's value (summed over label sets matching `labels`) from a Prometheus text page. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
    sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

export async function scrape(url: string): Promise<string | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}
