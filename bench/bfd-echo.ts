// BFD detection time, echo against control-only, between Bollard's speaker and FRR's bfdd in network
// namespaces. Both sides run 300 ms × 3 control timers; the echo runs add echoMode / echo-mode with a
// 50 ms echo interval. Each run pulls the router's cable (its bridge port down) and times, from that
// moment, the speaker's "BFD session Down" log line (the speaker's own clock); the cable goes back and
// the next run waits for the session (and, with echo, an echo back), then 0.5–1.5 s at random.
// Usage: npm run bench -- bfd-echo [--runs N] [--echo-interval MS]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan } from '../lab/netns.js';
import { delay, waitFor, type ManagedProcess } from '../lab/process.js';
import { peer, startSpeaker } from '../test/e2e/bgp-routers.js';
import { frrBfdConfig, startFrrBfd, type FrrBfd } from '../test/e2e/frr-bfd.js';

const ROUTER = '10.82.0.1';
const NODE = '10.82.0.11';

function arg(args: string[], name: string, def: number): number {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return def;
  const v = args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : def;
}

function logLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

async function measure(dir: string, echoMs: number | undefined, runs: number): Promise<number[]> {
  const lan = await Lan.create();
  let frr: FrrBfd | undefined;
  let speaker: { proc: ManagedProcess; log: string } | undefined;
  const out: number[] = [];
  try {
    const router = await lan.addHost('router', { ipv4: `${ROUTER}/24` });
    const node = await lan.addHost('node', { ipv4: `${NODE}/24` });
    for (const h of [router, node]) await h.sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const tag = echoMs === undefined ? 'control' : 'echo';
    frr = await startFrrBfd(
      router,
      join(dir, `${tag}-frr`),
      frrBfdConfig({
        peer: NODE,
        intervalMs: 300,
        detectMultiplier: 3,
        ...(echoMs !== undefined ? { echoIntervalMs: echoMs } : {}),
      }),
    );
    speaker = await startSpeaker(node, join(dir, `${tag}-node`), {
      nodeName: 'node',
      nodeIPv4: NODE,
      peers: [
        peer({
          name: 'frr',
          peerAddress: ROUTER,
          myASN: 64513,
          peerASN: 64512,
          bfd: {
            receiveIntervalMs: 300,
            transmitIntervalMs: 300,
            detectMultiplier: 3,
            passiveMode: false,
            minimumTtl: 254,
            echoMode: echoMs !== undefined,
            ...(echoMs !== undefined ? { echoIntervalMs: echoMs } : {}),
          },
        }),
      ],
      routes: {},
    });
    const log = speaker.log;
    for (let i = 0; i < runs; i++) {
      const seen = logLines(log).length;
      const ready = (): boolean => {
        const lines = logLines(log);
        const last = lines.filter((l) => typeof l.msg === 'string' && /^BFD session /.test(l.msg)).at(-1);
        if (last?.msg !== 'BFD session Up') return false;
        // With echo: an echo came back since the session (re)started its echoes.
        if (echoMs === undefined) return true;
        const active = lines.findLastIndex((l) => l.msg === 'BFD echo active');
        return lines.findLastIndex((l) => l.msg === 'BFD echo came back') > active;
      };
      await waitFor('BFD Up', () => (ready() ? true : undefined), 30_000, 20);
      // The session just came Up on a packet: pull the cable at a random phase of the intervals, not
      // right after one (which would time the worst case every run).
      await delay(500 + Math.random() * 1000);
      const before = logLines(log).length;
      const t0 = Date.now();
      await router.link('down');
      const down = await waitFor(
        'BFD Down',
        () =>
          logLines(log)
            .slice(Math.max(seen, before))
            .find((l) => l.msg === 'BFD session Down' && l.from === 'Up'),
        10_000,
        5,
      );
      out.push(Number(down.time) - t0);
      process.stdout.write(
        `  ${tag} run ${i + 1}: ${Number(down.time) - t0} ms (diag ${String(down.diag)})\n`,
      );
      await router.link('up');
    }
  } finally {
    await speaker?.proc.stop(2000);
    await frr?.stop();
    await lan.destroy();
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  const runs = arg(args, 'runs', 10);
  const echoMs = arg(args, 'echo-interval', 50);
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bench-bfd-echo-'));
  try {
    const control = await measure(dir, undefined, runs);
    const echo = await measure(dir, echoMs, runs);
    const row = (name: string, xs: number[]): string =>
      `${name.padEnd(34)} p50 ${pct(xs, 50)} ms  p90 ${pct(xs, 90)} ms  max ${Math.max(...xs)} ms  (${xs.length} runs)`;
    process.stdout.write(`BFD detection time (router's cable pulled -> speaker declares the session Down)\n`);
    process.stdout.write(`${row('control only, 300 ms x 3', control)}\n`);
    process.stdout.write(`${row(`echo ${echoMs} ms x 3 (control 300 ms x 3)`, echo)}\n`);
  } finally {
    if (!process.env.BOLLARD_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}
