// The apiserver's way into the sealed lab, for what a cluster's apiserver dials itself: the kubelets
// (kubectl logs, exec, port-forward) and pods and Services through its proxy subresources (`kubectl get
// --raw /api/v1/namespaces/…/pods/…:7472/proxy/metrics`, what `bollard explain` reads). The apiserver's
// egress selector sends that "cluster" traffic as HTTP CONNECT to a Unix socket; this server answers it
// by running `socat` inside the lab host that owns the target (the node whose address or pod CIDR it
// is; any live node for a Service address) and splicing the two. No link, route or NAT joins the
// machine's namespace to the lab; only these connections, one at a time, cross.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { stringify } from 'yaml';
import { isIP } from 'node:net';

/** Which lab network namespace should dial a target address (undefined: refuse). */
export type EgressRoute = (host: string) => string | undefined;

/** The apiserver's --egress-selector-config-file: cluster traffic as HTTP CONNECT over `socket`. */
export function egressSelectorConfig(socket: string): string {
  return stringify({
    apiVersion: 'apiserver.k8s.io/v1beta1',
    kind: 'EgressSelectorConfiguration',
    egressSelections: [
      {
        name: 'cluster',
        connection: { proxyProtocol: 'HTTPConnect', transport: { uds: { udsName: socket } } },
      },
    ],
  });
}

export function writeEgressSelectorConfig(file: string, socket: string): void {
  writeFileSync(file, egressSelectorConfig(socket));
}

/** Splits `host:port` / `[v6]:port`. */
export function splitTarget(target: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[2]);
  const host = m[1] as string;
  if (!isIP(host) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export interface EgressProxy {
  close(): Promise<void>;
  /** Connections served so far. */
  readonly served: number;
}

/** Serves HTTP CONNECT on a Unix socket; each tunnel is a socat inside the namespace `route` names. */
export async function startEgressProxy(socket: string, route: EgressRoute): Promise<EgressProxy> {
  rmSync(socket, { force: true });
  let served = 0;
  const server = createServer((_req, res) => {
    res.writeHead(405).end('CONNECT only\n');
  });
  const open = new Set<Socket>();
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => undefined);
    const target = splitTarget(req.url ?? '');
    const ns = target ? route(target.host) : undefined;
    if (!target || !ns) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    served++;
    const addr = target.host.includes(':') ? `[${target.host}]` : target.host;
    const tunnel = spawn(
      'ip',
      ['netns', 'exec', ns, 'socat', 'STDIO', `TCP:${addr}:${target.port},connect-timeout=5`],
      {
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    );
    let established = false;
    tunnel.once('spawn', () => {
      established = true;
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) tunnel.stdin.write(head);
      client.pipe(tunnel.stdin);
      tunnel.stdout.pipe(client);
    });
    tunnel.stdin.on('error', () => undefined);
    tunnel.once('error', () => {
      if (!established) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      else client.destroy();
    });
    tunnel.once('exit', () => client.end());
    client.once('close', () => tunnel.kill('SIGKILL'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    get served() {
      return served;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
        rmSync(socket, { force: true });
      }),
  };
}
