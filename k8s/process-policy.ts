// What the controller and the speaker do with an error no code caught. A promise rejection nobody
// handled is logged (one JSON line with the reason and its stack) and counted, and the process goes
// on: that piece of work is lost, but nothing was left half-changed by it. An exception thrown out to
// the event loop is logged as fatal and counted, and the process exits 1: it stopped some code in the
// middle, so the state in memory may be inconsistent, and a restart (the kubelet restarts the pod)
// rebuilds everything from the apiserver and the peers.
import type { EventEmitter } from 'node:events';
import { Counter } from 'prom-client';
import { errorFields } from './logger.js';

export type FaultKind = 'unhandledRejection' | 'uncaughtException';

/** Registered by each program's metrics (k8s/shared-metrics.ts). */
export const processFaults = new Counter({
  name: 'bollard_process_faults_total',
  help: 'Errors no code caught: kind=unhandledRejection (logged; the process goes on) or uncaughtException (logged; the process exits 1 to be restarted).',
  labelNames: ['kind'] as const,
  registers: [],
});

export interface PolicyLog {
  error(fields: Record<string, unknown>, msg: string): void;
  fatal(fields: Record<string, unknown>, msg: string): void;
  /** Writes out what is buffered, then calls back (pino's flush). */
  flush(cb?: (err?: Error) => void): void;
}

export interface ProcessPolicyOptions {
  readonly log: PolicyLog;
  /** Ends the process (default process.exit). */
  readonly exit?: (code: number) => void;
  /** Exit even if the log has not confirmed its flush by then (default 2 s). */
  readonly flushTimeoutMs?: number;
  /** Where the events come from (default process). */
  readonly process?: EventEmitter;
}

export interface ProcessPolicy {
  uninstall(): void;
}

/** Installs the policy; call it first thing in a program's entry point. */
export function installProcessPolicy(o: ProcessPolicyOptions): ProcessPolicy {
  const proc: EventEmitter = o.process ?? process;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  let exiting = false;
  const onRejection = (reason: unknown): void => {
    processFaults.inc({ kind: 'unhandledRejection' });
    o.log.error(
      { fault: 'unhandledRejection', ...errorFields(reason) },
      'unhandled promise rejection: that work is lost; the process goes on',
    );
  };
  const onException = (err: unknown, origin?: string): void => {
    processFaults.inc({ kind: 'uncaughtException' });
    o.log.fatal(
      { fault: 'uncaughtException', ...(origin ? { origin } : {}), ...errorFields(err) },
      'uncaught exception: the state in memory may be inconsistent; exiting to be restarted',
    );
    if (exiting) return;
    exiting = true;
    const timer = setTimeout(() => exit(1), o.flushTimeoutMs ?? 2000);
    o.log.flush(() => {
      clearTimeout(timer);
      exit(1);
    });
  };
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return {
    uninstall() {
      proc.off('unhandledRejection', onRejection);
      proc.off('uncaughtException', onException);
    },
  };
}
