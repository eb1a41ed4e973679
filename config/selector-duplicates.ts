// Repeats in a list of label selectors, refused as MetalLB refuses them (internal/config/config.go:
// validateLabelSelectorDuplicate, validateLabelSelectorMatchExpressions): no value twice in one
// expression, no expression twice in one selector, no selector twice in one list. "The same" as MetalLB
// compares them: matchLabels as a map, matchExpressions in their order, each expression's values sorted.
// Pure; the selectors are already valid (LabelSelector.parse).
import type { LabelSelectorRequirement, LabelSelectorSpec } from './selector.js';

export interface SelectorRepeat {
  /** Relative to the list, e.g. "[1]" or "[0].matchExpressions[2].values". */
  readonly path: string;
  readonly reason: string;
}

function expressionKey(e: LabelSelectorRequirement): string {
  return JSON.stringify([e.key, e.operator, [...(e.values ?? [])].sort()]);
}

function selectorKey(s: LabelSelectorSpec): string {
  const labels = Object.entries(s.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([labels, (s.matchExpressions ?? []).map(expressionKey)]);
}

/** Every repeat in `list` (entries with their index in the list as written). */
export function selectorRepeats(
  list: readonly { readonly index: number; readonly spec: LabelSelectorSpec }[],
): SelectorRepeat[] {
  const out: SelectorRepeat[] = [];
  const seen = new Map<string, number>();
  for (const { index, spec } of list) {
    const exprs = new Map<string, number>();
    (spec.matchExpressions ?? []).forEach((e, k) => {
      const at = `[${index}].matchExpressions[${k}]`;
      const values = e.values ?? [];
      const dup = values.find((v, i) => values.indexOf(v) !== i);
      if (dup !== undefined) out.push({ path: `${at}.values`, reason: `duplicate value "${dup}"` });
      const key = expressionKey(e);
      const first = exprs.get(key);
      if (first !== undefined)
        out.push({ path: at, reason: `duplicate of matchExpressions[${first}] in the same selector` });
      else exprs.set(key, k);
    });
    const key = selectorKey(spec);
    const first = seen.get(key);
    if (first !== undefined) out.push({ path: `[${index}]`, reason: `duplicate of selector [${first}]` });
    else seen.set(key, index);
  }
  return out;
}
