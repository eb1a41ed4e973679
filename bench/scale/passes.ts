// The speaker's layer 2 pass, in process: decideLayer2 (speaker/layer2/decide.ts: advertisements,
// selected nodes, eligibility, sha256 election) over N nodes x S Services, with the pass-to-pass memo
// of election hashes (ElectionHashes) as the speaker keeps it.
//
// A pass is a loop over Services with nothing shared between them but its inputs, so its cost is S
// times the cost per Service. Where a whole pass would take too long here (or its memo too much
// memory), `sample` Services are timed and the pass is that mean times S; the result says which.
import { parseConfig } from '../../config/parse.js';
import type { Config } from '../../config/types.js';
import { decideLayer2 } from '../../speaker/layer2/decide.js';
import type { ServiceFacts } from '../../speaker/protocol.js';
import { ElectionHashes } from '../../speaker/layer2/election.js';
import type { EndpointFacts, NodeFacts } from '../../speaker/eligibility.js';
import { seededRandom } from '../../speaker/membership/messages.js';
import { nodeName } from './membership.js';

export interface PassBenchOptions {
  nodes: number;
  services: number;
  /** Time a whole pass when nodes x services is at most this (default 2,000,000), else sample. */
  fullLimit?: number;
  /** Services timed when sampling (default 200). */
  sample?: number;
  seed?: number;
}

export interface PassFigures {
  nodes: number;
  services: number;
  /** 'full' = a whole pass was timed; 'sampled' = per-Service mean x S. */
  how: 'full' | 'sampled';
  /** First pass (election hashes computed), ms. */
  coldPassMs: number;
  /** Next pass (every hash remembered), ms. */
  warmPassMs: number;
  /** One changed Service (its hashes remembered), ms. */
  oneServiceMs: number;
  /** The memo after a pass: entries (N x S) and heap bytes per entry measured here. */
  memoEntries: number;
  memoBytesPerEntry: number | undefined;
}

function config(): Config {
  const r = parseConfig({
    ipAddressPools: [
      { metadata: { name: 'l2', namespace: 'metallb-system' }, spec: { addresses: ['10.0.0.0/8'] } },
    ],
    l2Advertisements: [
      { metadata: { name: 'l2', namespace: 'metallb-system' }, spec: { ipAddressPools: ['l2'] } },
    ],
  });
  if (!r.ok) throw new Error('scale bench: configuration did not parse');
  return r.config;
}

function vip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

export function benchPasses(o: PassBenchOptions): PassFigures {
  const random = seededRandom(o.seed ?? 1);
  const cfg = config();
  const nodes: NodeFacts[] = Array.from({ length: o.nodes }, (_, i) => ({
    name: nodeName(i),
    labels: { 'kubernetes.io/hostname': nodeName(i) },
    networkUnavailable: false,
    alive: true,
  }));
  const services: ServiceFacts[] = Array.from({ length: o.services }, (_, i) => ({
    key: `ns-${i % 50}/svc-${i}`,
    namespace: `ns-${i % 50}`,
    name: `svc-${i}`,
    labels: { app: `svc-${i}` },
    ips: [vip(i + 1)],
    pool: 'l2',
    externalTrafficPolicy: 'Cluster',
  }));
  // three endpoints per Service on random nodes
  const endpoints = new Map<string, EndpointFacts[]>(
    services.map((s) => [
      s.key,
      [0, 1, 2].map(() => ({ nodeName: nodeName(Math.floor(random() * o.nodes)) })),
    ]),
  );
  const hashes = new ElectionHashes();
  const decide = (svcs: readonly ServiceFacts[]): void => {
    decideLayer2({
      self: nodeName(0),
      config: cfg,
      services: svcs,
      nodes,
      endpoints: (k) => endpoints.get(k) ?? [],
      health: () => undefined,
      unknownHealth: 'ineligible',
      hashes,
    });
  };
  const full = o.nodes * o.services <= (o.fullLimit ?? 2_000_000);
  const timed = full ? services : services.slice(0, Math.min(o.sample ?? 200, services.length));
  const scale = o.services / timed.length;

  const heap0 = process.memoryUsage().heapUsed;
  let t = performance.now();
  decide(timed);
  const cold = (performance.now() - t) * scale;
  hashes.sweep();
  const heap1 = process.memoryUsage().heapUsed;
  t = performance.now();
  decide(timed);
  const warm = (performance.now() - t) * scale;
  hashes.sweep();
  const one = timed.slice(0, Math.min(50, timed.length));
  t = performance.now();
  for (const s of one) decide([s]);
  const oneMs = (performance.now() - t) / one.length;
  const entries = timed.length * o.nodes;
  return {
    nodes: o.nodes,
    services: o.services,
    how: full ? 'full' : 'sampled',
    coldPassMs: cold,
    warmPassMs: warm,
    oneServiceMs: oneMs,
    memoEntries: o.nodes * o.services,
    memoBytesPerEntry: heap1 > heap0 ? (heap1 - heap0) / entries : undefined,
  };
}
