// `bollard speaker --layer2=false` (the bgp overlay's mode): the speaker runs, serves its metrics and
// opens no packet socket, so nobody answers ARP for an L2 VIP; the normal speakers answer again after.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { repoRoot } from '../../lab/repo.js';
import * as probes from '../support/lab-probes.js';

describe('speaker modes', () => {
  let lab: Lab;
  let vip: string;
  const NODES = ['node-1', 'node-2'];

  async function arpAnswers(ip: string): Promise<number> {
    await lab.exec('client', 'ip', ['neigh', 'flush', 'all']);
    return (await probes.arpingMacs(lab, ip, 3, 0.2)).length;
  }

  before(async () => {
    lab = await startLab({ nodes: 2, router: 'none', ipv6: false });
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'demo', name: 'web' });
    await lab.addPod('demo/web', 'node-1');
    vip = await waitFor(
      'demo/web VIP',
      async () => (await lab.service('demo/web')).status?.loadBalancer?.ingress?.[0]?.ip,
      30_000,
      200,
    );
    await waitFor(
      'the VIP answered',
      async () => ((await arpAnswers(vip)) > 0 ? true : undefined),
      30_000,
      200,
    );
  });
  after(async () => {
    await lab?.stop();
  });

  it('--layer2=false answers no ARP while the speaker runs; normal speakers answer again', async () => {
    for (const n of NODES) await lab.stopProcess(n, 'speaker');
    const kc = await lab.kubeconfigFor('metallb-system', 'speaker', { inNode: true });
    const procs: ManagedProcess[] = [];
    try {
      for (const n of lab.topology.nodes) {
        procs.push(
          lab
            .host(n.name)
            .spawn(
              process.execPath,
              [
                join(repoRoot(), 'dist', 'speaker', 'cli-entry.js'),
                ...['--kubeconfig', kc, '--node', n.name, '--namespace', 'metallb-system'],
                ...['--metrics-bind', `${n.ipv4.ip}:7473`, '--layer2=false'],
              ],
              {
                name: `${n.name}/speaker-no-l2`,
                logFile: join(lab.topology.logDir, `${n.name}-speaker-no-l2.log`),
              },
            ),
        );
      }
      for (const n of lab.topology.nodes) {
        await waitFor(
          `${n.name} speaker (--layer2=false) serving metrics`,
          async () => {
            const r = await lab.exec('client', 'curl', ['-s', '-m', '2', `http://${n.ipv4.ip}:7473/metrics`]);
            return /bollard_speaker_info/.test(r.stdout) ? true : undefined;
          },
          30_000,
          200,
        );
      }
      assert.equal(await arpAnswers(vip), 0, 'no node answers ARP for the VIP');
      for (const p of procs) assert.ok(p.running, `${p.name} still running`);
    } finally {
      for (const p of procs) await p.kill();
      for (const n of NODES) await lab.startProcess(n, 'speaker');
    }
    await waitFor(
      'the VIP answered again',
      async () => ((await arpAnswers(vip)) > 0 ? true : undefined),
      30_000,
      200,
    );
  });
});
