// How lab hosts reach the apiserver without a link, route or NAT into the machine's namespace:
// in the machine's namespace a forwarder listens on a Unix socket and connects to the apiserver on
// loopback; inside each node a forwarder listens on 127.0.0.1:6443 and connects to that socket (the
// file system is shared, the network is not). The serving certificate covers 127.0.0.1.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ManagedProcess, waitFor } from './process.js';
import type { LabHost } from './hosts.js';
import { NODE_APISERVER_PORT } from './topology.js';

/** Starts `socat UNIX-LISTEN:<socket> → TCP:127.0.0.1:<port>` in the machine's namespace; resolves once it accepts. */
export async function startMachineForwarder(
  socket: string,
  apiserverPort: number,
  logDir: string,
): Promise<ManagedProcess> {
  rmSync(socket, { force: true });
  const proc = ManagedProcess.start(
    'socat',
    [`UNIX-LISTEN:${socket},fork,mode=600,unlink-early`, `TCP:127.0.0.1:${apiserverPort}`],
    { name: 'apiserver-forward', logFile: join(logDir, 'machine-apiserver-forward.log') },
  );
  await proc.whileRunning(
    waitFor(
      'apiserver forwarder socket',
      () =>
        existsSync(socket)
          ? new Promise<true | undefined>((resolve) => {
              const s = connect(socket, () => {
                s.destroy();
                resolve(true);
              });
              s.on('error', () => resolve(undefined));
            })
          : undefined,
      10_000,
      50,
    ),
  );
  return proc;
}

/**
 * Starts an in-node forwarder `bind`:6443 → the machine's Unix socket (default 127.0.0.1, for the
 * node's own processes); resolves once it listens.
 */
export async function startNodeForwarder(
  host: LabHost,
  socket: string,
  logDir: string,
  bind = '127.0.0.1',
): Promise<ManagedProcess> {
  const suffix = bind === '127.0.0.1' ? '' : `-${bind}`;
  const proc = host.spawn(
    'socat',
    [`TCP-LISTEN:${NODE_APISERVER_PORT},bind=${bind},fork,reuseaddr`, `UNIX-CONNECT:${socket}`],
    {
      name: `${host.name}/apiserver-forward${suffix}`,
      logFile: join(logDir, `${host.name}-apiserver-forward${suffix}.log`),
    },
  );
  await proc.whileRunning(
    waitFor(
      `${host.name} apiserver forwarder`,
      async () => {
        const r = await host.exec('ss', ['-Hltn', `sport = :${NODE_APISERVER_PORT}`]);
        return r.stdout.includes(`${bind}:${NODE_APISERVER_PORT}`) ? true : undefined;
      },
      10_000,
      50,
    ),
  );
  return proc;
}
