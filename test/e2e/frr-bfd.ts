// FRR's BFD daemon (bfdd, with the zebra it needs for interfaces: its echo goes out through an
// AF_PACKET socket on the interface zebra names) in a netns host, every socket and pid file in a
// private folder so runs in other namespaces do not meet. For the BFD echo test and bench.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Host } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';

export interface FrrBfd {
  readonly zebra: ManagedProcess;
  readonly bfdd: ManagedProcess;
  /** Runs vtysh commands; resolves with stdout. */
  cli(...commands: string[]): Promise<string>;
  /** `show bfd peer X json` (undefined while bfdd does not list it). */
  peer(address: string): Promise<FrrBfdPeer | undefined>;
  /** `show bfd peer X counters json`. */
  counters(address: string): Promise<FrrBfdCounters | undefined>;
  /** The reasons of bfdd's Up -> Down transitions so far, in order (its `state-change` debug lines). */
  downReasons(): string[];
  stop(): Promise<void>;
}

/** The fields of FRR 8's `show bfd peer … json` that the tests read. */
export interface FrrBfdPeer {
  status: string;
  diagnostic: string;
  'remote-diagnostic': string;
  'echo-transmit-interval': number;
  'echo-receive-interval': number;
  'remote-echo-receive-interval': number;
  'detect-multiplier': number;
}

export interface FrrBfdCounters {
  'control-packet-input': number;
  'control-packet-output': number;
  'echo-packet-input': number;
  'echo-packet-output': number;
  'session-up': number;
  'session-down': number;
}

function frrIds(): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', 'frr'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'frr'], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/** Starts zebra and bfdd in `host` with `bfdConfig` (bfdd's configuration text). */
export async function startFrrBfd(host: Host, dir: string, bfdConfig: string): Promise<FrrBfd> {
  mkdirSync(dir, { recursive: true });
  const vty = join(dir, 'vty');
  mkdirSync(vty, { recursive: true });
  const zserv = join(dir, 'zserv.api');
  const common = (daemon: string): string[] => [
    '-f',
    join(dir, `${daemon}.conf`),
    '-i',
    join(dir, `${daemon}.pid`),
    '--vty_socket',
    vty,
    '-z',
    zserv,
    '-A',
    '127.0.0.1',
    '-P',
    '0',
  ];
  writeFileSync(join(dir, 'zebra.conf'), 'hostname router\nlog stdout informational\n');
  writeFileSync(join(dir, 'bfdd.conf'), bfdConfig);
  // The daemons drop to the frr user: it must reach and own their folder (mkdtemp makes 0700 folders).
  const { uid, gid } = frrIds();
  chmodSync(dirname(dir), 0o755);
  for (const f of [dir, vty, join(dir, 'zebra.conf'), join(dir, 'bfdd.conf')]) chownSync(f, uid, gid);
  const zebra = host.spawn('/usr/lib/frr/zebra', common('zebra'), {
    name: `${host.name}/zebra`,
    logFile: join(dir, 'zebra.log'),
  });
  const cli = async (...commands: string[]): Promise<string> =>
    host.sh('vtysh', ['--vty_socket', vty, ...commands.flatMap((c) => ['-c', c])], 10_000);
  const ready = async (
    p: ManagedProcess,
    what: string,
    probe: () => boolean | Promise<boolean>,
  ): Promise<void> => {
    await p.whileRunning(waitFor(what, async () => ((await probe()) ? true : undefined), 30_000, 50));
  };
  await ready(zebra, 'zebra', () => {
    try {
      return readFileSync(join(dir, 'zebra.pid'), 'utf8').trim() !== '';
    } catch {
      return false;
    }
  });
  const bfdd = host.spawn('/usr/lib/frr/bfdd', [...common('bfdd'), '--bfdctl', join(dir, 'bfdd.sock')], {
    name: `${host.name}/bfdd`,
    logFile: join(dir, 'bfdd.log'),
  });
  await ready(
    bfdd,
    'bfdd',
    async () => (await host.exec('vtysh', ['--vty_socket', vty, '-c', 'show bfd peers'], 5000)).code === 0,
  );
  const json = async <T extends object>(cmd: string): Promise<T | undefined> => {
    const out = await cli(cmd);
    try {
      const v = JSON.parse(out) as T;
      return Object.keys(v).length === 0 ? undefined : v;
    } catch {
      return undefined;
    }
  };
  return {
    zebra,
    bfdd,
    cli,
    peer: (a) => json<FrrBfdPeer>(`show bfd peer ${a} json`),
    counters: (a) => json<FrrBfdCounters>(`show bfd peer ${a} counters json`),
    downReasons: () =>
      [
        ...readFileSync(join(dir, 'bfdd.log'), 'utf8').matchAll(/state-change: .* up -> down reason:(\S+)/g),
      ].map((m) => m[1]!),
    stop: async () => {
      await bfdd.stop(3000);
      await zebra.stop(3000);
    },
  };
}

/** bfdd's configuration: one single-hop peer on eth0 with a profile. */
export function frrBfdConfig(o: {
  peer: string;
  intervalMs: number;
  detectMultiplier: number;
  echoIntervalMs?: number;
}): string {
  return [
    'hostname router',
    // `debug bfd peer` logs every state change with its reason (FRR 8: "reason:echo-failed").
    'log stdout debugging',
    'debug bfd peer',
    'bfd',
    ' profile lab',
    `  receive-interval ${o.intervalMs}`,
    `  transmit-interval ${o.intervalMs}`,
    `  detect-multiplier ${o.detectMultiplier}`,
    ...(o.echoIntervalMs !== undefined
      ? [
          '  echo-mode',
          `  echo transmit-interval ${o.echoIntervalMs}`,
          `  echo receive-interval ${o.echoIntervalMs}`,
        ]
      : ['  echo receive-interval disabled']),
    ' exit',
    ` peer ${o.peer} interface eth0`,
    '  profile lab',
    ' exit',
    'exit',
    '',
  ].join('\n');
}
