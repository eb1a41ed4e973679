// Bollard installed into the lab as a user installs it: `helm install` of deploy/helm/bollard with the
// chart's defaults, or `kubectl apply -k` of deploy/ with the image set by a kustomize overlay. The
// image is already in every node's containerd (imported, as from a registry pull), so the chart's
// default `IfNotPresent` finds it.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import type { KubeClient } from '../k8s/client.js';
import { METALLB_NAMESPACE } from './deploy.js';
import { LabError } from './errors.js';
import { repoPath } from './repo.js';
import { ensureHelm } from './toolchain.js';
import { waitRolledOut } from './workloads.js';

export type InstallMethod = 'helm' | 'kustomize';
export const HELM_RELEASE = 'bollard';

function runTool(cmd: string, args: readonly string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new LabError(`${cmd} ${args.slice(0, 2).join(' ')}`, (stderr || err.message).trim()));
      else resolve(stdout);
    });
  });
}

export interface InstallOptions {
  kubeconfig: string;
  /** Where the kustomize overlay is written. */
  dir: string;
  /** Helm `--set` values (e.g. `image.tag=…`); none by default: the chart's defaults. */
  set?: Record<string, string>;
  say?: (line: string) => void;
}

export function helm(kubeconfig: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  return runTool(
    ensureHelm(() => undefined),
    ['--kubeconfig', kubeconfig, ...args],
    timeoutMs,
  );
}

function setArgs(set: Record<string, string> | undefined): string[] {
  return Object.entries(set ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

/** `helm install bollard deploy/helm/bollard -n metallb-system --create-namespace`. */
export async function helmInstall(o: InstallOptions): Promise<void> {
  await helmRelease('install', o, ['--create-namespace']);
}

function helmRelease(
  verb: 'install' | 'upgrade',
  o: InstallOptions,
  extra: readonly string[],
): Promise<string> {
  const chart = repoPath('deploy', 'helm', 'bollard');
  const args = [verb, HELM_RELEASE, chart, '--namespace', METALLB_NAMESPACE, ...extra, ...setArgs(o.set)];
  return helm(o.kubeconfig, args);
}

/** `helm upgrade` with new values (e.g. a new image tag); keeps the values given before. */
export async function helmUpgrade(o: InstallOptions): Promise<void> {
  await helmRelease('upgrade', o, ['--reuse-values']);
}

export async function helmUninstall(o: Pick<InstallOptions, 'kubeconfig'>): Promise<void> {
  await helm(o.kubeconfig, ['uninstall', HELM_RELEASE, '--namespace', METALLB_NAMESPACE, '--wait']);
}

/** A kustomize overlay over deploy/ that sets the image, applied server-side (`kubectl apply -k`). */
export async function kustomizeInstall(o: InstallOptions & { image: string }): Promise<void> {
  const overlay = join(o.dir, 'kustomize');
  mkdirSync(overlay, { recursive: true });
  const colon = o.image.lastIndexOf(':');
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [relative(overlay, repoPath('deploy'))],
      images: [
        { name: 'bollard/bollard', newName: o.image.slice(0, colon), newTag: o.image.slice(colon + 1) },
      ],
    }),
  );
  await runTool('kubectl', [
    '--kubeconfig',
    o.kubeconfig,
    'apply',
    '--server-side',
    '--force-conflicts',
    '-k',
    overlay,
  ]);
}

/** Resolves once the controller Deployment and the speaker DaemonSet have rolled out. */
export async function waitInstalled(client: KubeClient, timeoutMs = 240_000): Promise<void> {
  await Promise.all([
    waitRolledOut(client, 'Deployment', METALLB_NAMESPACE, 'controller', timeoutMs),
    waitRolledOut(client, 'DaemonSet', METALLB_NAMESPACE, 'speaker', timeoutMs),
  ]);
}
