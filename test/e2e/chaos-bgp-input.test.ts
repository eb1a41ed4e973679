// Bad input on the BGP wire: a misbehaving peer of our own (test/support/bgp-injector, raw TCP in the
// `evil` host) connects to a Bollard speaker again and again and sends malformed OPENs, headers and
// UPDATEs, an oversized message, unknown attributes and an UPDATE flood. For each, the NOTIFICATION's
// code/subcode read off the wire must be the one the RFC names, or — where RFC 7606 says
// treat-as-withdraw / accept — the session must stay up (a ROUTE-REFRESH sent after the message is
// answered with our routes, no NOTIFICATION, no close). Meanwhile the same
// speaker's session with a real BIRD never resets and BIRD keeps the route, and the process stays up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lan } from '../../lab/netns.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import { EXPECTED, type InjectorArgs, type ScenarioResult } from '../support/bgp-injector.js';
import { peer, ribRoute, startBird, startSpeaker, type Router } from './bgp-routers.js';

const NODE_ASN = 64513;
const EVIL_ASN = 64512;
const BIRD_ASN = 64520;

describe('bad input on the BGP wire: a misbehaving peer', { timeout: 300_000 }, () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-chaos-bgp-'));
  let bird: Router;
  let speaker: ManagedProcess;

  const birdSince = async (): Promise<string> => {
    const out = await bird.cli(['show', 'protocols', 'node']);
    const line = out.split('\n').find((l) => l.startsWith('node'));
    return line ?? '';
  };

  before(async () => {
    lan = await Lan.create();
    const birdHost = await lan.addHost('bird', { ipv4: '10.79.0.2/24' });
    await lan.addHost('evil', { ipv4: '10.79.0.1/24' });
    await lan.addHost('node', { ipv4: '10.79.0.11/24' });
    bird = await startBird(
      birdHost,
      join(dir, 'bird'),
      [
        'router id 10.79.0.2;',
        'log stderr all;',
        'protocol device { scan time 5; }',
        'protocol bgp node {',
        `  local 10.79.0.2 as ${BIRD_ASN};`,
        `  neighbor 10.79.0.11 as ${NODE_ASN};`,
        '  connect retry time 1; error wait time 1, 3; hold time 9;',
        '  ipv4 { import all; export none; };',
        '}',
        '',
      ].join('\n'),
    );
    const s = await startSpeaker(lan.host('node'), join(dir, 'node'), {
      nodeName: 'node',
      nodeIPv4: '10.79.0.11',
      peers: [
        peer({ name: 'bird', peerAddress: '10.79.0.2', myASN: NODE_ASN, peerASN: BIRD_ASN }),
        peer({
          name: 'evil',
          peerAddress: '10.79.0.1',
          myASN: NODE_ASN,
          peerASN: EVIL_ASN,
          connectTimeMs: 1000,
        }),
      ],
      routes: {
        bird: [{ prefix: '192.0.2.50/32', communities: [], largeCommunities: [] }],
        evil: [{ prefix: '192.0.2.51/32', communities: [], largeCommunities: [] }],
      },
    });
    speaker = s.proc;
    await waitFor(
      'BIRD has 192.0.2.50/32',
      async () => ((await ribRoute(bird, '192.0.2.50/32')) ? true : undefined),
      60_000,
      200,
    );
  });

  after(async () => {
    await speaker?.stop(2000);
    await bird?.stop();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function inject(scenarios: string[], extra: Partial<InjectorArgs> = {}): Promise<ScenarioResult[]> {
    const self = fileURLToPath(import.meta.url);
    const fromSource = self.endsWith('.ts');
    const entry = fileURLToPath(
      new URL(`../support/bgp-injector.${fromSource ? 'ts' : 'js'}`, import.meta.url),
    );
    const args: InjectorArgs = {
      target: '10.79.0.11',
      asn: EVIL_ASN,
      speakerAsn: NODE_ASN,
      routerId: '10.79.0.1',
      scenarios,
      ...extra,
    };
    const r = await lan
      .host('evil')
      .exec(
        process.execPath,
        [...(fromSource ? ['--import', 'tsx'] : []), entry, JSON.stringify(args)],
        240_000,
      );
    assert.equal(r.code, 0, `injector failed: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as ScenarioResult);
  }

  it('each malformed message gets the NOTIFICATION its RFC names, or the session stays up where RFC 7606 says so', async () => {
    const since = await birdSince();
    assert.match(since, /Established/, since);
    const scenarios = Object.keys(EXPECTED).filter((s) => s !== 'update-flood');
    const results = await inject(scenarios);
    assert.equal(results.length, scenarios.length);
    const wrong: string[] = [];
    for (const r of results) {
      const want = EXPECTED[r.scenario];
      if (r.error) wrong.push(`${r.scenario}: ${r.error}`);
      else if (want && 'notification' in want) {
        const got = r.notification ? [r.notification.code, r.notification.subcode] : undefined;
        if (!got || got[0] !== want.notification[0] || got[1] !== want.notification[1] || !r.closed)
          wrong.push(
            `${r.scenario}: want NOTIFICATION ${want.notification.join('/')}, got ${JSON.stringify(r)}`,
          );
      } else if (r.notification || r.closed || !r.refreshed)
        wrong.push(`${r.scenario}: the session must stay up, got ${JSON.stringify(r)}`);
    }
    assert.deepEqual(wrong, []);
    // RFC 4271 §6.2: Unsupported Version Number carries the largest supported version (2 octets)
    assert.equal(results.find((r) => r.scenario === 'open-version')?.notification?.data, '0004');
    assert.ok(speaker.running, 'the speaker process is up');
    assert.equal(await birdSince(), since, "the speaker's session with BIRD never reset");
    assert.ok(await ribRoute(bird, '192.0.2.50/32'), 'BIRD still has the route');
  });

  it('an UPDATE flood (20,000 messages) leaves that session up, the other session and the process untouched', async () => {
    const since = await birdSince();
    const [r] = await inject(['update-flood'], { floodCount: 20_000 });
    assert.ok(r, 'a result');
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.notification, undefined, JSON.stringify(r.notification));
    assert.equal(r.closed, false, 'the flooded session stayed up');
    assert.ok(r.refreshed, 'after the flood the speaker answered a ROUTE-REFRESH with its routes');
    process.stdout.write(
      `# flood: ${r.sent} UPDATEs, answered after ${r.ms} ms, ${r.keepalives} KEEPALIVEs meanwhile\n`,
    );
    assert.ok(speaker.running, 'the speaker process is up');
    assert.equal(await birdSince(), since, "the speaker's session with BIRD never reset");
    assert.ok(await ribRoute(bird, '192.0.2.50/32'), 'BIRD still has the route');
  });
});
