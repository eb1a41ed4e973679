// A client that opens a new HTTP connection to a URL every `interval` ms and records each answer, run
// inside a lab host (`client`, `external`) while something is rolled, killed or moved. It stops on
// SIGTERM/SIGINT or after `maxSeconds` and writes one JSON summary: requests, failures (with curl-like
// reasons), the longest run of failures as a gap in ms, and the time of the first and last failure.
//   node dist/lab/http-prober.js URL OUT.json [intervalMs=10] [maxSeconds=600] [timeoutMs=1000]
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ProbeSummary {
  url: string;
  requests: number;
  failures: number;
  /** Failure reasons and how often each happened. */
  reasons: Record<string, number>;
  /** The longest time from the start of a failed request to the start of the next successful one. */
  longestGapMs: number;
  firstFailureAt?: string;
  lastFailureAt?: string;
  startedAt: string;
  endedAt: string;
}

function once(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`));
      res.on('error', (e) => resolve(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

/** Probes until `stop` resolves or `maxMs` passes; pure bookkeeping around `once`. */
export async function probe(
  url: string,
  opts: { intervalMs: number; maxMs: number; timeoutMs: number; stop: Promise<void> },
): Promise<ProbeSummary> {
  const s: ProbeSummary = {
    url,
    requests: 0,
    failures: 0,
    reasons: {},
    longestGapMs: 0,
    startedAt: new Date().toISOString(),
    endedAt: '',
  };
  let stopped = false;
  opts.stop.then(
    () => {
      stopped = true;
    },
    () => {
      stopped = true;
    },
  );
  const end = Date.now() + opts.maxMs;
  let gapStart: number | undefined;
  while (!stopped && Date.now() < end) {
    const t = Date.now();
    const err = await once(url, opts.timeoutMs);
    s.requests++;
    if (err) {
      s.failures++;
      s.reasons[err] = (s.reasons[err] ?? 0) + 1;
      const at = new Date(t).toISOString();
      s.firstFailureAt ??= at;
      s.lastFailureAt = at;
      gapStart ??= t;
    } else if (gapStart !== undefined) {
      s.longestGapMs = Math.max(s.longestGapMs, t - gapStart);
      gapStart = undefined;
    }
    const wait = opts.intervalMs - (Date.now() - t);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  if (gapStart !== undefined) s.longestGapMs = Math.max(s.longestGapMs, Date.now() - gapStart);
  s.endedAt = new Date().toISOString();
  return s;
}

async function main(): Promise<void> {
  const [url, out, interval = '10', maxSeconds = '600', timeout = '1000'] = process.argv.slice(2);
  if (!url || !out) {
    process.stderr.write('usage: http-prober URL OUT.json [intervalMs] [maxSeconds] [timeoutMs]\n');
    process.exitCode = 2;
    return;
  }
  const stop = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  process.stdout.write('probing\n');
  const summary = await probe(url, {
    intervalMs: Number(interval),
    maxMs: Number(maxSeconds) * 1000,
    timeoutMs: Number(timeout),
    stop,
  });
  writeFileSync(out, JSON.stringify(summary));
  process.stdout.write(`done ${summary.requests} requests, ${summary.failures} failed\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`http-prober: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
