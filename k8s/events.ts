// Events (events.k8s.io/v1) with in-process de-duplication: a repeat of the same reason and note about the
// same object within the window bumps the existing Event's series instead of creating a new one.
import { randomBytes } from 'node:crypto';
import { wallClock, type Clock } from '../proto/clock.js';
import { resourcePath, RESOURCES, type KubeClient } from './client.js';

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** reportingController, e.g. "metallb-controller". */
  controller: string;
  /** reportingInstance, e.g. the pod name. */
  instance: string;
  /** Same event within this window is folded into a series (default 10 min). */
  windowMs?: number;
  onError?: (err: Error, ev: { reason: string; regarding: ObjectReference }) => void;
  /** Called after each Event is written (for metrics/tests). */
  onEmit?: (ev: { type: EventType; reason: string; note: string; regarding: ObjectReference }) => void;
  /** Event times are written to the API: wall time (default wallClock). */
  clock?: Clock;
}

interface Recent {
  name: string;
  namespace: string;
  count: number;
  at: number;
}

export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class EventRecorder {
  private readonly recent = new Map<string, Recent>();
  private lastPrune = Number.NEGATIVE_INFINITY;
  private readonly windowMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: EventRecorderOptions,
  ) {
    this.windowMs = opts.windowMs ?? 600_000;
    this.clock = opts.clock ?? wallClock;
  }

  /** Records an Event; never throws (failures go to onError). */
  async emit(
    regarding: ObjectReference,
    type: EventType,
    reason: string,
    note: string,
    action = reason,
  ): Promise<void> {
    const namespace = regarding.namespace || 'default';
    const text = note.length > 1000 ? note.slice(0, 997) + '...' : note;
    const key = `${regarding.kind}|${namespace}|${regarding.name}|${regarding.uid ?? ''}|${type}|${reason}|${text}`;
    const now = this.clock.now();
    this.prune(now);
    try {
      const prev = this.recent.get(key);
      if (prev && now - prev.at < this.windowMs) {
        prev.count++;
        prev.at = now;
        await this.client.patch(resourcePath(RESOURCES.events, prev.namespace, prev.name), {
          series: { count: prev.count, lastObservedTime: microTime(now) },
        });
      } else {
        const name = `${regarding.name}.${now.toString(16)}${randomBytes(3).toString('hex')}`.slice(0, 253);
        await this.client.create(resourcePath(RESOURCES.events, namespace), {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name, namespace },
          eventTime: microTime(now),
          reportingController: this.opts.controller,
          reportingInstance: this.opts.instance.slice(0, 128),
          action: action.slice(0, 128),
          reason,
          note: text,
          type,
          regarding: { ...regarding, namespace: regarding.namespace },
        });
        this.recent.set(key, { name, namespace, count: 1, at: now });
      }
      this.opts.onEmit?.({ type, reason, note: text, regarding });
    } catch (err) {
      // The series target may have expired on the server: start over next time.
      this.recent.delete(key);
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)), { reason, regarding });
    }
  }

  /** Drops expired entries once the map is large, at most once a second (a scan per Event was O(n²)). */
  private prune(now: number): void {
    if (this.recent.size < 10_000 || now - this.lastPrune < 1000) return;
    this.lastPrune = now;
    for (const [k, r] of this.recent) if (now - r.at >= this.windowMs) this.recent.delete(k);
  }
}
