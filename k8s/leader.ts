// Lease-based leader election (coordination.k8s.io/v1), as client-go does it: create the Lease, else take
// it over when its holder has not renewed for leaseDuration (timed by our own clock from when we last saw
// it change, so clock skew between nodes does not matter), then renew every retryPeriod with the
// resourceVersion as precondition. A 409 means someone else wrote it: leadership is lost at once. If
// renewals keep failing for renewDeadline, leadership is given up too.
import { EventEmitter } from 'node:events';
import { ApiError, resourcePath, RESOURCES, type KubeClient } from './client.js';
import { microTime } from './events.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  /** How long a non-renewed lease stays valid (default 15 s). */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long (default 10 s; < leaseDuration). */
  renewDeadlineMs?: number;
  /** Pause between attempts (default 2 s). */
  retryPeriodMs?: number;
  /** Give the lease up on stop() so another replica takes over at once (default true). */
  releaseOnStop?: boolean;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderEvents {
  /** This replica became leader. */
  started: [];
  /** This replica stopped being leader (lost, deadline passed, or stop()). */
  stopped: [reason: string];
  /** Someone (maybe us) holds the lease now. */
  leader: [identity: string];
  error: [err: Error];
}

export class LeaderElector extends EventEmitter<LeaderEvents> {
  private leading = false;
  private running = false;
  private observedRV = '';
  private observedHolder = '';
  private observedAt = 0;
  private lastRenew = 0;
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;

  constructor(private readonly opts: LeaderElectionOptions) {
    super();
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs)
      throw new Error('renewDeadline must be shorter than leaseDuration');
    if (this.retryPeriodMs >= this.renewDeadlineMs)
      throw new Error('retryPeriod must be shorter than renewDeadline');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get currentHolder(): string {
    return this.observedHolder;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loopDone;
    const wasLeader = this.leading;
    if (wasLeader) this.setLeading(false, 'stopped');
    if (wasLeader && (this.opts.releaseOnStop ?? true)) await this.release();
  }

  private path(name?: string): string {
    return resourcePath(RESOURCES.leases, this.opts.namespace, name);
  }

  private setLeading(v: boolean, reason: string): void {
    if (v === this.leading) return;
    this.leading = v;
    if (v) {
      // A watchdog: if renewals stall (a hung request), stop acting before the lease can expire.
      this.timer = setInterval(
        () => {
          if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs)
            this.setLeading(false, `could not renew within ${this.renewDeadlineMs} ms`);
        },
        Math.max(50, Math.floor(this.retryPeriodMs / 4)),
      );
      this.emit('started');
    } else {
      clearInterval(this.timer);
      this.timer = undefined;
      this.emit('stopped', reason);
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const outcome = await this.tryAcquireOrRenew();
        if (!this.running) break;
        if (outcome === 'held') {
          this.lastRenew = Date.now();
          this.setLeading(true, '');
        } else if (this.leading) {
          this.setLeading(
            false,
            outcome === 'conflict'
              ? 'the Lease was written by another replica'
              : `the Lease is held by ${this.observedHolder}`,
          );
        }
      } catch (err) {
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
        if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs)
          this.setLeading(false, `could not renew within ${this.renewDeadlineMs} ms`);
      }
      if (!this.running) break;
      const jitter = this.leading ? 0 : Math.random() * this.retryPeriodMs * 0.2;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.retryPeriodMs + jitter);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.opts.client.request<T>(method, path, {
      body,
      timeoutMs: Math.max(1000, this.renewDeadlineMs - this.retryPeriodMs),
    });
  }

  private async tryAcquireOrRenew(): Promise<'held' | 'other' | 'conflict'> {
    const now = Date.now();
    const spec = (prev: LeaseSpec | undefined, takeover: boolean): LeaseSpec => ({
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.max(1, Math.round(this.leaseDurationMs / 1000)),
      acquireTime: takeover || !prev?.acquireTime ? microTime(now) : prev.acquireTime,
      renewTime: microTime(now),
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (takeover && prev?.holderIdentity ? 1 : 0),
    });
    let lease: Lease;
    try {
      lease = await this.request<Lease>('GET', this.path(this.opts.name));
    } catch (err) {
      if (!(err instanceof ApiError) || !err.notFound) throw err;
      try {
        this.lease = await this.request<Lease>('POST', this.path(), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: spec(undefined, true),
        });
        this.observe(this.lease, now);
        return 'held';
      } catch (e) {
        if (e instanceof ApiError && e.conflict) return 'conflict';
        throw e;
      }
    }
    this.observe(lease, now);
    const holder = lease.spec?.holderIdentity ?? '';
    const mine = holder === this.opts.identity;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? Math.round(this.leaseDurationMs / 1000)) * 1000;
    if (!mine && holder !== '' && now - this.observedAt < durationMs) return 'other';
    try {
      this.lease = await this.request<Lease>('PUT', this.path(this.opts.name), {
        ...lease,
        spec: spec(lease.spec, !mine),
      });
      this.observe(this.lease, now);
      return 'held';
    } catch (e) {
      if (e instanceof ApiError && e.conflict) return 'conflict';
      throw e;
    }
  }

  private observe(lease: Lease, now: number): void {
    const rv = lease.metadata.resourceVersion ?? '';
    if (rv !== this.observedRV) {
      this.observedRV = rv;
      this.observedAt = now;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder) this.emit('leader', holder);
    }
  }

  /** Gives the lease up (holder cleared, 1 s duration) so another replica can take over immediately. */
  private async release(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    try {
      await this.request('PUT', this.path(this.opts.name), {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(Date.now()),
        },
      });
    } catch {
      // Someone else already wrote it, or the apiserver is gone: nothing to give up.
    }
    this.lease = undefined;
  }
}
