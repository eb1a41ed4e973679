// A list-watch cache that does not lose events: paged list, watch from the list's resourceVersion with
// bookmarks, relist on 410 Gone, restart with backoff on any other error (client-node's own informer
// stops), a watchdog for silent stalls, and a periodic resync. After a relist, the difference between
// the old cache and the new list is delivered as add/update/delete, so a delete that happened while
// the watch was down still arrives. A listener that throws gets its event again (informer-delivery.ts).
import { EventEmitter } from 'node:events';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from './backoff.js';
import { ApiError, resourcePath, type KubeClient, type ResourceRef } from './client.js';
import { withoutForeignMetadata } from './projection.js';
import { ListenerDelivery, type InformerEvents, type ListenerFailure } from './informer-delivery.js';

export type { InformerEvents, ListenerFailure } from './informer-delivery.js';

/** What an informer needs of a client: list pages and watch streams (a KubeClient; a feed in tests). */
export type ListWatchClient = Pick<KubeClient, 'get' | 'watch'>;

export interface InformerOptions<T extends KubernetesObject = KubernetesObject> {
  resource: ResourceRef;
  /** Only this namespace (namespaced resources); default all. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size for lists (default 500). */
  pageSize?: number;
  /** Server-side watch timeout in seconds; each watch picks a value in [t, 2t) (default 300). */
  watchTimeoutSeconds?: number;
  /** Relist this often even when all is well (default 10 min; 0 = never). */
  resyncMs?: number;
  /** Backoff after errors: starts here, doubles, capped (defaults 200 ms, 10 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Called on every error the informer recovers from (for logs and metrics). */
  onError?: (err: Error) => void;
  /**
   * Called when a listener threw (the event is delivered to it again with backoff); default: a JSON
   * line on stderr. Counted in bollard_informer_listener_errors_total either way.
   */
  onListenerError?: (err: Error, failure: ListenerFailure) => void;
  /**
   * Applied to every object before it is cached, and what listeners get: a projection to the fields the
   * program reads (k8s/projection.ts). Default: drop metadata.managedFields and the annotations that
   * are not MetalLB's, which nothing in Bollard reads and which are most of a small object's size.
   */
  transform?: (obj: T) => T;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubernetesObject & { code?: number; message?: string; reason?: string };
}

interface ListResult<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/**
 * Whether an update changed what a configuration reader reads: the spec or the labels. Status writes
 * (the controller's IPAddressPool counts, every second under load) and metadata bookkeeping do not.
 */
export function specOrLabelsChanged(
  obj: { metadata?: { labels?: Record<string, string> }; spec?: unknown },
  old: { metadata?: { labels?: Record<string, string> }; spec?: unknown },
): boolean {
  return (
    JSON.stringify(obj.spec ?? null) !== JSON.stringify(old.spec ?? null) ||
    JSON.stringify(obj.metadata?.labels ?? {}) !== JSON.stringify(old.metadata?.labels ?? {})
  );
}

export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** The default report of a listener that threw: one JSON line on stderr. */
function listenerErrorToStderr(err: Error, f: ListenerFailure): void {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', ...f, err: err.message, msg: 'informer listener failed; the event is retried' })}\n`,
  );
}

export class Informer<T extends KubernetesObject> extends EventEmitter<InformerEvents<T>> {
  private readonly store = new Map<string, T>();
  private readonly transform: (obj: T) => T;
  private resourceVersion = '';
  private running = false;
  private abortWatch: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private readonly backoff: Backoff;
  private readonly delivery: ListenerDelivery<T>;
  private lastActivity = Date.now();
  private lastList = 0;
  private syncedOnce = false;
  private loopDone: Promise<void> | undefined;
  private firstSync: { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> };
  /** How many times the informer relisted (initial list included). */
  lists = 0;
  /** How many watches it opened. */
  watches = 0;

