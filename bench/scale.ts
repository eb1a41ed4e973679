// `npm run bench -- scale [--quick] [--seed=S]`: past this machine, by simulation (issue 17, item 4).
//   1. membership: N speakers' real membership core, codec and replay guard on a simulated clock over an
//      in-memory network (bench/scale/membership.ts): failure detection, traffic and CPU per node;
//   2. the layer 2 pass (decideLayer2) over N nodes x S Services (bench/scale/passes.ts);
//   3. the apiserver load of the speakers, by model (bench/scale/apiserver.ts).
// --quick: smaller runs (a smoke test of the bench itself; the figures are not the recorded ones).
import { apiLoad, SPEAKER_WATCHES, type ApiModelInput } from './scale/apiserver.js';
import { simulateMembership, type KillTrial, type MembershipSimResult } from './scale/membership.js';
import { benchPasses } from './scale/passes.js';

function flag(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
}

const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const ms = (x: number): string => (Number.isFinite(x) ? `${int(x)}` : '> limit');
const kb = (x: number): string =>
  x >= 1e9
    ? `${(x / 1e9).toFixed(2)} GB`
    : x >= 1e6
      ? `${(x / 1e6).toFixed(1)} MB`
      : `${(x / 1e3).toFixed(1)} kB`;
const fixed = (x: number, d = 1): string => x.toFixed(d);

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

function detection(kills: readonly KillTrial[]): string {
  if (kills.length === 0) return '—';
  const all = kills.map((k) => k.allDead);
  const first = kills.map((k) => k.firstDead);
  const median = kills.map((k) => k.medianDead);
  return `${ms(pct(first, 0.5))} / ${ms(pct(median, 0.5))} / ${ms(pct(all, 0.5))} (max ${ms(Math.max(...all))})`;
}

const row = (cols: readonly string[]): string => `| ${cols.join(' | ')} |`;

