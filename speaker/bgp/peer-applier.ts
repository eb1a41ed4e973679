// Hands the BGP controller's wishes to the sessions in order: the peers (setPeers, one call at a time,
// only when they changed) and then the latest routes. A set of peers counts as applied only once
// setPeers resolved; one that failed is tried again with backoff, sooner if the wish changes, and the
// routes still go to the sessions that exist meanwhile.
import { Backoff, type BackoffPolicy } from '../../k8s/backoff.js';
import type { PeerSpec } from './speaker.js';
import type { Clock, TimerHandle } from '../../proto/clock.js';
import type { ExportedRoute, Log } from './types.js';

export type RoutesPerPeer = ReadonlyMap<string, readonly ExportedRoute[]>;

/** What the applier drives (a BgpSpeaker). */
export interface PeerSessions {
  setPeers(specs: readonly PeerSpec[]): Promise<void>;
  update(routes: RoutesPerPeer): void;
}

export interface PeerApplierOptions {
  readonly sessions: PeerSessions;
  readonly clock: Clock;
  readonly log: Log;
  /** Between attempts after setPeers failed (default 1 s doubling to 30 s, up to a quarter less at random). */
  readonly retry?: BackoffPolicy;
}

export class PeerApplier {
  private wanted: { sig: string; specs: readonly PeerSpec[] } | undefined;
  private routes: RoutesPerPeer = new Map();
  private appliedSig: string | undefined;
  private failedSig: string | undefined;
  private inFlight = false;
  private retryTimer: TimerHandle | undefined;
  private stopped = false;
  private readonly backoff: Backoff;

  constructor(private readonly o: PeerApplierOptions) {
    this.backoff = new Backoff(o.retry ?? { initialMs: 1000, maxMs: 30_000, jitter: 0.25 });
  }

  /** The signature of the peers in force (undefined before any setPeers succeeded). */
  get applied(): string | undefined {
    return this.appliedSig;
  }

  /** `sig` identifies `specs` (equal signatures: nothing to change). */
  apply(sig: string, specs: readonly PeerSpec[], routes: RoutesPerPeer): void {
    this.wanted = { sig, specs };
    this.routes = routes;
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry();
  }

  private pump(): void {
    if (this.inFlight || this.stopped) return;
    const want = this.wanted;
    // The peers that failed wait for their retry; different ones are tried at once.
    const waiting = this.retryTimer !== undefined && want?.sig === this.failedSig;
    if (want?.sig === this.appliedSig && this.retryTimer !== undefined) {
      // Back to the peers in force: the failed ones are not wanted any more.
      this.cancelRetry();
      this.failedSig = undefined;
      this.backoff.succeed();
    }
    if (want && want.sig !== this.appliedSig && !waiting) {
      this.cancelRetry();
      this.inFlight = true;
      this.o.sessions.setPeers(want.specs).then(
        () => this.settled(want.sig, undefined),
        (err: unknown) => this.settled(want.sig, err instanceof Error ? err : new Error(String(err))),
      );
      return;
    }
    this.o.sessions.update(this.routes);
  }

  private settled(sig: string, err: Error | undefined): void {
    this.inFlight = false;
    if (this.stopped) return;
    if (err) {
      this.failedSig = sig;
      const retryInMs = this.backoff.fail();
      this.o.log.error(
        { err: err.message, attempt: this.backoff.failures, retryInMs: Math.round(retryInMs) },
        'BGP peers not applied; trying again',
      );
      this.retryTimer = this.o.clock.setTimer(() => {
        this.retryTimer = undefined;
        this.pump();
      }, retryInMs);
    } else {
      if (this.backoff.failures > 0)
        this.o.log.info({ attempts: this.backoff.failures + 1 }, 'BGP peers applied');
      this.appliedSig = sig;
      this.failedSig = undefined;
      this.backoff.succeed();
    }
    this.pump();
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) this.o.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
  }
}
