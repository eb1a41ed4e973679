// Runs the real `bollard explain` (the compiled standalone entry, or the TS one through tsx when the
// tests run from source) inside a lab node, where the speakers' metrics (node IPs) and the apiserver
// (the node's forwarder) are both reachable — as on a cluster node.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../support/lab.js';
import type { ServiceExplanation } from '../../cli/explain/service.js';
import type { NodeExplanation, PoolExplanation } from '../../cli/explain/pool.js';

export function explainEntry(): string[] {
  const js = fileURLToPath(new URL('../../cli/explain/cli-entry.js', import.meta.url));
  if (existsSync(js)) return [js];
  return ['--import', 'tsx', fileURLToPath(new URL('../../cli/explain/cli-entry.ts', import.meta.url))];
}

/** The admin kubeconfig, pointed at the node's apiserver forwarder. */
export function nodeKubeconfig(lab: Lab): string {
  const dest = join(lab.dir, 'explain-node.kubeconfig');
  const text = readFileSync(lab.kubeconfig, 'utf8').replace(
    /server: \S+/g,
    `server: ${lab.topology.nodeApiserver}`,
  );
  writeFileSync(dest, text);
  return dest;
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
  const [j, t] = await Promise.all([
    lab.exec(host, process.execPath, [...base, '-o', 'json'], 30_000),
    lab.exec(host, process.execPath, base, 30_000),
  ]);
  let json: T;
  try {
    json = JSON.parse(j.stdout) as T;
  } catch {
    throw new Error(`explain ${args.join(' ')}: not JSON (exit ${j.code}): ${j.stdout}\n${j.stderr}`);
  }
  return { code: j.code, text: t.stdout, json, stderr: j.stderr + t.stderr };
}

export type { ServiceExplanation, NodeExplanation, PoolExplanation };