  constructor(
    private readonly client: ListWatchClient,
    private readonly opts: InformerOptions<T>,
  ) {
    super();
    this.transform = opts.transform ?? withoutForeignMetadata;
    const backoff = { initialMs: opts.backoffInitialMs ?? 200, maxMs: opts.backoffMaxMs ?? 10_000 };
    this.backoff = new Backoff(backoff);
    this.delivery = new ListenerDelivery<T>({
      resource: opts.resource.plural,
      emitter: this,
      current: (key) => this.store.get(key),
      onError: opts.onListenerError ?? listenerErrorToStderr,
      backoff,
    });
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined);
    this.firstSync = { resolve, reject, promise };
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** Starts list+watch; resolves after the first list is in the cache. */
  async start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      this.delivery.resume();
      this.loopDone = this.loop();
    }
    return this.firstSync.promise;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.delivery.stop();
    this.abortWatch?.();
    this.wake?.();
    await this.loopDone;
  }

  list(): T[] {
    return [...this.store.values()];
  }

  get(namespaceOrName: string, name?: string): T | undefined {
    return this.store.get(name === undefined ? namespaceOrName : `${namespaceOrName}/${name}`);
  }

  get size(): number {
    return this.store.size;
  }

  /** Events a listener threw on and has not taken yet (they are retried with backoff). */
  get pendingDeliveries(): number {
    return this.delivery.pending;
  }

  /** Forces a relist at the next opportunity (e.g. after a suspected gap). */
  resync(): void {
    this.resourceVersion = '';
    this.abortWatch?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const resyncDue =
          (this.opts.resyncMs ?? 600_000) > 0 && Date.now() - this.lastList > (this.opts.resyncMs ?? 600_000);
        if (!this.resourceVersion || resyncDue) await this.relist();
        if (!this.running) break;
        await this.watchOnce();
        this.backoff.succeed();
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        if (e instanceof ApiError && e.gone) this.resourceVersion = '';
        this.opts.onError?.(e);
        if (!this.running) break;
        await this.sleep(this.backoff.fail());
      }
    }
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async relist(): Promise<void> {
    const path = resourcePath(this.opts.resource, this.opts.namespace);
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page: ListResult<T> = await this.client.get<ListResult<T>>(path, {
        limit: this.opts.pageSize ?? 500,
        continue: cont,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
      });
      for (const item of page.items) fresh.set(objectKey(item), this.transform(item));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    const old = new Map(this.store);
    this.store.clear();
    for (const [k, v] of fresh) this.store.set(k, v);
    this.resourceVersion = rv;
    this.lastList = Date.now();
    this.lists++;
    for (const [k, v] of fresh) {
      const prev = old.get(k);
      if (!prev) this.delivery.add(k, v);
      else if (prev.metadata?.resourceVersion !== v.metadata?.resourceVersion)
        this.delivery.update(k, v, prev);
    }
    for (const [k, v] of old) if (!fresh.has(k)) this.delivery.delete(k, v);
    this.syncedOnce = true;
    this.firstSync.resolve();
    this.delivery.synced();
  }

  private apply(ev: WatchEvent): void {
    if (ev.type === 'BOOKMARK') {
      const bookmarkRv = ev.object.metadata?.resourceVersion;
      if (bookmarkRv) this.resourceVersion = bookmarkRv;
      return;
    }
    const obj = this.transform(ev.object as T);
    const rv = obj.metadata?.resourceVersion;
    const key = objectKey(obj);
    const prev = this.store.get(key);
    if (ev.type === 'DELETED') {
      this.store.delete(key);
      this.delivery.delete(key, prev ?? obj);
    } else if (prev) {
      this.store.set(key, obj);
      if (prev.metadata?.resourceVersion !== rv) this.delivery.update(key, obj, prev);
    } else {
      this.store.set(key, obj);
      this.delivery.add(key, obj);
    }
    if (rv) this.resourceVersion = rv;
  }

  /** One watch, until the server closes it, an error, a stall, or stop(). Throws to ask for a backoff. */
  private async watchOnce(): Promise<void> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(base + Math.random() * base);
    const controller = new AbortController();
    let failure: Error | undefined;
    this.watches++;
    this.lastActivity = Date.now();
    const finish = (err?: Error): void => {
      if (controller.signal.aborted) return;
      if (err) failure = err;
      controller.abort();
    };
    this.abortWatch = () => finish();
    // A watch that says nothing for longer than its own timeout plus slack has stalled silently.
    const stallMs = (timeoutSeconds + 30) * 1000;
    const watchdog = setInterval(
      () => {
        if (Date.now() - this.lastActivity > stallMs) finish(new Error(`watch stalled for ${stallMs} ms`));
      },
      Math.min(stallMs, 5000),
    );
    try {
      await this.client.watch(
        resourcePath(this.opts.resource, this.opts.namespace),
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        (line) => {
          this.lastActivity = Date.now();
          const object = line.object as WatchEvent['object'];
          if (line.type === 'ERROR') {
            throw new ApiError(
              'WATCH',
              this.opts.resource.plural,
              object.code ?? 0,
              object.reason ?? '',
              object.message ?? '',
            );
          }
          // What apply throws ends this watch; the next one starts from the last event applied, so this
          // one comes again.
          this.apply({ type: line.type as WatchEvent['type'], object });
        },
        controller.signal,
      );
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    } finally {
      clearInterval(watchdog);
      controller.abort();
      this.abortWatch = undefined;
    }
    if (failure) throw failure;
  }
}
