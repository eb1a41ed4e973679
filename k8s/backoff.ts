// How long to wait before trying again after failures: exponential, capped, optionally jittered. The one
// backoff of both programs: informer watches, the controller's work queue, BGP dials, the BGP listener
// and BFD sockets. Pure: the caller counts the failures and passes the random source.

export interface BackoffPolicy {
  /** The delay after the first failure, ms. */
  readonly initialMs: number;
  /** No delay is longer, ms. */
  readonly maxMs: number;
  /** Growth per further failure (default 2). */
  readonly factor?: number;
  /**
   * Up to this fraction of the delay is taken off at random (0..1, default 0), so that many retrying
   * at once (every speaker after an outage) do not all retry in step.
   */
  readonly jitter?: number;
}

/** The delay before the next attempt after `failures` consecutive failures (1 = the first failure). */
export function backoffDelay(
  policy: BackoffPolicy,
  failures: number,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(failures));
  // The exponent stops growing long before a double overflows; the cap does the rest.
  const grown = policy.initialMs * (policy.factor ?? 2) ** Math.min(n - 1, 64);
  const delay = Math.min(policy.maxMs, grown);
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0));
  return jitter === 0 ? delay : delay * (1 - jitter * random());
}

/** The consecutive failures of one thing (a watch, a bind) and the delays they ask for. */
export class Backoff {
  private count = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Consecutive failures since the last success. */
  get failures(): number {
    return this.count;
  }

  /** Counts a failure; returns how long to wait before the next attempt. */
  fail(): number {
    this.count++;
    return backoffDelay(this.policy, this.count, this.random);
  }

  /** A success: the next failure waits `initialMs` again. */
  succeed(): void {
    this.count = 0;
  }
}
