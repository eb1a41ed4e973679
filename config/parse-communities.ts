// BGP communities: the literal forms ("a:b", "large:a:b:c") and the Community objects' aliases.
import type { CommunitySpec } from './crd-specs.gen.js';
import { ConfigError } from './errors.js';
import type { CRObject, Community } from './types.js';
import { MAX_ASN, Ctx, specOf } from './parse-fields.js';

/** A decimal of at most `max`; leading zeros allowed (MetalLB reads them with strconv.ParseUint). */
export function decimalUpTo(p: string, max: number): number | undefined {
  if (!/^[0-9]+$/.test(p)) return undefined;
  const v = Number(p.replace(/^0+(?=.)/, ''));
  return v <= max ? v : undefined;
}

/** "a:b" (16-bit each) or "large:a:b:c" (32-bit each); `text` is the canonical form (no leading zeros). */
export function parseCommunityLiteral(s: string): Community | { error: string } | undefined {
  if (s.startsWith('large:')) {
    const parts = s.slice(6).split(':');
    const v = parts.map((p) => decimalUpTo(p, MAX_ASN));
    if (parts.length !== 3 || v.some((x) => x === undefined))
      return { error: `invalid large community "${s}": want large:a:b:c with 32-bit values` };
    const [g, l1, l2] = v as [number, number, number];
    return { kind: 'large', global: g, local1: l1, local2: l2, text: `large:${g}:${l1}:${l2}` };
  }
  if (/^[0-9]+:[0-9]+$/.test(s)) {
    const v = s.split(':').map((p) => decimalUpTo(p, 65535));
    if (v.some((x) => x === undefined))
      return { error: `invalid community "${s}": want a:b with 16-bit values` };
    const [a, b] = v as [number, number];
    return { kind: 'standard', value: a * 65536 + b, text: `${a}:${b}` };
  }
  return undefined;
}

export function parseCommunities(
  objs: CRObject[],
  errors: ConfigError[],
  warnings: ConfigError[],
): Map<string, Community> {
  const out = new Map<string, Community>();
  const origin = new Map<string, string>();
  for (const o of objs) {
    const c = new Ctx('Community', o, errors, warnings);
    const list = specOf<CommunitySpec>(o).communities;
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) {
      c.fail('spec.communities', 'must be a list of {name, value}');
      continue;
    }
    list.forEach((raw: unknown, i) => {
      const e = (raw ?? {}) as { name?: unknown; value?: unknown };
      if (typeof e.name !== 'string' || e.name === '')
        return c.fail(`spec.communities[${i}].name`, 'required');
      if (typeof e.value !== 'string') return c.fail(`spec.communities[${i}].value`, 'required');
      const parsed = parseCommunityLiteral(e.value);
      if (parsed === undefined)
        return c.fail(
          `spec.communities[${i}].value`,
          `invalid community "${e.value}": want a:b or large:a:b:c`,
        );
      if ('error' in parsed) return c.fail(`spec.communities[${i}].value`, parsed.error);
      if (out.has(e.name))
        return c.fail(
          `spec.communities[${i}].name`,
          `duplicate community alias "${e.name}" (also defined in Community ${origin.get(e.name)})`,
        );
      out.set(e.name, parsed);
      origin.set(e.name, c.name);
    });
  }
  return out;
}
