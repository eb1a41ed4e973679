// One way for tests to get a lab: `const lab = await startLab({ nodes: 3, router: 'bird' })`, and
// `await lab.stop()` in `after`. The lab runs in the test process, so it dies with the test (every
// child has pdeathsig; namespaces of a dead run are removed by the next one).
import { Lab, type LabOptions } from '../../lab/lab.js';
import { ensureToolchain } from '../../lab/toolchain.js';

export { Lab } from '../../lab/lab.js';
export type { LabOptions, LabTopology, LabStatus, ServiceInfo } from '../../lab/lab.js';
export type { LabPod } from '../../lab/pods.js';

/** Starts a lab for a test file (no demo objects, components on unless `components: false`). */
export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  ensureToolchain(() => undefined);
  return Lab.start({
    demo: false,
    ...opts,
    say:
      opts.say ?? (process.env.BOLLARD_LAB_VERBOSE ? (l) => process.stderr.write(`[lab] ${l}\n`) : undefined),
  });
}
