// A BgpSpeaker without Kubernetes: peers and routes from a JSON file. Used by the end-to-end tests and
// the benchmark (run inside a node's network namespace), and handy for trying a router config.
//   node dist/speaker/bgp/standalone.js FILE
// FILE: { nodeName, nodeIPv4?, nodeIPv6?, listenPort?, restarted?, preserveGracefulRestart?,
//         peers: PeerSpec[], routes: { [peer]: ExportedRoute[] } }
// A peer with `interface` and an empty peerAddress is unnumbered (speaker/bgp/unnumbered.ts).
// SIGHUP re-reads FILE (peers and routes); SIGUSR1 prints a status line (sessions, counters, RSS,
// CPU); SIGTERM/SIGINT shut down (Cease / Administrative Shutdown,
// or a silent close towards graceful-restart peers when preserveGracefulRestart) and exit.
// Logs JSON lines on stdout; a line {"msg":"status",...} is printed on every session state change.
import { readFileSync } from 'node:fs';
import { BgpSpeaker, type PeerSpec } from './speaker.js';
import type { ExportedRoute, Log } from './types.js';
import { UnnumberedDiscovery } from './unnumbered.js';

interface StandaloneFile {
  nodeName: string;
  nodeIPv4?: string;
  nodeIPv6?: string;
  listenPort?: number;
  restarted?: boolean;
  preserveGracefulRestart?: boolean;
  peers: PeerSpec[];
  routes: Record<string, ExportedRoute[]>;
}

function line(level: string, fields: Record<string, unknown>, msg: string): void {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), ...fields, msg })}\n`);
}

const log: Log = {
  debug: () => undefined,
  info: (f, m) => line('info', f, m),
  warn: (f, m) => line('warn', f, m),
  error: (f, m) => line('error', f, m),
};

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: standalone FILE');
  const read = (): StandaloneFile => JSON.parse(readFileSync(file, 'utf8')) as StandaloneFile;
  let cfg = read();
  const speaker = new BgpSpeaker({
    nodeName: cfg.nodeName,
    ...(cfg.nodeIPv4 ? { nodeIPv4: cfg.nodeIPv4 } : {}),
    ...(cfg.nodeIPv6 ? { nodeIPv6: cfg.nodeIPv6 } : {}),
    ...(cfg.listenPort !== undefined ? { listenPort: cfg.listenPort } : {}),
    restarted: cfg.restarted === true,
    log,
  });
  // Peers with `interface` and no peerAddress are unnumbered: they start once their address is learned.
  let applying = Promise.resolve();
  const unnumbered = new UnnumberedDiscovery({
    log,
    onChange: () => {
      applying = applying
        .then(apply)
        .catch((e: unknown) =>
          line('error', { err: e instanceof Error ? e.message : String(e) }, 'cannot apply the peers'),
        );
    },
  });
  const apply = async (): Promise<void> => {
    const ifaces = cfg.peers.flatMap((p) => (!p.peerAddress && p.interface ? [p.interface] : []));
    unnumbered.setInterfaces(ifaces);
    const peers = cfg.peers.flatMap((p) => {
      if (p.peerAddress || !p.interface) return [p];
      const a = unnumbered.peerAddress(p.interface);
      return a ? [{ ...p, peerAddress: a, dualStack: true }] : [];
    });
    await speaker.setPeers(peers);
    speaker.update(new Map(Object.entries(cfg.routes)));
  };
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    unnumbered.stop();
    const t0 = performance.now();
    const done = (err?: unknown): void => {
      if (err !== undefined)
        line('error', { err: err instanceof Error ? err.message : String(err) }, 'shutdown failed');
      line('info', { signal: sig, ms: Math.round(performance.now() - t0) }, 'shut down');
      // Let the kernel send what was written (NOTIFICATIONs) before the process goes.
      setTimeout(() => process.exit(err === undefined ? 0 : 1), 20);
    };
    speaker
      .shutdown({ preserveGracefulRestart: cfg.preserveGracefulRestart === true })
      .then(() => done(), done);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      cfg = read();
      apply().catch((e: unknown) =>
        line(
          'error',
          { err: e instanceof Error ? e.message : String(e) },
          'cannot apply the reloaded configuration',
        ),
      );
    } catch (e) {
      line('error', { err: e instanceof Error ? e.message : String(e) }, 'cannot reload');
    }
  });
  process.on('SIGUSR1', () => {
    const peers = speaker.status().map((p) => ({ ...p, counters: speaker.session(p.name)?.counters }));
    line('info', { peers, rss: process.memoryUsage().rss, cpu: process.cpuUsage() }, 'status');
  });
  await apply();
  line('info', {}, 'ready');
}

main().catch((e: unknown) => {
  line('error', { err: e instanceof Error ? e.message : String(e) }, 'standalone speaker failed');
  process.exit(1);
});
