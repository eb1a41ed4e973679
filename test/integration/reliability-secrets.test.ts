// A missing membership key: the speaker (its own ServiceAccount, a real apiserver, no controller to
// create the Secret) says so in a warning naming Secret metallb-system/memberlist and falls back to
// Node Ready; when the Secret appears, membership starts without a restart. The key's value never
// appears in the speaker's log or /metrics. (The missing BGP password Secret is in test/e2e/chaos-lab.)
// The speaker runs in-process with every interface excluded and BGP off: nothing is sent on the
// machine's own network; membership listens on a free UDP port on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { waitFor } from '../../lab/process.js';
import { runSpeaker, type SpeakerHandle } from '../../speaker/main.js';
import { repoPath } from '../support/repo.js';
import { metricValue } from '../support/chaos.js';
import { applyManifest, create, installCRDs, namespaceObj } from './controller-helpers.js';

const NS = 'metallb-system';
const NODE = 'rel-node-1';

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('speaker: membership key Secret missing, then created', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let speaker: SpeakerHandle | undefined;
  let logFile = '';
  const key = randomBytes(64);

  before(async () => {
    cp = await startControlPlane();
    await installCRDs(cp);
    await create(cp, namespaceObj(NS));
    await applyManifest(cp, repoPath('deploy', 'rbac', 'speaker.yaml'));
    const node = await cp.request('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE },
    });
    assert.equal(node.status, 201, node.body);
    const st = await cp.request(
      'PATCH',
      `/api/v1/nodes/${NODE}/status`,
      { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] } },
      'application/merge-patch+json',
    );
    assert.equal(st.status, 200, st.body);
    const kubeconfig = await cp.kubeconfigFor(NS, 'speaker');
    mkdirSync(cp.logDir, { recursive: true });
    logFile = join(cp.logDir, 'speaker.log');
    const logger = pino(
      { level: 'debug', formatters: { level: (l) => ({ level: l }) } },
      createWriteStream(logFile),
    );
    speaker = await runSpeaker({
      kubeconfig,
      node: NODE,
      namespace: NS,
      metricsBind: '127.0.0.1:0',
      membership: true,
      membershipPort: await freeUdpPort(),
      interfacesExclude: ['.*'],
      bgp: false,
      logger,
    });
  });

  after(async () => {
    await speaker?.stop();
    await cp?.stop();
  });

  const logLines = (): {
    level?: string;
    msg?: string;
    object?: { kind?: string; namespace?: string; name?: string };
  }[] =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map(
        (l) => JSON.parse(l) as { level?: string; msg?: string; object?: { kind?: string; name?: string } },
      );
  const metrics = async (): Promise<string> =>
    (await fetch(`http://127.0.0.1:${speaker?.metricsPort}/metrics`)).text();

  it('warns naming Secret metallb-system/memberlist and runs without membership', async () => {
    const w = await waitFor(
      'warning about the memberlist Secret',
      () =>
        logLines().find(
          (l) =>
            l.level === 'warn' &&
            l.object?.kind === 'Secret' &&
            l.object.name === 'memberlist' &&
            /membership key/.test(l.msg ?? ''),
        ),
      30_000,
      100,
    );
    assert.equal(w.object?.namespace, NS);
    assert.equal(metricValue(await metrics(), 'bollard_membership_members_alive'), 0);
  });

  it('starts membership when the Secret appears, without a restart; the key is never logged or exported', async () => {
    await create(cp, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'memberlist', namespace: NS },
      data: { secretkey: key.toString('base64') },
    });
    await waitFor(
      'membership started',
      async () =>
        (metricValue(await metrics(), 'bollard_membership_members_alive') ?? 0) >= 1 ? true : undefined,
      30_000,
      200,
    );
    assert.ok(logLines().some((l) => l.msg === 'membership started'));
    const text = readFileSync(logFile, 'utf8') + (await metrics());
    for (const needle of [key.toString('base64'), key.toString('hex'), key.toString('base64url')])
      assert.ok(!text.includes(needle), 'the key appears in the log or /metrics');
  });
});
