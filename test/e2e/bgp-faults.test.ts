// Faults, seen from a real BIRD router (its kernel FIB, watched with `ip -ts monitor route` in the
// router host): speaker SIGTERM (Cease -> routes gone at once), SIGKILL (the kernel's FIN -> gone at
// once), a hung speaker (SIGSTOP: no FIN, like a node that lost power) with BFD (gone within the BFD
// detection time, far below the hold time) and without (gone when the 3 s hold timer expires), the
// node's link going down (BFD), a router restart (session and routes come back), and a graceful
// restart of the speaker (RFC 4724: the router keeps forwarding meanwhile). Times are printed, never
// asserted: the mechanism is proven by what BIRD says made it drop the session (its log, with `debug
// { events }`: "Received: Administrative shutdown", "Connection closed", "BFD session down", "Hold
// timer expired"), read after a mark taken before the fault, so only that fault's lines count.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, type Host } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import {
  peer,
  ribRoute,
  sessionUp,
  startBird,
  startSpeaker,
  type Router,
  type StandaloneConfig,
} from './bgp-routers.js';

const NODE_ASN = 64513;
const ROUTER_ASN = 64512;

const birdConf = (): string =>
  [
    'router id 10.78.0.1;',
    'log stderr all;',
    'protocol device { scan time 5; }',
    'protocol kernel { ipv4 { import none; export all; }; merge paths on; }',
    'protocol bfd { interface "eth0" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }',
    ...[
      ['node_bfd', '10.78.0.11', 'bfd on; hold time 9;'],
      ['node_hold', '10.78.0.12', 'hold time 3;'],
      ['node_gr', '10.78.0.13', 'hold time 9; graceful restart on; graceful restart time 60;'],
    ].flatMap(([name, addr, extra]) => [
      `protocol bgp ${name} {`,
      `  local 10.78.0.1 as ${ROUTER_ASN};`,
      `  neighbor ${addr} as ${NODE_ASN};`,
      `  connect retry time 1; error wait time 1, 3; debug { events }; ${extra}`,
      '  ipv4 { import all; export none; };',
      '}',
    ]),
    '',
  ].join('\n');

/**
 * `ip -ts monitor route` in a host: the FIB's route changes, in the order the kernel made them. A
 * mark (a blackhole route added and seen in the monitor's output) orders the log: an event after a
 * mark happened after the mark was set.
 */
class RouteMonitor {
  private marks = 0;
  private constructor(
    private readonly host: Host,
    private readonly proc: ManagedProcess,
    private readonly log: string,
  ) {}
  static async start(host: Host, log: string): Promise<RouteMonitor> {
    const proc = host.spawn('ip', ['-ts', 'monitor', 'route'], {
      name: `${host.name}/monitor`,
      logFile: log,
    });
    const m = new RouteMonitor(host, proc, log);
    // `ip monitor` says nothing when it starts listening: it is listening once it reports a change.
    // A mark added before that goes unseen, so marks are added until one is reported (a retry of
    // the event, not a wait in its place).
    for (let i = 0; ; i++) {
      try {
        await m.mark(1000);
        break;
      } catch (err) {
        if (i >= 30) throw err;
      }
    }
    return m;
  }
  private lines(): string[] {
    try {
      return readFileSync(this.log, 'utf8').split('\n');
    } catch {
      return [];
    }
  }
  /** Adds a blackhole route and waits until the monitor reports it; resolves with its line number. */
  async mark(timeoutMs = 20_000): Promise<number> {
    const dst = `198.51.100.${++this.marks}`;
    await this.host.sh('ip', ['route', 'add', 'blackhole', `${dst}/32`]);
    return this.proc.whileRunning(
      waitFor(
        `mark ${dst} in the route monitor`,
        () => {
          const i = this.lines().findIndex((l) => /^\[[^\]]+\] blackhole (\S+)/.exec(l)?.[1] === dst);
          return i >= 0 ? i : undefined;
        },
        timeoutMs,
        10,
      ),
    );
  }
  /** The FIB changes of `prefix`: line number, time (ms epoch, for printing), added or deleted. */
  events(prefix: string): { line: number; at: number; deleted: boolean }[] {
    const ip = prefix.split('/')[0]!;
    return this.lines().flatMap((l, line) => {
      const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)\] (Deleted )?(\S+)/.exec(l);
      if (m === null || m[4] !== ip) return [];
      return [{ line, at: Date.parse(`${m[1]}Z`) + Number(`0.${m[2]}`) * 1000, deleted: m[3] !== undefined }];
    });
  }
  /** Waits for the deletion of `prefix` after the mark at line `mark`; resolves with its time. */
  async deletedAfter(prefix: string, mark: number, timeoutMs = 60_000): Promise<number> {
    return waitFor(
      `${prefix} deleted from the FIB`,
      () => this.events(prefix).find((e) => e.deleted && e.line > mark)?.at,
      timeoutMs,
      10,
    );
  }
  async stop(): Promise<void> {
    await this.proc.stop(1000);
  }
}

