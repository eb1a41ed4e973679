// A thin REST client over node:http(s): typed errors, keep-alive connections, merge/JSON/apply patches,
// and watches streamed line by line. Where the apiserver is and how to authenticate comes from
// kubeconfig.ts (in-cluster ServiceAccount, kubeconfig files) as plain data; a kubeconfig that needs
// exec or auth-provider plugins or a proxy is applied by @kubernetes/client-node's KubeConfig, imported
// only then (it costs ~70 MiB to load; see docs/benchmarks.md, "Speaker memory").
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { defaultAccess, fromKubeconfigFiles, MaterialCache, type ClusterAccess } from './kubeconfig.js';

/** Something the apiserver refused or could not answer: `status` is the HTTP code (0 = no answer). */
export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    readonly apiMessage: string,
  ) {
    super(
      `${method} ${path}: ${status === 0 ? 'no answer' : status} ${reason}${apiMessage ? ': ' + apiMessage : ''}`,
    );
    this.name = 'ApiError';
  }
  get notFound(): boolean {
    return this.status === 404;
  }
  get conflict(): boolean {
    return this.status === 409;
  }
  get gone(): boolean {
    return this.status === 410;
  }
  get forbidden(): boolean {
    return this.status === 403;
  }
  /** Worth retrying later: no answer, throttled, or a server-side failure. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestInit {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface StatusObject {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/**
 * What KubeClient needs of @kubernetes/client-node's KubeConfig (the `bollard explain` CLI passes one, and
 * a kubeconfig with exec/auth-provider/proxy is loaded into one).
 */
export interface KubeConfigLike {
  getCurrentCluster(): { server: string; proxyUrl?: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

function isKubeConfigLike(x: ClusterAccess | KubeConfigLike): x is KubeConfigLike {
  return typeof (x as KubeConfigLike).applyToHTTPSOptions === 'function';
}

/** @kubernetes/client-node's KubeConfig for the files and context a ClusterAccess delegates. */
async function libraryConfig(files: readonly string[], context: string): Promise<KubeConfigLike> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  files.forEach((f, i) => {
    if (i === 0) kc.loadFromFile(f);
    else {
      const more = new KubeConfig();
      more.loadFromFile(f);
      kc.mergeConfig(more);
    }
  });
  kc.setCurrentContext(context);
  return kc;
}

/** One event of a watch stream as the apiserver sends it. */
export interface WatchLine {
  type: string;
  object: Record<string, unknown>;
}

export class KubeClient {
  readonly server: string;
  private readonly agent: HttpsAgent | HttpAgent;
  /** Watches hold their connection for minutes: a pool of their own, so that they never queue requests. */
  private readonly watchAgent: HttpsAgent | HttpAgent;
  /** false when the kubeconfig names a proxy: the library's proxy agent is used as it is. */
  private readonly pooled: boolean;
  private readonly seen = new WeakSet<Socket>();
  private readonly files = new MaterialCache();
  private library: Promise<KubeConfigLike> | undefined;
  private opened = 0;

  /** From kubeconfig.ts's plain data (the programs), or a client-node KubeConfig (the explain CLI). */
  constructor(private readonly source: ClusterAccess | KubeConfigLike) {
    let proxied = false;
    if (isKubeConfigLike(source)) {
      const cluster = source.getCurrentCluster();
      if (!cluster) throw new ApiError('CONFIG', '', 0, 'no current cluster in kubeconfig', '');
      this.server = cluster.server.replace(/\/$/, '');
      proxied = !!cluster.proxyUrl;
    } else {
      this.server = source.server;
      proxied = source.delegate !== undefined;
    }
    const pool = { keepAlive: true, maxSockets: 64 };
    const http = this.server.startsWith('http:');
    this.agent = http ? new HttpAgent(pool) : new HttpsAgent(pool);
    this.watchAgent = http ? new HttpAgent({ keepAlive: true }) : new HttpsAgent({ keepAlive: true });
    this.pooled = !proxied;
  }

