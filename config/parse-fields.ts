// The parse's tools for one object: the error collector (Ctx), typed reads of spec fields, selector
// lists, MetalLB's duplicate-name checks, and the deep freeze of the finished model.
import { ConfigError } from './errors.js';
import { LabelSelector, type LabelSelectorSpec } from './selector.js';
import { selectorRepeats } from './selector-duplicates.js';
import type { CRObject, ConfigKind } from './types.js';

/**
 * A spec as the apiserver serves it: only the field names its CRD defines (config/crd-specs.gen.ts,
 * generated from the same schema as the CRDs), every value unchecked until a read below checks it.
 */
export type Unchecked<S> = { readonly [K in keyof S]?: unknown };
export type Spec = Readonly<Record<string, unknown>>;

export const MAX_ASN = 4294967295;

/** Collects errors (and warnings) for one object. */
export class Ctx {
  constructor(
    readonly kind: ConfigKind,
    readonly obj: CRObject,
    private readonly errors: ConfigError[],
    private readonly warnings: ConfigError[],
  ) {}
  get name(): string {
    return this.obj.metadata.name;
  }
  get namespace(): string {
    return this.obj.metadata.namespace ?? '';
  }
  fail(field: string, reason: string): void {
    this.errors.push(new ConfigError(this.kind, this.namespace, this.name, field, reason));
  }
  /** An error that is only a reference to an object not there (yet); see ConfigError.danglingReference. */
  failReference(field: string, reason: string): void {
    this.errors.push(new ConfigError(this.kind, this.namespace, this.name, field, reason, true));
  }
  /** Accepted, but worth telling (webhook warnings, the controller's log). */
  warn(field: string, reason: string): void {
    this.warnings.push(new ConfigError(this.kind, this.namespace, this.name, field, reason));
  }
}

export function specOf<S>(o: CRObject): Unchecked<S> {
  const s = o.spec;
  return s && typeof s === 'object' && !Array.isArray(s) ? (s as Unchecked<S>) : {};
}

export function optString<S>(c: Ctx, spec: Unchecked<S>, key: keyof S & string): string | undefined {
  const v: unknown = spec[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    c.fail(`spec.${key}`, `must be a string, got ${typeof v}`);
    return undefined;
  }
  return v;
}

export function optBool<S>(c: Ctx, spec: Unchecked<S>, key: keyof S & string, def: boolean): boolean {
  const v: unknown = spec[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') {
    c.fail(`spec.${key}`, `must be true or false, got ${JSON.stringify(v)}`);
    return def;
  }
  return v;
}

export function optInt<S>(
  c: Ctx,
  spec: Unchecked<S>,
  key: keyof S & string,
  min: number,
  max: number,
): number | undefined {
  const v: unknown = spec[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    c.fail(`spec.${key}`, `must be an integer, got ${JSON.stringify(v)}`);
    return undefined;
  }
  if (v < min || v > max) {
    c.fail(`spec.${key}`, `${v} is out of range [${min}, ${max}]`);
    return undefined;
  }
  return v;
}

export function stringList<S>(
  c: Ctx,
  spec: Unchecked<S>,
  key: keyof S & string,
  field = `spec.${key}`,
): string[] {
  const v: unknown = spec[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    c.fail(field, 'must be a list of strings');
    return [];
  }
  const out: string[] = [];
  v.forEach((x, i) => {
    if (typeof x !== 'string') c.fail(`${field}[${i}]`, 'must be a string');
    else out.push(x);
  });
  return out;
}

/** MetalLB refuses a name written twice in one list (internal/config/config.go: validateDuplicate). */
export function noRepeats(c: Ctx, list: readonly string[], field: string): void {
  list.forEach((x, i) => {
    const first = list.indexOf(x);
    if (first !== i) c.fail(`${field}[${i}]`, `"${x}" is listed twice (also ${field}[${first}])`);
  });
}

export function selectorList(c: Ctx, raw: unknown, field: string): LabelSelector[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    c.fail(field, 'must be a list of label selectors');
    return [];
  }
  const out: LabelSelector[] = [];
  const valid: { index: number; spec: LabelSelectorSpec }[] = [];
  raw.forEach((s, i) => {
    const spec = s as Parameters<typeof LabelSelector.parse>[0];
    const r = LabelSelector.parse(spec);
    if (r.ok) {
      out.push(r.selector);
      if (spec) valid.push({ index: i, spec });
    } else c.fail(`${field}[${i}]${r.field ? '.' + r.field : ''}`, r.reason);
  });
  for (const d of selectorRepeats(valid)) c.fail(`${field}${d.path}`, d.reason);
  return out;
}

export function checkDuplicates(
  kind: ConfigKind,
  objs: readonly CRObject[],
  errors: ConfigError[],
): CRObject[] {
  const seen = new Set<string>();
  const out: CRObject[] = [];
  for (const o of objs) {
    const name = o.metadata?.name;
    if (typeof name !== 'string' || name === '') {
      errors.push(
        new ConfigError(
          kind,
          o.metadata?.namespace ?? '',
          String(name ?? ''),
          'metadata.name',
          'missing name',
        ),
      );
      continue;
    }
    if (seen.has(name)) {
      errors.push(
        new ConfigError(
          kind,
          o.metadata.namespace ?? '',
          name,
          'metadata.name',
          `duplicate ${kind} name "${name}"`,
        ),
      );
      continue;
    }
    seen.add(name);
    out.push(o);
  }
  return out.sort((a, b) =>
    a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0,
  );
}

export const errorCounts = new WeakMap<Ctx, () => number>();
export function countErrors(c: Ctx): number {
  return errorCounts.get(c)?.() ?? 0;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    if (o instanceof Map) {
      for (const v of o.values()) deepFreeze(v);
      const m = o as Map<unknown, unknown>;
      m.set = () => {
        throw new TypeError('the configuration is immutable');
      };
      m.delete = () => {
        throw new TypeError('the configuration is immutable');
      };
      m.clear = () => {
        throw new TypeError('the configuration is immutable');
      };
    } else if (!(o instanceof LabelSelector)) {
      for (const v of Object.values(o)) deepFreeze(v);
    }
    Object.freeze(o);
  }
  return o;
}
