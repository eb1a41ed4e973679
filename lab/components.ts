// Bollard's own programs in the lab, started only once they exist in the tree: the controller in the
// machine's namespace (on loopback), one speaker per node inside the node's namespace (hostNetwork-
// like). Each runs with its own ServiceAccount token under deploy/rbac's RBAC, never as admin.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { repoPath } from './repo.js';
import { ManagedProcess } from './process.js';
import type { LabHost } from './hosts.js';

export type Component = 'controller' | 'speaker';

/** How to run a component's entry point (compiled JS, or TS through tsx when the lab runs from source). */
export function componentEntry(component: Component): { script: string; nodeArgs: string[] } | undefined {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const js = join(root, component, 'cli-entry.js');
  if (existsSync(js)) return { script: js, nodeArgs: [] };
  const ts = join(root, component, 'cli-entry.ts');
  if (existsSync(ts)) return { script: ts, nodeArgs: ['--import', 'tsx'] };
  return undefined;
}

export const SPEAKER_METRICS_PORT = 7472;

/**
 * The Node.js flags the Helm chart gives a component (`<component>.nodeOptions` in
 * deploy/helm/bollard/values.yaml, set as NODE_OPTIONS; "" when it sets none), so host processes can
 * run as the pods do.
 */
export function chartNodeOptions(component: Component): string {
  const values = parse(readFileSync(repoPath('deploy', 'helm', 'bollard', 'values.yaml'), 'utf8')) as Record<
    string,
    { nodeOptions?: unknown } | undefined
  >;
  const v = values[component]?.nodeOptions;
  return typeof v === 'string' ? v : '';
}

export interface ControllerOptions {
  kubeconfig: string;
  namespace: string;
  metricsPort: number;
  logDir: string;
  /** `cgroup.procs` of the memory cgroup it runs in (lab/memory-cgroup.ts). */
  cgroupProcs?: string;
}

export function startController(opts: ControllerOptions): ManagedProcess | undefined {
  const entry = componentEntry('controller');
  if (!entry) return undefined;
  return ManagedProcess.start(
    process.execPath,
    [
      ...entry.nodeArgs,
      entry.script,
      '--kubeconfig',
      opts.kubeconfig,
      '--namespace',
      opts.namespace,
      '--metrics-bind',
      `127.0.0.1:${opts.metricsPort}`,
    ],
    {
      name: 'controller',
      logFile: join(opts.logDir, 'controller.log'),
      ...(opts.cgroupProcs ? { cgroupProcs: opts.cgroupProcs } : {}),
    },
  );
}

export interface SpeakerOptions {
  kubeconfig: string;
  namespace: string;
  /** The node's own IP: metrics on <ip>:7472, reachable from lab hosts. */
  metricsHost: string;
  logDir: string;
  /** `cgroup.procs` of the memory cgroup it runs in (lab/memory-cgroup.ts). */
  cgroupProcs?: string;
  /**
   * `--drain-time` (BGP graceful shutdown). Default 2000 ms: within the 5 s a lab process gets between
   * SIGTERM and SIGKILL (lab/process.ts), as terminationGracePeriodSeconds covers it in the chart.
   */
  drainMs?: number;
  /** NODE_OPTIONS for the process (`chartNodeOptions('speaker')` to run as the chart does). */
  nodeOptions?: string;
}

/** The process lab's BGP drain time (see SpeakerOptions.drainMs). */
export const LAB_SPEAKER_DRAIN_MS = 2000;

export function startSpeaker(host: LabHost, opts: SpeakerOptions): ManagedProcess | undefined {
  const entry = componentEntry('speaker');
  if (!entry) return undefined;
  const bind = opts.metricsHost.includes(':') ? `[${opts.metricsHost}]` : opts.metricsHost;
  return host.spawn(
    process.execPath,
    [
      ...entry.nodeArgs,
      entry.script,
      '--kubeconfig',
      opts.kubeconfig,
      '--node',
      host.name,
      '--namespace',
      opts.namespace,
      '--metrics-bind',
      `${bind}:${SPEAKER_METRICS_PORT}`,
      '--drain-time',
      String(opts.drainMs ?? LAB_SPEAKER_DRAIN_MS),
    ],
    {
      name: `${host.name}/speaker`,
      logFile: join(opts.logDir, `${host.name}-speaker.log`),
      ...(opts.cgroupProcs ? { cgroupProcs: opts.cgroupProcs } : {}),
      ...(opts.nodeOptions !== undefined ? { env: { ...process.env, NODE_OPTIONS: opts.nodeOptions } } : {}),
    },
  );
}
