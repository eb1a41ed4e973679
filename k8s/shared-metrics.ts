// The metrics of code both programs share, kept once per process and served by each program's registry.
import type { Registry } from 'prom-client';
import { informerListenerErrors } from './informer-delivery.js';

export function registerSharedMetrics(registry: Registry): void {
  for (const m of [informerListenerErrors]) registry.registerMetric(m);
}
