// The soak's two halves, shared by the short soak in `npm test` (test/e2e/chaos-soak.test.ts) and the
// long one (`npm run bench -- chaos --parts=soak`): churn of LoadBalancer Services at a rate, and the
// check that afterwards every Service has a VIP of its own and exactly one speaker announcing it.
import type { KubeClient } from '../../k8s/client.js';
import { delay } from '../../lab/process.js';
import type { Manifest } from '../../lab/deploy.js';
import { lbServiceBody } from './chaos.js';

/** The soak's pool (`addresses`) and an L2Advertisement for it, named `soak`. */
export function soakPoolObjects(namespace: string, addresses: string): [Manifest, Manifest] {
  return [
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'soak', namespace },
      spec: { addresses: [addresses] },
    },
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: 'soak', namespace },
      spec: { ipAddressPools: ['soak'] },
    },
  ];
}

export interface ChurnOptions {
  namespace: string;
  /** Names of the Services that exist when the churn starts (`k0`, `k1`, … are made after them). */
  existing: readonly string[];
  /** Deletions stop while fewer than this many Services are left. */
  floor: number;
  selector: Record<string, string>;
  ratePerSecond: number;
  /** How long the churn runs (the bench), unless `operations` is given. */
  seconds: number;
  /**
   * Run exactly this many operations instead (tests: the amount of work does not depend on how fast
   * the machine is). The rate is still the pace; when 500 are in flight the next one waits for a
   * slot instead of being skipped.
   */
  operations?: number;
  /** Called about every `everyMs` while the churn runs (the bench samples memory). */
  tick?: { everyMs: number; run: () => void };
}

export interface ChurnResult {
  ops: number;
  errors: number;
  /** Wall time of the answered operations, ms. */
  latencies: number[];
  /** Operations not started because 500 were already in flight, or no Service was free to touch. */
  skipped: number;
  seconds: number;
}

/**
 * Create / delete / label-update at random, open loop: rate/10 operations every 100 ms whether or not
 * the earlier ones have answered (at most 500 in flight), so a slow apiserver shows up as latency, not
 * as a lower rate.
 */
export async function churn(admin: KubeClient, o: ChurnOptions): Promise<ChurnResult> {
  const base = `/api/v1/namespaces/${o.namespace}/services`;
  const live = [...o.existing];
  let next = live.length;
  const res: ChurnResult = { ops: 0, errors: 0, latencies: [], skipped: 0, seconds: 0 };
  const busy = new Set<string>();
  const pick = (): string | undefined => {
    for (let tries = 0; tries < 20; tries++) {
      const name = live[Math.floor(Math.random() * live.length)];
      if (name !== undefined && !busy.has(name)) return name;
    }
    return undefined;
  };
  const op = async (): Promise<void> => {
    const r = Math.random();
    const started = Date.now();
    try {
      if (r < 1 / 3) {
        let name = `k${next++}`;
        while (live.includes(name)) name = `k${next++}`;
        await admin.create(base, lbServiceBody(o.namespace, name, o.selector));
        live.push(name);
      } else {
        // one operation at a time per name: a label update racing its Service's deletion would fail
        // for the harness's sake, not Bollard's
        const name = pick();
        if (name === undefined) {
          res.skipped++;
          return;
        }
        busy.add(name);
        try {
          if (r < 2 / 3 && live.length > o.floor) {
            live.splice(live.indexOf(name), 1);
            await admin.delete(`${base}/${name}`);
          } else await admin.patch(`${base}/${name}`, { metadata: { labels: { churn: String(res.ops) } } });
        } finally {
          busy.delete(name);
        }
      }
      res.latencies.push(Date.now() - started);
    } catch {
      res.errors++;
    }
    res.ops++;
  };
  const t0 = Date.now();
  const end = t0 + o.seconds * 1000;
  const inflight = new Set<Promise<void>>();
  let lastTick = t0;
  let launched = 0;
  const more = (): boolean => (o.operations !== undefined ? launched < o.operations : Date.now() < end);
  while (more()) {
    const tick = Date.now();
    for (let k = 0; k < Math.max(1, Math.round(o.ratePerSecond / 10)) && more(); k++) {
      if (inflight.size >= 500) {
        if (o.operations === undefined) {
          res.skipped++;
          continue;
        }
        await Promise.race(inflight);
      }
      launched++;
      const p = op().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    if (o.tick && Date.now() - lastTick >= o.tick.everyMs) {
      lastTick = Date.now();
      o.tick.run();
    }
    await delay(Math.max(0, 100 - (Date.now() - tick))); // pacing the load, not waiting for an event
  }
  await Promise.all(inflight);
  res.seconds = (Date.now() - t0) / 1000;
  return res;
}

interface SvcList {
  items: { metadata: { name: string }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }[];
}

/** Services of `namespace` announced by each speaker, from their metallb_speaker_announced series. */
export function announcedIn(
  namespace: string,
  metricsByNode: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = new RegExp(`^metallb_speaker_announced\\{[^}]*service="${namespace}/([^"]+)"[^}]*\\} 1$`, 'gm');
  for (const [node, text] of metricsByNode)
    for (const m of text.matchAll(re)) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), node]);
  return out;
}

/**
 * undefined when every Service of `namespace` has a VIP no other holds and exactly one speaker
 * announces it (and no speaker announces one that is gone); else what is wrong, with examples.
 */
export async function soakProblems(
  admin: KubeClient,
  namespace: string,
  speakerMetrics: () => Promise<ReadonlyMap<string, string>>,
): Promise<string | undefined> {
  const svcs = (await admin.get<SvcList>(`/api/v1/namespaces/${namespace}/services`)).items;
  const ips = new Map<string, string>();
  for (const s of svcs) {
    const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
    if (!ip) return `${s.metadata.name} has no IP`;
    if (ips.has(ip)) return `${ip} held by ${ips.get(ip)} and ${s.metadata.name}`;
    ips.set(ip, s.metadata.name);
  }
  const ann = announcedIn(namespace, await speakerMetrics());
  const wrong = svcs.filter((s) => (ann.get(s.metadata.name) ?? []).length !== 1);
  const names = new Set(svcs.map((s) => s.metadata.name));
  const stale = [...ann.keys()].filter((k) => !names.has(k)).length;
  if (wrong.length === 0 && stale === 0) return undefined;
  // what the first few look like: who announces them, and their endpoints
  const detail: string[] = [];
  for (const s of wrong.slice(0, 3)) {
    const sl = await admin.get<{ items: { endpoints?: unknown[] }[] }>(
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
      { labelSelector: `kubernetes.io/service-name=${s.metadata.name}` },
    );
    detail.push(
      `${s.metadata.name} (${s.status?.loadBalancer?.ingress?.[0]?.ip}): announced by [${(ann.get(s.metadata.name) ?? []).join(',')}], ` +
        `${sl.items.length} slices with ${sl.items.reduce((n, x) => n + (x.endpoints?.length ?? 0), 0)} endpoints`,
    );
  }
  return `${wrong.length} of ${svcs.length} not announced exactly once, ${stale} announced but gone; e.g. ${detail.join('; ')}`;
}
