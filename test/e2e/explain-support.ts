// Runs the real `bollard explain` (the compiled standalone entry, or the TS one through tsx when the
// tests run from source) inside a lab node, where the speakers' metrics (node IPs) and the apiserver
// (the node's forwarder) are both reachable — as on a cluster node — with read-only RBAC.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../support/lab.js';
import { readManifests } from '../../lab/deploy.js';
import { repoPath } from '../support/repo.js';
import type { ServiceExplanation } from '../../cli/explain/service.js';
import type { NodeExplanation, PoolExplanation } from '../../cli/explain/pool.js';

export function explainEntry(): string[] {
  const js = fileURLToPath(new URL('../../cli/explain/cli-entry.js', import.meta.url));
  if (existsSync(js)) return [js];
  return ['--import', 'tsx', fileURLToPath(new URL('../../cli/explain/cli-entry.ts', import.meta.url))];
}

/**
 * A kubeconfig for a ServiceAccount bound only to deploy/rbac/explain.yaml's ClusterRole (bollard:explain),
 * reaching the apiserver through the node's forwarder: explain works with read-only rights.
 */
export async function explainKubeconfig(lab: Lab): Promise<string> {
  await lab.apply(...readManifests(repoPath('deploy', 'rbac', 'explain.yaml')), {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'explainer', namespace: 'default' },
  });
  await lab.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'bollard-test:explainer' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'bollard:explain' },
    subjects: [{ kind: 'ServiceAccount', name: 'explainer', namespace: 'default' }],
  });
  return lab.kubeconfigFor('default', 'explainer', { inNode: true });
}

export interface ExplainRun<T> {
  code: number;
  text: string;
  json: T;
  stderr: string;
}

export async function runExplain<T>(
  lab: Lab,
  host: string,
  kubeconfig: string,
  args: readonly string[],
): Promise<ExplainRun<T>> {
  const base = [...explainEntry(), ...args, '--kubeconfig', kubeconfig, '--namespace', 'metallb-system'];
  // One after the other (JSON, then text): the situation may still be changing, so callers that assert
  // both wait until both show it.
  const j = await lab.exec(host, process.execPath, [...base, '-o', 'json'], 30_000);
  const t = await lab.exec(host, process.execPath, base, 30_000);
  let json: T;
  try {
    json = JSON.parse(j.stdout) as T;
  } catch {
    throw new Error(`explain ${args.join(' ')}: not JSON (exit ${j.code}): ${j.stdout}\n${j.stderr}`);
  }
  return { code: j.code, text: t.stdout, json, stderr: j.stderr + t.stderr };
}

export type { ServiceExplanation, NodeExplanation, PoolExplanation };
