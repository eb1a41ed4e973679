// Publishes one ConfigurationState object: the newest status wins. One write at a time — two writes in
// flight (each a GET and a PATCH) can land in either order, and the older status would stay until the
// next change. A status asked for while one is being written is written next; a failed write is retried
// with backoff until it succeeds or a newer status replaces it.
import { Backoff } from './backoff.js';
import type { KubeClient } from './client.js';
import { Rerun } from './rerun.js';
import {
  writeConfigurationState,
  type ConfigurationStateSpec,
  type ConfigurationStateStatus,
} from './status.js';
import type { Clock, TimerHandle } from '../proto/clock.js';

export interface ConfigStatePublisherOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly spec: ConfigurationStateSpec;
  readonly clock: Clock;
  /** Told of each failed write (to log and count it); the write is retried after `retryInMs`. */
  readonly onError: (err: Error, retryInMs: number) => void;
}

interface Wanted {
  readonly status: ConfigurationStateStatus;
  readonly sig: string;
  /** Checked before each attempt (a controller writes only while it leads). */
  readonly allowed: () => boolean;
}

export class ConfigStatePublisher {
  private wanted: Wanted | undefined;
  private written = '';
  private retry: TimerHandle | undefined;
  private stopped = false;
  private readonly backoff = new Backoff({ initialMs: 1000, maxMs: 30_000, jitter: 0.25 });
  private readonly writes = new Rerun(
    () => this.write(),
    () => this.stopped,
  );

  constructor(private readonly o: ConfigStatePublisherOptions) {}

  /** Asks for `status` to be written; resolves when the round that writes it (or a newer one) ends. */
  publish(status: ConfigurationStateStatus, allowed: () => boolean = () => true): Promise<void> {
    this.wanted = { status, sig: signature(status), allowed };
    return this.writes.run();
  }

  /** What the object holds is unknown (e.g. a new leader): the next publish writes even an unchanged status. */
  forget(): void {
    this.written = '';
  }

  stop(): void {
    this.stopped = true;
    this.clearRetry();
  }

  private clearRetry(): void {
    if (this.retry !== undefined) this.o.clock.clearTimer(this.retry);
    this.retry = undefined;
  }

  private async write(): Promise<void> {
    const w = this.wanted;
    if (!w || this.stopped || w.sig === this.written || !w.allowed()) return;
    this.clearRetry();
    try {
      await writeConfigurationState(this.o.client, this.o.namespace, this.o.name, this.o.spec, w.status);
      this.written = w.sig;
      this.backoff.succeed();
    } catch (err) {
      if (this.stopped) return;
      const ms = this.backoff.fail();
      this.o.onError(err instanceof Error ? err : new Error(String(err)), ms);
      this.retry = this.o.clock.setTimer(() => {
        this.retry = undefined;
        this.writes
          .run()
          .catch((e: unknown) => this.o.onError(e instanceof Error ? e : new Error(String(e)), 0));
      }, ms);
    }
  }
}

/**
 * What makes two statuses the same write: everything but the conditions' lastTransitionTime (stamped
 * when the status is built, so a repeated verdict would otherwise be written again every second).
 */
function signature(status: ConfigurationStateStatus): string {
  const conditions = status.conditions?.map(({ lastTransitionTime: _t, ...c }) => c);
  return JSON.stringify({ ...status, conditions });
}
