// The soak, short (the long one is `npm run bench -- chaos --parts=soak`): 300 LoadBalancer Services,
// 3 endpoints each, under 1,500 create/delete/update operations of churn at 50/s (about 30 s) with
// the controller and 3 speakers.
// Afterwards every Service has a VIP no other Service holds and exactly one speaker announces it, and
// no speaker declared another dead while it lasted (their membership runs on its own thread). The
// controller and the speakers run under deploy/base's memory limit (512 MiB, in a memory cgroup): none
// is OOM-killed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { SPEAKER_METRICS_PORT } from '../../lab/lab.js';
import { KubeClient } from '../../k8s/client.js';
import { readManifests } from '../../lab/deploy.js';
import { repoPath } from '../../lab/repo.js';
import { burst, metricValue } from '../support/chaos.js';
import { churn, soakPoolObjects, soakProblems } from '../support/soak.js';

const NS = 'metallb-system';
const COUNT = 300;
/** The speaker's resources.limits.memory in deploy/base (MiB); the controller's is the same. */
const MEMORY_LIMIT_MIB = ((): number => {
  const ds = readManifests(repoPath('deploy', 'base', 'speaker.yaml')).find((m) => m.kind === 'DaemonSet') as
    | { spec?: { template?: { spec?: { containers?: { resources?: { limits?: { memory?: string } } }[] } } } }
    | undefined;
  const limit = ds?.spec?.template?.spec?.containers?.[0]?.resources?.limits?.memory ?? '';
  const mib = /^(\d+)Mi$/.exec(limit)?.[1];
  assert.ok(mib, `speaker memory limit ${limit} in Mi`);
  return Number(mib);
})();

describe('soak, short: 300 Services under 1,500 churn operations at 50/s', () => {
  let lab: Lab;
  let admin: KubeClient;
  const selector = { app: 'soak' };

  const speakerMetrics = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const n of lab.topology.nodes) {
      const r = await lab.exec(n.name, 'curl', [
        '-sf',
        '-m',
        '3',
        `http://${n.ipv4.ip}:${SPEAKER_METRICS_PORT}/metrics`,
      ]);
      out.set(n.name, r.code === 0 ? r.stdout : '');
    }
    return out;
  };
  const deaths = async (): Promise<number> =>
    [...(await speakerMetrics()).values()].reduce(
      (sum, text) => sum + (metricValue(text, 'bollard_membership_failures_detected_total') ?? NaN),
      0,
    );
  let lastProblem = '';
  const converged = (what: string): Promise<true> =>
    waitFor(
      what,
      async () => {
        lastProblem = (await soakProblems(admin, 'soak', speakerMetrics)) ?? '';
        return lastProblem === '' ? true : undefined;
      },
      120_000,
      1000,
    ).catch((err: Error) => assert.fail(`${err.message}: ${lastProblem}`));

  before(async () => {
    // no kube-proxy: nothing here needs Service forwarding, and the soak measures Bollard
    lab = await startLab({ nodes: 3, router: 'bird', kubeProxy: false, memoryLimitMiB: MEMORY_LIMIT_MIB });
    await lab.apply(...soakPoolObjects(NS, '10.100.0.0/22'));
    admin = KubeClient.fromFile(lab.topology.kubeconfig);
    await lab.pods.ensureNamespace('soak');
    for (const n of lab.topology.nodes)
      await lab.pods.add({ namespace: 'soak', node: n.name, labels: selector });
    await burst(admin, { namespace: 'soak', count: COUNT, prefix: 'k', concurrency: 16, selector });
    await converged('every Service announced once');
  });
  after(async () => {
    admin?.close();
    await lab?.stop();
  });

  it('after the churn, every Service has its own VIP and exactly one announcer; no speaker was declared dead', async () => {
    const deathsBefore = await deaths();
    const r = await churn(admin, {
      namespace: 'soak',
      existing: Array.from({ length: COUNT }, (_, i) => `k${i}`),
      floor: COUNT / 2,
      selector,
      ratePerSecond: 50,
      seconds: 30,
      operations: 1500, // a fixed amount of work (~30 s at 50/s), however slow the machine
    });
    process.stdout.write(
      `# churn: ${r.ops} operations in ${r.seconds.toFixed(1)} s, ${r.errors} failed, ${r.skipped} skipped\n`,
    );
    assert.equal(r.ops + r.skipped, 1500);
    assert.ok(r.ops >= 1000, `only ${r.ops} operations`);
    assert.equal(r.errors, 0);
    await converged('every Service announced once after the churn');
    assert.equal(await deaths(), deathsBefore, 'members declared dead during the churn');
    for (const [host, proc] of [
      ['machine', 'controller'],
      ...lab.topology.nodes.map((n) => [n.name, 'speaker']),
    ]) {
      const u = lab.memoryUsage(host as string, proc as string);
      assert.ok(u, `${host}/${proc} has a memory cgroup`);
      assert.equal(u.limitBytes, MEMORY_LIMIT_MIB * 2 ** 20);
      assert.ok(u.currentBytes > 20 * 2 ** 20, `${host}/${proc} runs in it (${u.currentBytes} bytes)`);
      assert.equal(u.oomKills, 0, `${host}/${proc} OOM-killed`);
      process.stdout.write(
        `# ${host}/${proc}: peak ${(u.peakBytes / 2 ** 20).toFixed(0)} MiB of ${MEMORY_LIMIT_MIB}\n`,
      );
    }
  });
});