function membershipRow(r: MembershipSimResult, label: string): string {
  const s = r.steady;
  const d = r.withDead;
  return row([
    int(r.nodes),
    label,
    fixed(s.datagramsPerS),
    kb(s.bytesPerS),
    `${fixed(s.coreMsPerS, 2)} + ${fixed(s.codecMsPerS, 2)}`,
    r.heapPerEntry ? kb(r.heapPerEntry * (r.nodes - 1)) : '—',
    detection(r.kills),
    d ? `${int(d.deadNodes)}: ${int(d.datagramsPerS)} / ${kb(d.bytesPerS)}` : '—',
  ]);
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const seed = flag(args, 'seed', 17);
  const started = performance.now();

  console.log(
    'membership (real core + BLM2 codec + replay guard, simulated clock, in-memory network, latency 0.1-1 ms, no loss)',
  );
  console.log(
    '| nodes | simulated | datagrams/s sent per node | bytes/s sent per node | CPU ms per s per node (core + codec) | member table heap per node | kill → declared dead, ms: first / median member / every member, p50 (max) | with 1 % of nodes down: dead, datagrams/s / bytes/s per node |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const runs: [number, number, number][] = quick
    ? [
        [100, 100, 3],
        [300, 300, 1],
        [5000, 20, 0],
      ]
    : [
        [100, 100, 10],
        [1000, 1000, 3],
        [5000, 100, 0],
      ];
  const walls: string[] = [];
  for (const [nodes, real, kills] of runs) {
    const r = simulateMembership({ nodes, real, kills, seed, steadyMs: 1000, deadFraction: 0.01 });
    const label = real === nodes ? `all ${int(nodes)}` : `${int(real)} real + ${int(nodes - real)} stubs`;
    console.log(membershipRow(r, label));
    walls.push(`${int(nodes)}: ${fixed(r.wallMs / 1000)} s`);
  }
  console.log(`(wall time of each simulation: ${walls.join(', ')})`);
  // Right after every speaker started (before a full probe cycle, N x 100 ms), members hold different
  // incarnations of a peer, and a rumour at the older one is ignored by those holding the newer.
  const coldNodes = quick ? 100 : 300;
  const cold = simulateMembership({
    nodes: coldNodes,
    kills: quick ? 2 : 5,
    seed,
    start: 'cold',
    warmupMs: 1000,
  });
  console.log(
    `cold start (${coldNodes} nodes, kills 1 s after every speaker started): ${cold.kills
      .map(
        (k) =>
          `first ${ms(k.firstDead)}, median ${ms(k.medianDead)}, ${k.undeclared} of ${coldNodes - 1} not within 5 s`,
      )
      .join('; ')}`,
  );

  console.log(
    '\nlayer 2 pass (decideLayer2 with the election-hash memo; 1 pool, 1 L2Advertisement, ETP Cluster, 3 endpoints per Service)',
  );
  console.log(
    '| nodes | Services | timed | first pass | next pass (hashes remembered) | one changed Service | election-hash memo: entries, heap |',
  );
  console.log('|---|---|---|---|---|---|---|');
  const sizes: [number, number][] = quick
    ? [
        [100, 1000],
        [1000, 1000],
      ]
    : [
        [100, 1000],
        [100, 10000],
        [1000, 1000],
        [1000, 10000],
        [5000, 1000],
        [5000, 10000],
      ];
  for (const [nodes, services] of sizes) {
    const p = benchPasses({ nodes, services, seed, sample: quick ? 50 : 200 });
    console.log(
      row([
        int(nodes),
        int(services),
        p.how === 'full' ? 'whole pass' : 'sampled, x S',
        `${int(p.coldPassMs)} ms`,
        `${int(p.warmPassMs)} ms`,
        `${fixed(p.oneServiceMs, 2)} ms`,
        `${int(p.memoEntries)}, ${p.memoBytesPerEntry ? `${int((p.memoEntries * p.memoBytesPerEntry) / 2 ** 20)} MiB (${int(p.memoBytesPerEntry)} B each)` : 'not measured (a collection ran)'}`,
      ]),
    );
  }

  const model: Omit<ApiModelInput, 'nodes'> = {
    services: 10_000,
    sliceUpdatesPerServiceHour: 6,
    serviceUpdatesPerServiceHour: 1,
    nodeUpdatesPerNodeHour: 12,
    serviceCreatesPerHour: 100,
    bytes: { service: 2_000, slice: 1_500, node: 12_000 },
    bgpFraction: 0.5,
  };
  console.log(
    `\napiserver load of the speakers, by model: ${int(model.services)} Services, EndpointSlices of each updated ${model.sliceUpdatesPerServiceHour}/h, ` +
      `each Service ${model.serviceUpdatesPerServiceHour}/h, each Node ${model.nodeUpdatesPerNodeHour}/h, ${model.serviceCreatesPerHour} Services created and ${model.serviceCreatesPerHour} deleted per hour, ` +
      `${model.bgpFraction * 100} % of Services in BGP (announced by every node), sizes as sent: Service ${kb(model.bytes.service)}, EndpointSlice ${kb(model.bytes.slice)}, Node ${kb(model.bytes.node)}; ${SPEAKER_WATCHES} watches per speaker; relist every 10 min`,
  );
  console.log(
    '| nodes | watch events/s per speaker | watch bytes/s per speaker | watch events/s, all speakers | watch bytes/s, all speakers | relisted objects/s, all speakers (bytes/s) | writes/s per speaker; all speakers | ServiceBGPStatus objects |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const nodes of [100, 1000, 5000]) {
    const a = apiLoad({ ...model, nodes });
    console.log(
      row([
        int(nodes),
        fixed(a.eventsPerSpeakerS),
        kb(a.watchBytesPerSpeakerS),
        int(a.eventsTotalS),
        kb(a.watchBytesTotalS),
        `${int(a.relistObjectsTotalS)} (${kb(a.relistBytesTotalS)})`,
        `${fixed(a.writesPerSpeakerS, 3)}; ${fixed(a.writesTotalS)}`,
        int(a.bgpStatusObjects),
      ]),
    );
  }
  console.log(`\nscale: ${fixed((performance.now() - started) / 1000)} s`);
  return Promise.resolve();
}
