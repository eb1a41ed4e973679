// Whether two node selector lists (each: any selector matches; empty = every node) pick a common Node.
// MetalLB resolves such rules against the cluster's Nodes (internal/config/validation.go: peersShareNode;
// internal/config/config.go: BGPAdvertisementsHaveCompatibleLocalPref); so does this when the Nodes are
// given. When they are not (a caller that may not list Nodes), only what the selectors alone make certain
// counts: one list picks every node, or both lists hold the same selector. Pure.
import type { LabelSelector } from './selector.js';
import type { ConfigNode } from './types.js';

/**
 * Where the two lists meet, worded for an error ('node "n1"', 'every node', …), or undefined when they
 * do not (or cannot be shown to). `whenNoNodes`: the answer when the Nodes are given but there are none
 * (MetalLB's rules differ there: peers assume they meet, advertisements that they do not).
 */
export function commonNode(
  a: readonly LabelSelector[],
  b: readonly LabelSelector[],
  nodes: readonly ConfigNode[] | undefined,
  whenNoNodes: boolean,
): string | undefined {
  const picks = (list: readonly LabelSelector[], n: ConfigNode): boolean =>
    list.length === 0 || list.some((s) => s.matches(n.labels));
  if (nodes !== undefined) {
    if (nodes.length === 0) return whenNoNodes ? 'any node (no Node exists yet)' : undefined;
    const n = nodes.find((x) => picks(a, x) && picks(b, x));
    return n ? `node "${n.name}"` : undefined;
  }
  const all = (list: readonly LabelSelector[]): boolean =>
    list.length === 0 || list.some((s) => s.isEverything);
  if (all(a) || all(b)) return 'every node';
  const shared = a.find((s) => b.some((t) => t.toString() === s.toString()));
  return shared ? `the nodes matching "${shared.toString()}"` : undefined;
}
