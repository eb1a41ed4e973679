// Kubernetes label selectors: validation and matching (matchLabels + matchExpressions with In, NotIn,
// Exists, DoesNotExist; all requirements ANDed; an empty selector matches everything). Pure; shared by
// the controller (pool serviceAllocation) and the speaker (node and pool selectors).

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  key: string;
  operator: Operator;
  values: readonly string[];
}

/** A validated selector. */
export class LabelSelector {
  private constructor(readonly requirements: readonly Requirement[]) {}

  static readonly everything = new LabelSelector([]);

  /** Validates a selector; returns the reason when malformed. */
  static parse(
    spec: LabelSelectorSpec | undefined | null,
  ): { ok: true; selector: LabelSelector } | { ok: false; field: string; reason: string } {
    if (spec === undefined || spec === null) return { ok: true, selector: LabelSelector.everything };
    if (typeof spec !== 'object' || Array.isArray(spec))
      return { ok: false, field: '', reason: 'a label selector must be an object' };
    const reqs: Requirement[] = [];
    const ml = spec.matchLabels ?? {};
    if (typeof ml !== 'object' || Array.isArray(ml))
      return { ok: false, field: 'matchLabels', reason: 'must be a map of strings' };
    for (const [k, v] of Object.entries(ml)) {
      const bad = validateKey(k);
      if (bad) return { ok: false, field: `matchLabels[${k}]`, reason: bad };
      if (typeof v !== 'string' || !validValue(v))
        return { ok: false, field: `matchLabels[${k}]`, reason: `invalid label value "${String(v)}"` };
      reqs.push({ key: k, operator: 'In', values: [v] });
    }
    const exprs = spec.matchExpressions ?? [];
    if (!Array.isArray(exprs)) return { ok: false, field: 'matchExpressions', reason: 'must be a list' };
    for (const [i, e] of exprs.entries()) {
      const field = `matchExpressions[${i}]`;
      if (typeof e !== 'object' || e === null) return { ok: false, field, reason: 'must be an object' };
      const bad = validateKey(e.key);
      if (bad) return { ok: false, field: `${field}.key`, reason: bad };
      const values = e.values ?? [];
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))
        return { ok: false, field: `${field}.values`, reason: 'must be a list of strings' };
      switch (e.operator) {
        case 'In':
        case 'NotIn':
          if (values.length === 0)
            return {
              ok: false,
              field: `${field}.values`,
              reason: `must be non-empty for operator ${e.operator}`,
            };
          for (const v of values)
            if (!validValue(v))
              return { ok: false, field: `${field}.values`, reason: `invalid label value "${v}"` };
          break;
        case 'Exists':
        case 'DoesNotExist':
          if (values.length > 0)
            return {
              ok: false,
              field: `${field}.values`,
              reason: `must be empty for operator ${e.operator}`,
            };
          break;
        default:
          return {
            ok: false,
            field: `${field}.operator`,
            reason: `unknown operator "${String(e.operator)}" (want In, NotIn, Exists or DoesNotExist)`,
          };
      }
      reqs.push({ key: e.key, operator: e.operator, values: [...values] });
    }
    return { ok: true, selector: new LabelSelector(reqs) };
  }

  get isEverything(): boolean {
    return this.requirements.length === 0;
  }

  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    const l = labels ?? {};
    for (const r of this.requirements) {
      const has = Object.prototype.hasOwnProperty.call(l, r.key);
      const v = l[r.key];
      switch (r.operator) {
        case 'In':
          if (!has || v === undefined || !r.values.includes(v)) return false;
          break;
        case 'NotIn':
          if (has && v !== undefined && r.values.includes(v)) return false;
          break;
        case 'Exists':
          if (!has) return false;
          break;
        case 'DoesNotExist':
          if (has) return false;
          break;
      }
    }
    return true;
  }

  /** A stable text form, e.g. for comparing selectors. */
  toString(): string {
    return this.requirements
      .map(
        (r) => `${r.key} ${r.operator}${r.values.length ? ' (' + [...r.values].sort().join(',') + ')' : ''}`,
      )
      .sort()
      .join(', ');
  }
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validateKey(key: unknown): string | undefined {
  if (typeof key !== 'string' || key === '') return 'label key must be a non-empty string';
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))
      return `invalid label key "${key}": prefix must be a DNS subdomain`;
  }
  if (!NAME.test(name)) return `invalid label key "${key}"`;
  return undefined;
}

function validValue(v: string): boolean {
  return v === '' || (v.length <= 63 && NAME.test(v));
}

/** True if any selector of the list matches (an empty list matches everything). */
export function anyMatches(
  selectors: readonly LabelSelector[],
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return selectors.length === 0 || selectors.some((s) => s.matches(labels));
}
