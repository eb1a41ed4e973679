// A tiny HTTP server: /metrics (Prometheus text), /healthz, /readyz. Shared by the controller and speaker.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  /** "host:port" ("[::1]:7472" for IPv6); port 0 = any free port. */
  bind: string;
  registry: Registry;
  /** Readiness (e.g. caches synced); liveness is "the event loop answers". */
  ready: () => boolean;
  /** Extra text for /readyz when not ready. */
  notReadyReason?: () => string;
}

export interface MetricsServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

export function parseBind(bind: string): { host: string; port: number } {
  const m = /^\[(.*)\]:(\d+)$/.exec(bind) ?? /^([^:]*):(\d+)$/.exec(bind);
  if (!m) throw new Error(`invalid bind address "${bind}": want host:port`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseBind(opts.bind);
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/metrics') {
      opts.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    } else if (url === '/healthz' || url === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      if (opts.ready()) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else
        res
          .writeHead(503, { 'content-type': 'text/plain' })
          .end(`not ready${opts.notReadyReason ? ': ' + opts.notReadyReason() : ''}\n`);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
