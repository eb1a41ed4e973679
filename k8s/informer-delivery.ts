// How an informer hands its events to its listeners. What a listener throws must not end the watch
// (the watch callback would stop the stream and restart it from the last event): each listener is called
// on its own, one that throws does not keep the event from the others, and the failure is counted
// (bollard_informer_listener_errors_total{resource}), reported with the object, and the event is
// delivered to that listener again with backoff until it takes it. Later events for the same object
// fold into the one waiting: the retry carries the cache's current object (an add or update of an
// object deleted meanwhile is dropped; its delete reaches the delete listeners).
import type { EventEmitter } from 'node:events';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import { Backoff, type BackoffPolicy } from './backoff.js';

export interface InformerEvents<T> {
  add: [obj: T];
  update: [obj: T, old: T];
  delete: [obj: T];
  /** A list (initial or relist) has been applied to the cache. */
  synced: [];
}

export type InformerEventName = keyof InformerEvents<unknown>;

/** A listener threw: what it was given, and when it gets it again. */
export interface ListenerFailure {
  /** The informer's resource (plural). */
  readonly resource: string;
  readonly event: InformerEventName;
  /** The object the event was about (none for `synced`). */
  readonly object?: { kind: string; namespace?: string; name: string };
  readonly retryInMs: number;
}

/** Every listener error of every informer in this process (registered by each program's metrics). */
export const informerListenerErrors = new Counter({
  name: 'bollard_informer_listener_errors_total',
  help: 'Exceptions thrown by informer event listeners, by resource (the event is delivered to the listener again).',
  labelNames: ['resource'] as const,
  registers: [],
});

/** The report both programs use: an error line naming the resource, the event and the object. */
export function logListenerError(log: {
  error(fields: Record<string, unknown>, msg: string): void;
}): (err: Error, failure: ListenerFailure) => void {
  return (err, f) =>
    log.error(
      { ...f, err: err.message, stack: err.stack },
      `a ${f.resource} ${f.event} listener failed; delivering the event again in ${Math.round(f.retryInMs)} ms`,
    );
}

/** A failed event as it waits for its retry. */
interface Waiting<T> {
  obj?: T;
  old?: T;
}

type Listener = (...args: unknown[]) => void;

export interface DeliveryOptions<T extends KubernetesObject> {
  readonly resource: string;
  readonly emitter: EventEmitter<InformerEvents<T>>;
  /** The cache's object for a key now (the retry delivers it, not the stale one). */
  readonly current: (key: string) => T | undefined;
  readonly onError: (err: Error, failure: ListenerFailure) => void;
  readonly backoff: BackoffPolicy;
}

export class ListenerDelivery<T extends KubernetesObject> {
  /** event -> listener -> object key ('' for synced) -> what it still has to get */
  private readonly waiting = new Map<InformerEventName, Map<Listener, Map<string, Waiting<T>>>>();
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private retryInMs = 0;
  private stopped = false;

  constructor(private readonly o: DeliveryOptions<T>) {
    this.backoff = new Backoff(o.backoff);
  }

  /** Events still to be taken by a listener that threw. */
  get pending(): number {
    let n = 0;
    for (const byListener of this.waiting.values()) for (const byKey of byListener.values()) n += byKey.size;
    return n;
  }

  add(key: string, obj: T): void {
    this.deliver('add', key, { obj });
  }

  update(key: string, obj: T, old: T): void {
    this.deliver('update', key, { obj, old });
  }

  delete(key: string, obj: T): void {
    this.deliver('delete', key, { obj });
  }

  synced(): void {
    this.deliver('synced', '', {});
  }

  /** No more retries until resume() (the informer stopped). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.stopped = false;
    if (this.pending > 0) this.schedule();
  }

  private listeners(event: InformerEventName): Listener[] {
    return (this.o.emitter as EventEmitter).rawListeners(event) as Listener[];
  }

  private deliver(event: InformerEventName, key: string, ev: Waiting<T>): void {
    const byListener = this.waiting.get(event);
    for (const l of this.listeners(event)) {
      const w = byListener?.get(l)?.get(key);
      if (w) {
        // This listener has not taken an earlier event for the object: the retry brings it this one.
        if (event === 'delete') w.obj = ev.obj;
        continue;
      }
      this.call(event, l, key, ev);
    }
  }

  /** Calls one listener; on an exception, counts, reports and keeps the event for a retry. */
  private call(event: InformerEventName, l: Listener, key: string, ev: Waiting<T>): void {
    try {
      if (event === 'synced') l();
      else if (event === 'update') l(ev.obj, ev.old);
      else l(ev.obj);
    } catch (thrown) {
      const err = thrown instanceof Error ? thrown : new Error(String(thrown));
      let byListener = this.waiting.get(event);
      if (!byListener) this.waiting.set(event, (byListener = new Map()));
      let byKey = byListener.get(l);
      if (!byKey) byListener.set(l, (byKey = new Map()));
      byKey.set(key, { ...ev });
      this.schedule();
      informerListenerErrors.inc({ resource: this.o.resource });
      const obj = ev.obj;
      this.o.onError(err, {
        resource: this.o.resource,
        event,
        ...(obj
          ? {
              object: {
                kind: obj.kind ?? this.o.resource,
                ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
                name: obj.metadata?.name ?? '',
              },
            }
          : {}),
        retryInMs: this.retryInMs,
      });
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.retryInMs = this.backoff.fail();
    this.timer = setTimeout(() => this.retry(), this.retryInMs);
  }

  private retry(): void {
    this.timer = undefined;
    const due: [InformerEventName, Listener, string, Waiting<T>][] = [];
    for (const [event, byListener] of this.waiting)
      for (const [l, byKey] of byListener) for (const [key, w] of byKey) due.push([event, l, key, w]);
    this.waiting.clear();
    for (const [event, l, key, w] of due) {
      // A listener removed meanwhile (off, or a once listener, which is removed as it is called) is
      // not called again.
      if (!this.listeners(event).includes(l)) continue;
      const fresh = this.fresh(event, key, w);
      if (fresh) this.call(event, l, key, fresh);
    }
    if (this.pending === 0) this.backoff.succeed();
  }

  /** The event as the listener should get it now, from the cache; undefined when it has nothing left to say. */
  private fresh(event: InformerEventName, key: string, w: Waiting<T>): Waiting<T> | undefined {
    if (event === 'synced' || event === 'delete') return w;
    const now = this.o.current(key);
    if (!now) return undefined;
    return event === 'update' ? { obj: now, ...(w.old ? { old: w.old } : {}) } : { obj: now };
  }
}
