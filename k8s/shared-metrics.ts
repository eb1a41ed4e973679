// The metrics of code both programs share, kept once per process and served by each program's registry.
import type { Registry } from 'prom-client';
import { backgroundFailures } from './background.js';
import { informerListenerErrors } from './informer-delivery.js';
import { processFaults } from './process-policy.js';

export function registerSharedMetrics(registry: Registry): void {
  registry.registerMetric(informerListenerErrors);
  registry.registerMetric(backgroundFailures);
  registry.registerMetric(processFaults);
}
