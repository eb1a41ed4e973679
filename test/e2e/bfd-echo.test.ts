// BFD echo mode (RFC 5880 §6.4, RFC 5881 §4) between Bollard's speaker and FRR's bfdd, in network
// namespaces. FRR's profile has echo-mode; Bollard's BFD profile has echoMode. The session comes Up,
// each side's echoes come back through the other's forwarding plane (FRR counts its echoes in; the
// speaker logs the first echo back); when one host stops forwarding UDP 3785 while control packets
// still flow, the side whose echoes no longer come back takes the session Down with diag 2, Echo
// Function Failed, and the other hears it (diag 3).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import { peer, startSpeaker } from './bgp-routers.js';
import { frrBfdConfig, startFrrBfd, type FrrBfd } from './frr-bfd.js';

const ROUTER = '10.81.0.1';
const NODE = '10.81.0.11';

function logLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

describe('BFD echo mode with FRR bfdd', { timeout: 120_000 }, () => {
  let lan: Lan;
  let frr: FrrBfd | undefined;
  let speaker: { proc: ManagedProcess; log: string } | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-bfd-echo-'));

  before(async () => {
    lan = await Lan.create();
    const router = await lan.addHost('router', { ipv4: `${ROUTER}/24` });
    const node = await lan.addHost('node', { ipv4: `${NODE}/24` });
    // Each side loops the other's echoes in its forwarding plane (a Kubernetes node forwards anyway).
    for (const h of [router, node]) await h.sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    frr = await startFrrBfd(
      router,
      join(dir, 'frr'),
      frrBfdConfig({ peer: NODE, intervalMs: 300, detectMultiplier: 3, echoIntervalMs: 50 }),
    );
    speaker = await startSpeaker(node, join(dir, 'node'), {
      nodeName: 'node',
      nodeIPv4: NODE,
      // No bgpd on the router: the BGP session keeps retrying, BFD runs on its own.
      peers: [
        peer({
          name: 'frr',
          peerAddress: ROUTER,
          myASN: 64513,
          peerASN: 64512,
          bfd: {
            receiveIntervalMs: 300,
            transmitIntervalMs: 300,
            detectMultiplier: 3,
            passiveMode: false,
            minimumTtl: 254,
            echoMode: true,
            echoIntervalMs: 50,
          },
        }),
      ],
      routes: {},
    });
  });

  after(async () => {
    await speaker?.proc.stop(2000);
    await frr?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes Up with echo active both ways: FRR counts its echoes back, the speaker logs its own', async () => {
    const f = frr!;
    const s = speaker!;
    const up = await waitFor(
      'FRR: session Up with echo',
      async () => {
        const p = await f.peer(NODE);
        return p?.status === 'up' ? p : undefined;
      },
      30_000,
      50,
    );
    assert.equal(up['echo-transmit-interval'], 50, 'FRR runs echo at 50 ms');
    assert.equal(up['remote-echo-receive-interval'], 50, 'the speaker advertises Required Min Echo RX 50 ms');
    // FRR's echoes, addressed to FRR itself, come back through the node's kernel.
    const c = await waitFor(
      "FRR's echoes come back",
      async () => {
        const x = await f.counters(NODE);
        return x && x['echo-packet-input'] >= 10 ? x : undefined;
      },
      30_000,
      50,
    );
    process.stdout.write(`# FRR echo out ${c['echo-packet-output']}, back ${c['echo-packet-input']}\n`);
    // The speaker's echoes come back through FRR's forwarding plane.
    const back = await waitFor(
      "the speaker's echoes come back",
      () => logLines(s.log).find((l) => l.msg === 'BFD echo came back'),
      30_000,
      50,
    );
    process.stdout.write(`# speaker echo round trip ${String(back.rttMs)} ms\n`);
    const active = logLines(s.log).find((l) => l.msg === 'BFD echo active');
    assert.equal(active?.intervalMs, 50);
    assert.equal(active?.detectMs, 150);
  });

  /** Waits until the session is Up again with the speaker's echoes coming back, after `since`. */
  const settled = async (since: number): Promise<void> => {
    await waitFor(
      'Up again with echoes back',
      async () => {
        const lines = logLines(speaker!.log).filter((l) => Number(l.time) >= since);
        const active = lines.findLastIndex((l) => l.msg === 'BFD echo active');
        const back = lines.findLastIndex((l) => l.msg === 'BFD echo came back');
        const p = await frr!.peer(NODE);
        return back > active && p?.status === 'up' ? true : undefined;
      },
      30_000,
      50,
    );
  };
  const drop = ['FORWARD', '-p', 'udp', '--dport', '3785', '-j', 'DROP'];

  it("the router stops looping the speaker's echoes (UDP 3785 not forwarded there), control still flowing: the speaker goes Down with diag 2, FRR hears it", async () => {
    const f = frr!;
    const s = speaker!;
    const router = lan.host('router');
    const since = Date.now();
    const downsBefore = f.downReasons().length;
    await router.sh('iptables', ['-I', ...drop]);
    try {
      const down = await waitFor(
        'speaker: BFD Down after the rule',
        () =>
          logLines(s.log).find(
            (l) => l.msg === 'BFD session Down' && l.from === 'Up' && Number(l.time) >= since,
          ),
        30_000,
        20,
      );
      assert.equal(down.diag, 2, 'Echo Function Failed');
      process.stdout.write(
        `# speaker declared echo failure ${Number(down.time) - since} ms after the drop rule\n`,
      );
      const reason = await waitFor(
        'FRR: Up -> Down after the rule',
        () => f.downReasons()[downsBefore],
        30_000,
        20,
      );
      assert.equal(reason, 'neighbor-down', 'FRR went Down because the speaker said so');
    } finally {
      await router.sh('iptables', ['-D', ...drop]);
    }
    await settled(Date.now());
  });

  it("the node stops looping FRR's echoes (UDP 3785 not forwarded there), control still flowing: FRR goes Down with echo-failed, the speaker hears it (diag 3)", async () => {
    const f = frr!;
    const s = speaker!;
    const node = lan.host('node');
    const since = Date.now();
    const downsBefore = f.downReasons().length;
    await node.sh('iptables', ['-I', ...drop]);
    try {
      const reason = await waitFor(
        'FRR: Up -> Down after the rule',
        () => f.downReasons()[downsBefore],
        30_000,
        20,
      );
      assert.equal(reason, 'echo-failed', 'FRR detected its own echoes missing');
      const down = await waitFor(
        'speaker: BFD Down after the rule',
        () =>
          logLines(s.log).find(
            (l) => l.msg === 'BFD session Down' && l.from === 'Up' && Number(l.time) >= since,
          ),
        30_000,
        20,
      );
      assert.equal(down.diag, 3, 'Neighbor Signaled Session Down');
      // Control packets were never blocked: FRR still hears the speaker.
      const before = (await f.counters(NODE))!['control-packet-input'];
      await waitFor(
        'FRR still receives control packets',
        async () => ((await f.counters(NODE))!['control-packet-input'] > before ? true : undefined),
        10_000,
        50,
      );
    } finally {
      await node.sh('iptables', ['-D', ...drop]);
    }
  });
});
