// Runs lab/http-prober.js inside a lab host and gives back its summary when stopped.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProbeSummary } from './http-prober.js';
import type { LabHost } from './hosts.js';
import { waitFor } from './process.js';

export type { ProbeSummary } from './http-prober.js';

export interface RunningProber {
  /** SIGTERM, wait for the summary. */
  stop(): Promise<ProbeSummary>;
}

let seq = 0;

/** Starts probing `url` from `host` (a new connection every `intervalMs`); resolves once it runs. */
export async function startProber(
  host: LabHost,
  url: string,
  logDir: string,
  opts: { intervalMs?: number; maxSeconds?: number; timeoutMs?: number } = {},
): Promise<RunningProber> {
  const script = fileURLToPath(new URL('./http-prober.js', import.meta.url));
  const n = ++seq;
  const out = join(logDir, `prober-${host.name}-${process.pid}-${n}.json`);
  const log = join(logDir, `prober-${host.name}-${process.pid}-${n}.log`);
  const p = host.spawn(
    process.execPath,
    [
      script,
      url,
      out,
      String(opts.intervalMs ?? 10),
      String(opts.maxSeconds ?? 600),
      String(opts.timeoutMs ?? 1000),
    ],
    { name: `${host.name}/http-prober`, logFile: log },
  );
  await p.whileRunning(
    waitFor(
      'prober started',
      () => (existsSync(log) && readFileSync(log, 'utf8').includes('probing') ? true : undefined),
      15_000,
      50,
    ),
  );
  return {
    stop: async () => {
      p.signal('SIGTERM');
      await p.exited;
      return JSON.parse(readFileSync(out, 'utf8')) as ProbeSummary;
    },
  };
}
