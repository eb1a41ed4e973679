// Work nobody awaits (started by an event handler or a timer) goes through background(): if it fails,
// the failure is logged with what the work was and what it concerned, and counted
// (bollard_background_failures_total{task}), instead of reaching the process's unhandledRejection.
import { Counter } from 'prom-client';
import { errorFields } from './logger.js';

/** Registered by each program's metrics (k8s/shared-metrics.ts). */
export const backgroundFailures = new Counter({
  name: 'bollard_background_failures_total',
  help: 'Work started with no caller to await it that failed, by task (each failure is logged).',
  labelNames: ['task'] as const,
  registers: [],
});

export interface BackgroundLog {
  error(fields: Record<string, unknown>, msg: string): void;
}

/**
 * Lets `work` run on its own. `task` names it in the log line and the metric (a fixed string, not
 * per object); `context` adds the object it concerns.
 */
export function background(
  log: BackgroundLog,
  task: string,
  work: PromiseLike<unknown>,
  context: Readonly<Record<string, unknown>> = {},
): void {
  Promise.resolve(work).then(undefined, (err: unknown) => {
    backgroundFailures.inc({ task });
    log.error({ ...context, task, ...errorFields(err) }, `${task} failed`);
  });
}
