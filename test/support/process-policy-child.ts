// A process with the process policy installed, as both programs install it; spawned by
// test/integration/process-policy.test.ts. Scenario in argv[2]:
//   rejection                  an unhandled rejection, then nothing more to do (exits by itself)
//   rejection-then-exception   an unhandled rejection, then an uncaught exception
// After the policy has handled the rejection, it logs "still running" with the fault metric.
import pino from 'pino';
import { Registry } from 'prom-client';
import { makeLogger } from '../../k8s/logger.js';
import { installProcessPolicy } from '../../k8s/process-policy.js';
import { registerSharedMetrics } from '../../k8s/shared-metrics.js';

const scenario = process.argv[2] ?? 'rejection';
// A synchronous destination: with pino's asynchronous one, the fatal line's synchronous flush can
// overtake a line still being written (sonic-boom), and the test reads the order of the lines.
const log = makeLogger({ component: 'child', destination: pino.destination({ dest: 1, sync: true }) });
installProcessPolicy({ log });
const registry = new Registry();
registerSharedMetrics(registry);

// Listeners run in order: this one after the policy's.
process.on('unhandledRejection', () => {
  registry.getSingleMetricAsString('bollard_process_faults_total').then(
    (metrics) => {
      log.info({ metrics }, 'still running');
      if (scenario === 'rejection-then-exception')
        setImmediate(() => {
          throw new Error('state may be corrupt');
        });
    },
    (err: unknown) => log.error({ err: String(err) }, 'no metrics'),
  );
});

const _unhandled = Promise.reject(new Error('lost work'));