  /** Connections this client has opened so far (for tests and diagnostics). */
  get connectionsOpened(): number {
    return this.opened;
  }

  static fromFile(path: string): KubeClient {
    return new KubeClient(fromKubeconfigFiles([path]));
  }

  /** From a kubeconfig path, else $KUBECONFIG / ~/.kube/config, else in-cluster (kubeconfig.ts). */
  static load(kubeconfigPath?: string): KubeClient {
    return new KubeClient(kubeconfigPath ? fromKubeconfigFiles([kubeconfigPath]) : defaultAccess());
  }

  url(path: string, query?: RequestInit['query']): URL {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /** Puts the TLS material and the credentials on a request's options. */
  private async authorize(
    opts: RequestOptions & { headers: Record<string, string | number> },
  ): Promise<void> {
    const a = this.source;
    if (isKubeConfigLike(a)) return this.applyLibrary(a, opts);
    if (a.delegate) {
      this.library ??= libraryConfig(a.delegate.files, a.delegate.context);
      return this.applyLibrary(await this.library, opts);
    }
    const ca = this.files.read(a.ca);
    if (ca) opts.ca = ca;
    const cert = this.files.read(a.cert);
    if (cert) opts.cert = cert;
    const key = this.files.read(a.key);
    if (key) opts.key = key;
    if (a.insecureSkipTLSVerify) opts.rejectUnauthorized = false;
    if (a.tlsServerName) opts.servername = a.tlsServerName;
    const token = this.files.read(a.token)?.toString('utf8').trim();
    if (token) opts.headers.authorization = `Bearer ${token}`;
    else if (a.username !== undefined && a.password !== undefined)
      opts.headers.authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
  }

  private async applyLibrary(library: KubeConfigLike, opts: RequestOptions): Promise<void> {
    const agent = opts.agent;
    await library.applyToHTTPSOptions(opts);
    // applyToHTTPSOptions puts a new Agent of its own on every request: a new connection and TLS
    // handshake per request, never reused and without any limit (thousands at once under load).
    // Ours pools them; the TLS material it set (ca, cert, key, servername, …) stays on the options.
    if (this.pooled) opts.agent = agent;
  }

  /** Sends one request; resolves with the response (its body not read yet). */
  private async open(
    method: string,
    path: string,
    init: RequestInit,
    accept: string,
    agent: HttpsAgent | HttpAgent,
  ): Promise<IncomingMessage> {
    const u = this.url(path, init.query);
    const payload =
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body);
    const headers: Record<string, string | number> = { accept };
    if (payload !== undefined) {
      headers['content-type'] = init.contentType ?? 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const opts: RequestOptions & { headers: Record<string, string | number> } = {
      method,
      agent,
      headers,
      ...(init.timeoutMs !== 0 ? { timeout: init.timeoutMs ?? 30_000 } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    };
    try {
      await this.authorize(opts);
    } catch (err) {
      throw new ApiError(method, path, 0, `credentials: ${(err as Error).message}`, '');
    }
    const transport = u.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = transport(u, opts, resolve);
      req.on('socket', (sock: Socket) => {
        if (this.seen.has(sock)) return;
        this.seen.add(sock);
        this.opened++;
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => reject(new ApiError(method, path, 0, err.message, '')));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** One request: the status and the body as text (errors of the transport become ApiError status 0). */
  private async send(
    method: string,
    path: string,
    init: RequestInit,
    accept: string,
  ): Promise<{ status: number; statusMessage: string; text: string }> {
    const res = await this.open(method, path, init, accept, this.agent);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(new ApiError(method, path, 0, err.message, '')));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
  }

  private static failure(method: string, path: string, status: number, statusMessage: string, text: string) {
    let st: StatusObject = {};
    try {
      st = JSON.parse(text) as StatusObject;
    } catch {
      // not a Status object
    }
    return new ApiError(method, path, status, st.reason ?? statusMessage, st.message ?? text.slice(0, 200));
  }

  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const { status, statusMessage, text } = await this.send(method, path, init, 'application/json');
    if (status >= 200 && status < 300) {
      try {
        return (text ? JSON.parse(text) : {}) as T;
      } catch {
        throw new ApiError(method, path, status, 'unparseable response', text.slice(0, 200));
      }
    }
    throw KubeClient.failure(method, path, status, statusMessage, text);
  }

  /**
   * A watch (`?watch=true`): calls `onEvent` for every line the apiserver sends, in order. Resolves when
   * the server ends the stream or `signal` aborts it; rejects with an ApiError when the apiserver refuses
   * the watch, the connection fails, or a line is not JSON. What onEvent throws ends the watch the same way.
   */
  async watch(
    path: string,
    query: RequestInit['query'],
    onEvent: (ev: WatchLine) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const init: RequestInit = { query: { ...query, watch: true }, timeoutMs: 0, signal };
    let res: IncomingMessage;
    try {
      res = await this.open('GET', path, init, 'application/json', this.watchAgent);
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const { text } = await new Promise<{ text: string }>((resolve) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
        res.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
      });
      throw KubeClient.failure('WATCH', path, status, res.statusMessage ?? '', text);
    }
    res.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      let rest = '';
      let done = false;
      const end = (err?: Error): void => {
        if (done) return;
        done = true;
        if (err && !signal.aborted) {
          res.destroy();
          reject(err);
        } else {
          if (!res.complete) res.destroy();
          resolve();
        }
      };
      res.on('data', (chunk: string) => {
        if (done) return;
        rest += chunk;
        let nl = rest.indexOf('\n');
        while (nl >= 0 && !done) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          nl = rest.indexOf('\n');
          if (line === '') continue;
          let ev: WatchLine;
          try {
            ev = JSON.parse(line) as WatchLine;
          } catch {
            end(new ApiError('WATCH', path, status, 'unparseable event', line.slice(0, 200)));
            return;
          }
          try {
            onEvent(ev);
          } catch (err) {
            end(err instanceof Error ? err : new Error(String(err)));
          }
        }
      });
      res.on('end', () => end());
      res.on('close', () => end());
      res.on('error', (err) => end(new ApiError('WATCH', path, 0, err.message, '')));
    });
  }

  /** GET a non-JSON body (e.g. a pod's /metrics through the apiserver's proxy subresource). */
  async getText(path: string, timeoutMs = 10_000): Promise<string> {
    const { status, statusMessage, text } = await this.send('GET', path, { timeoutMs }, '*/*');
    if (status >= 200 && status < 300) return text;
    throw new ApiError('GET', path, status, statusMessage, text.slice(0, 200));
  }

  get<T>(path: string, query?: RequestInit['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  create<T>(path: string, body: unknown, query?: RequestInit['query']): Promise<T> {
    return this.request<T>('POST', path, { body, query });
  }

  replace<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  patch<T>(path: string, body: unknown, type: PatchType = 'merge', query?: RequestInit['query']): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: PATCH_CONTENT_TYPES[type], query });
  }

  delete<T>(path: string, query?: RequestInit['query']): Promise<T> {
    return this.request<T>('DELETE', path, { query });
  }

  /** Releases keep-alive sockets. */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}

/** Where a resource lives: `/api/v1` for the core group, `/apis/GROUP/VERSION` otherwise. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

export function resourcePath(
  ref: ResourceRef,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  const sub = name && subresource ? `/${subresource}` : '';
  return `${base}${ns}/${ref.plural}${n}${sub}`;
}

/** The resources Bollard reads and writes. */
export const RESOURCES = {
  services: { group: '', version: 'v1', plural: 'services', namespaced: true },
  endpointSlices: { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
  nodes: { group: '', version: 'v1', plural: 'nodes', namespaced: false },
  namespaces: { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  secrets: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  events: { group: 'events.k8s.io', version: 'v1', plural: 'events', namespaced: true },
  coreEvents: { group: '', version: 'v1', plural: 'events', namespaced: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  configMaps: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
} as const satisfies Record<string, ResourceRef>;
