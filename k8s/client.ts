// A thin REST client over @kubernetes/client-node's KubeConfig (which loads kubeconfig files,
// in-cluster tokens and certificates): typed errors, keep-alive connections, merge/JSON/apply patches.
import type { Socket } from 'node:net';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

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

export class KubeClient {
  readonly server: string;
  private readonly agent: HttpsAgent | HttpAgent;
  /** false when the kubeconfig names a proxy: the library's proxy agent is used as it is. */
  private readonly pooled: boolean;
  private readonly seen = new WeakSet<Socket>();
  private opened = 0;

  constructor(readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new ApiError('CONFIG', '', 0, 'no current cluster in kubeconfig', '');
    this.server = cluster.server.replace(/\/$/, '');
    const pool = { keepAlive: true, maxSockets: 64 };
    this.agent = this.server.startsWith('http:') ? new HttpAgent(pool) : new HttpsAgent(pool);
    this.pooled = !cluster.proxyUrl;
  }

  /** Connections this client has opened so far (for tests and diagnostics). */
  get connectionsOpened(): number {
    return this.opened;
  }

  static fromFile(path: string): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return new KubeClient(kc);
  }

  /** From a kubeconfig path, else in-cluster, else $KUBECONFIG / ~/.kube/config. */
  static load(kubeconfigPath?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  url(path: string, query?: RequestInit['query']): URL {
    const u = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /** One request: the status and the body as text (errors of the transport become ApiError status 0). */
  private async send(
    method: string,
    path: string,
    init: RequestInit,
    accept: string,
  ): Promise<{ status: number; statusMessage: string; text: string }> {
    const u = this.url(path, init.query);
    const payload =
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body);
    const opts: RequestOptions = {
      method,
      agent: this.agent,
      headers: {
        accept,
        ...(payload === undefined
          ? {}
          : {
              'content-type': init.contentType ?? 'application/json',
              'content-length': Buffer.byteLength(payload),
            }),
      },
      timeout: init.timeoutMs ?? 30_000,
      signal: init.signal,
    };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    // applyToHTTPSOptions puts a new Agent of its own on every request: a new connection and TLS
    // handshake per request, never reused and without any limit (thousands at once under load).
    // Ours pools them; the TLS material it set (ca, cert, key, servername, …) stays on the options.
    if (this.pooled) opts.agent = this.agent;
    const transport = u.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = transport(u, opts, (res) => {
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

  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const { status, statusMessage, text } = await this.send(method, path, init, 'application/json');
    if (status >= 200 && status < 300) {
      try {
        return (text ? JSON.parse(text) : {}) as T;
      } catch {
        throw new ApiError(method, path, status, 'unparseable response', text.slice(0, 200));
      }
    }
    let st: StatusObject = {};
    try {
      st = JSON.parse(text) as StatusObject;
    } catch {
      // not a Status object
    }
    throw new ApiError(method, path, status, st.reason ?? statusMessage, st.message ?? text.slice(0, 200));
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
