// Probes this node's kube-proxy on each ETP Local Service's healthCheckNodePort:
// GET http://<node IP>:<port>/ -> 200 with localEndpoints > 0 is healthy; anything else (503, a
// refused connection, a timeout, a body that says 0) is a failure. A Service turns unhealthy after
// `failures` consecutive failures and healthy again after one success.
import { request } from 'node:http';

export interface HealthTarget {
  host: string;
  port: number;
}

export interface HealthProberOptions {
  intervalMs?: number;
  timeoutMs?: number;
  failures?: number;
  onChange: (healthy: ReadonlySet<string>) => void;
  /** How one target is probed (default probeOnce, HTTP); a test passes its own. Must not reject. */
  probe?: (target: HealthTarget, timeoutMs: number) => Promise<boolean>;
}

interface TargetState {
  target: HealthTarget;
  healthy: boolean;
  fails: number;
  inFlight: boolean;
  known: boolean;
}

/** One probe: resolves true when kube-proxy reports local endpoints. Never rejects. */
export function probeOnce(t: HealthTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean): void => {
      if (done) return;
      done = true;
      resolve(v);
    };
    const req = request(
      { host: t.host, port: t.port, path: '/', method: 'GET', timeout: timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (chunks.length < 64) chunks.push(c);
        });
        res.on('error', () => finish(false));
        res.on('end', () => {
          if (res.statusCode !== 200) return finish(false);
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { localEndpoints?: unknown };
            finish(typeof body.localEndpoints === 'number' ? body.localEndpoints > 0 : true);
          } catch {
            finish(true); // 200 without a parseable body: kube-proxy says healthy
          }
        });
      },
    );
    req.on('timeout', () => {
      req.destroy();
      finish(false);
    });
    req.on('error', () => finish(false));
    req.end();
  });
}

export class HealthProber {
  private readonly targets = new Map<string, TargetState>();
  private readonly timer: NodeJS.Timeout;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly failures: number;
  private lastReported = '';

  constructor(private readonly opts: HealthProberOptions) {
    this.intervalMs = opts.intervalMs ?? 300;
    this.timeoutMs = opts.timeoutMs ?? 250;
    this.failures = opts.failures ?? 2;
    this.timer = setInterval(() => this.round(), this.intervalMs);
  }

  /** Services to probe (key -> where); others are forgotten. New ones are probed at once. */
  setTargets(targets: ReadonlyMap<string, HealthTarget>): void {
    let changed = false;
    for (const [k, t] of targets) {
      const cur = this.targets.get(k);
      if (cur && cur.target.host === t.host && cur.target.port === t.port) continue;
      this.targets.set(k, { target: t, healthy: false, fails: 0, inFlight: false, known: false });
      this.probe(k);
    }
    for (const k of [...this.targets.keys()]) {
      if (!targets.has(k)) {
        this.targets.delete(k);
        changed = true;
      }
    }
    if (changed) this.report();
  }

  healthy(): Set<string> {
    return new Set([...this.targets].filter(([, s]) => s.healthy).map(([k]) => k));
  }

  /** Every probed Service: true healthy, false failing, undefined not probed yet (for metrics). */
  results(): Map<string, boolean | undefined> {
    return new Map([...this.targets].map(([k, s]) => [k, s.known ? s.healthy : undefined]));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private round(): void {
    for (const k of this.targets.keys()) this.probe(k);
  }

  private probe(key: string): void {
    const s = this.targets.get(key);
    if (!s || s.inFlight) return;
    s.inFlight = true;
    // A probe that could not even be sent counts as a failed one.
    (this.opts.probe ?? probeOnce)(s.target, this.timeoutMs).then(
      (ok) => this.settle(key, s, ok),
      () => this.settle(key, s, false),
    );
  }

  private settle(key: string, s: TargetState, ok: boolean): void {
    s.inFlight = false;
    if (this.targets.get(key) !== s) return;
    s.known = true;
    if (ok) {
      s.fails = 0;
      s.healthy = true;
    } else if (++s.fails >= this.failures || !s.healthy) s.healthy = false;
    this.report();
  }

  private report(): void {
    const h = [...this.healthy()].sort();
    const sig = h.join('\n');
    if (sig === this.lastReported) return;
    this.lastReported = sig;
    this.opts.onChange(new Set(h));
  }
}