/** Why BIRD dropped a session: the first such line of its log for `protocol` after byte `from`. */
const DOWN_REASON = /Received: .*|Hold timer expired|BFD session down|Connection closed|Connection lost.*/;
function downReason(birdLog: string, protocol: string, from: number): string | undefined {
  const tail = readFileSync(birdLog, 'utf8').slice(from);
  for (const l of tail.split('\n')) {
    if (!l.includes(`${protocol}: `)) continue;
    const m = DOWN_REASON.exec(l);
    if (m) return m[0];
  }
  return undefined;
}

describe('BGP faults seen from BIRD', { timeout: 240_000 }, () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bgp-faults-'));
  let bird: Router;
  let monitor: RouteMonitor;
  const speakers: { proc: ManagedProcess }[] = [];

  const cfg = (
    node: string,
    ip: string,
    prefix: string,
    extra: Partial<Parameters<typeof peer>[0]> = {},
    more: Partial<StandaloneConfig> = {},
  ): StandaloneConfig => ({
    nodeName: node,
    nodeIPv4: ip,
    peers: [peer({ name: 'bird', peerAddress: '10.78.0.1', myASN: NODE_ASN, peerASN: ROUTER_ASN, ...extra })],
    routes: { bird: [{ prefix, communities: [], largeCommunities: [] }] },
    ...more,
  });
  const bfdCfg = (): StandaloneConfig =>
    cfg('node-bfd', '10.78.0.11', '192.0.2.11/32', {
      holdTimeMs: 9000,
      keepaliveTimeMs: 3000,
      bfd: {
        receiveIntervalMs: 300,
        transmitIntervalMs: 300,
        detectMultiplier: 3,
        passiveMode: false,
        minimumTtl: 254,
      },
    });
  const holdCfg = (): StandaloneConfig =>
    cfg('node-hold', '10.78.0.12', '192.0.2.12/32', { holdTimeMs: 3000, keepaliveTimeMs: 1000 });
  const grCfg = (restarted: boolean): StandaloneConfig =>
    cfg(
      'node-gr',
      '10.78.0.13',
      '192.0.2.13/32',
      { holdTimeMs: 9000, keepaliveTimeMs: 3000, gracefulRestart: true },
      { restarted, preserveGracefulRestart: true },
    );

  const start = async (host: string, c: StandaloneConfig, name: string): Promise<ManagedProcess> => {
    const s = await startSpeaker(lan.host(host), join(dir, host), c, name);
    speakers.push(s);
    return s.proc;
  };
  const inFib = async (prefix: string): Promise<boolean> =>
    (await lan.host('router').sh('ip', ['route', 'show', prefix])).includes(prefix.split('/')[0]!);
  const birdLog = (): string => join(dir, 'bird', 'bird.log');
  /** Where BIRD's log ends now: lines after it are about what happens next. */
  const birdMark = (): number => readFileSync(birdLog(), 'utf8').length;
  const waitReason = (protocol: string, from: number): Promise<string> =>
    waitFor(`why BIRD dropped ${protocol}`, () => downReason(birdLog(), protocol, from), 60_000, 20);
  const waitFib = (prefix: string): Promise<true> =>
    waitFor(
      `${prefix} in the router's FIB`,
      async () => ((await inFib(prefix)) ? true : undefined),
      30_000,
      50,
    );

  before(async () => {
    lan = await Lan.create();
    const r = await lan.addHost('router', { ipv4: '10.78.0.1/24' });
    await lan.addHost('node-bfd', { ipv4: '10.78.0.11/24' });
    await lan.addHost('node-hold', { ipv4: '10.78.0.12/24' });
    await lan.addHost('node-gr', { ipv4: '10.78.0.13/24' });
    bird = await startBird(r, join(dir, 'bird'), birdConf());
    monitor = await RouteMonitor.start(r, join(dir, 'monitor.log'));
  });

  after(async () => {
    for (const s of speakers) await s.proc.stop(1000);
    await monitor?.stop();
    await bird?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM: Cease / Administrative Shutdown removes the route at once (9 s hold time not involved)', async () => {
    const p = await start('node-bfd', bfdCfg(), 'term');
    await waitFib('192.0.2.11/32');
    const mark = await monitor.mark();
    const from = birdMark();
    const t0 = Date.now();
    p.signal('SIGTERM');
    const gone = await monitor.deletedAfter('192.0.2.11/32', mark);
    const st = await p.exited;
    process.stdout.write(`# SIGTERM -> route gone from BIRD's FIB in ${(gone - t0).toFixed(1)} ms\n`);
    assert.equal(st.code, 0, 'the speaker exits cleanly');
    assert.match(await waitReason('node_bfd', from), /Received: Administrative shutdown/);
  });

  it('SIGKILL: the kernel closes the TCP connection, so the route goes at once', async () => {
    const p = await start('node-hold', holdCfg(), 'kill');
    await waitFib('192.0.2.12/32');
    const mark = await monitor.mark();
    const from = birdMark();
    const t0 = Date.now();
    await p.kill();
    const gone = await monitor.deletedAfter('192.0.2.12/32', mark);
    process.stdout.write(`# SIGKILL -> route gone in ${(gone - t0).toFixed(1)} ms\n`);
    assert.match(await waitReason('node_hold', from), /Connection closed/, 'by the FIN, not the hold timer');
  });

  // A speaker that stops without its socket closing (a hung process, a node that lost power): SIGSTOP.
  it('hung speaker with BFD 300 ms x 3: the route goes within the BFD detection time, well before the 9 s hold time', async () => {
    const p = await start('node-bfd', bfdCfg(), 'hang-bfd');
    await waitFib('192.0.2.11/32');
    await waitFor(
      'BFD up in BIRD',
      async () => ((await bird.cli(['show', 'bfd', 'sessions'])).includes(' Up ') ? true : undefined),
      15_000,
      100,
    );
    const mark = await monitor.mark();
    const from = birdMark();
    const t0 = Date.now();
    p.signal('SIGSTOP');
    try {
      const gone = await monitor.deletedAfter('192.0.2.11/32', mark);
      process.stdout.write(`# hung speaker with BFD -> route gone in ${(gone - t0).toFixed(1)} ms\n`);
      assert.match(await waitReason('node_bfd', from), /BFD session down/, 'by BFD, not the 9 s hold timer');
    } finally {
      p.signal('SIGCONT');
      await p.kill();
    }
  });

  it('hung speaker without BFD: the route goes when the 3 s hold timer expires', async () => {
    const p = await start('node-hold', holdCfg(), 'hang-hold');
    await waitFib('192.0.2.12/32');
    const mark = await monitor.mark();
    const from = birdMark();
    const t0 = Date.now();
    p.signal('SIGSTOP');
    try {
      const gone = await monitor.deletedAfter('192.0.2.12/32', mark);
      process.stdout.write(
        `# hung speaker without BFD (hold 3 s) -> route gone in ${(gone - t0).toFixed(1)} ms\n`,
      );
      // No NOTIFICATION, no FIN: BIRD's hold timer is what ends the session.
      assert.match(await waitReason('node_hold', from), /Hold timer expired/);
    } finally {
      p.signal('SIGCONT');
      await p.kill();
    }
  });

  it("the node's link going down takes the route away through BFD; link up brings it back", async () => {
    await start('node-bfd', bfdCfg(), 'link');
    await waitFib('192.0.2.11/32');
    await waitFor(
      'BFD up',
      async () => ((await bird.cli(['show', 'bfd', 'sessions'])).includes(' Up ') ? true : undefined),
      15_000,
      100,
    );
    const mark = await monitor.mark();
    const from = birdMark();
    const t0 = Date.now();
    await lan.host('node-bfd').link('down');
    try {
      const gone = await monitor.deletedAfter('192.0.2.11/32', mark);
      process.stdout.write(`# link down -> route gone in ${(gone - t0).toFixed(1)} ms\n`);
      assert.match(await waitReason('node_bfd', from), /BFD session down/, 'by BFD, not the 9 s hold timer');
    } finally {
      await lan.host('node-bfd').link('up');
    }
    await waitFib('192.0.2.11/32');
  });

  it('a router restart: the session and the route come back', async () => {
    await start('node-hold', holdCfg(), 'router-restart');
    await waitFib('192.0.2.12/32');
    await bird.stop();
    await waitFor(
      'route gone with BIRD',
      async () => ((await inFib('192.0.2.12/32')) ? undefined : true),
      10_000,
      50,
    );
    bird = await startBird(lan.host('router'), join(dir, 'bird'), birdConf());
    await waitFor(
      'session back',
      async () => ((await sessionUp(bird, '10.78.0.12', 'node_hold')) ? true : undefined),
      30_000,
      100,
    );
    await waitFib('192.0.2.12/32');
    assert.ok(await ribRoute(bird, '192.0.2.12/32'));
  });

  it('graceful restart: the router keeps the route (and forwarding) while the speaker restarts', async () => {
    const p = await start('node-gr', grCfg(false), 'gr-1');
    await waitFib('192.0.2.13/32');
    await waitFor(
      'GR negotiated',
      async () =>
        (await bird.cli(['show', 'protocols', 'all', 'node_gr'])).includes('graceful restart')
          ? true
          : undefined,
      10_000,
      100,
    );
    const mark = await monitor.mark();
    const from = birdMark();
    p.signal('SIGTERM');
    await p.exited;
    await waitFor(
      'BIRD sees the session down',
      async () => ((await sessionUp(bird, '10.78.0.13', 'node_gr')) ? undefined : true),
      10_000,
      50,
    );
    assert.ok(await inFib('192.0.2.13/32'), 'the route stays in the FIB while the speaker is away');
    const stale = await bird.cli(['show', 'route', 'for', '192.0.2.13/32', 'all']);
    await start('node-gr', grCfg(true), 'gr-2');
    await waitFor(
      'session back',
      async () => ((await sessionUp(bird, '10.78.0.13', 'node_gr')) ? true : undefined),
      30_000,
      100,
    );
    // BIRD ends the restart when our End-of-RIB arrives (stale routes not sent again go then); the
    // route is in its RIB after that, and a mark after it closes the window the monitor is read over.
    await waitFor(
      'BIRD: neighbor graceful restart done',
      () =>
        readFileSync(birdLog(), 'utf8').slice(from).includes('node_gr: Neighbor graceful restart done')
          ? true
          : undefined,
      60_000,
      50,
    );
    assert.ok(await ribRoute(bird, '192.0.2.13/32'), 'the route, sent again, is in the RIB');
    const end = await monitor.mark();
    assert.ok(await inFib('192.0.2.13/32'));
    const deleted = monitor.events('192.0.2.13/32').filter((e) => e.deleted && e.line > mark && e.line < end);
    assert.deepEqual(
      deleted,
      [],
      `the route was never removed from the FIB (stale entry was: ${stale.split('\n')[1] ?? ''})`,
    );
  });
});
