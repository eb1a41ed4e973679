// IPAddressPools: addresses, autoAssign, avoidBuggyIPs, serviceAllocation; overlaps between pools; the
// pools an advertisement selects; and whether a pool serves a Service (serviceAllocation rules).
import type { IPAddressPoolSpec } from './crd-specs.gen.js';
import { ConfigError } from './errors.js';
import { buggyCount, parseAddressRange, rangeSize, type CIDR, type Family, type IPRange } from './ip.js';
import { anyMatches } from './selector.js';
import type { Pool, ServiceAllocation } from './types.js';
import {
  type Spec,
  Ctx,
  specOf,
  optBool,
  stringList,
  noRepeats,
  selectorList,
  countErrors,
} from './parse-fields.js';

export interface PoolRange {
  pool: string;
  entry: string;
  index: number;
  range: IPRange;
}

export function parsePool(c: Ctx): Pool | undefined {
  const spec = specOf<IPAddressPoolSpec>(c.obj);
  const before = countErrors(c);
  const addresses = stringList(c, spec, 'addresses');
  if (spec.addresses === undefined)
    c.fail('spec.addresses', 'required: a pool needs at least one address range');
  else if (addresses.length === 0 && Array.isArray(spec.addresses))
    c.fail('spec.addresses', 'must not be empty');
  const ranges: IPRange[] = [];
  const cidrs: CIDR[] = [];
  const entries: PoolRange[] = [];
  addresses.forEach((a, i) => {
    const r = parseAddressRange(a);
    if (!r.ok) {
      c.fail(`spec.addresses[${i}]`, r.reason);
      return;
    }
    for (const prev of entries) {
      if (
        prev.range.family === r.range.family &&
        prev.range.first <= r.range.last &&
        r.range.first <= prev.range.last
      ) {
        c.fail(`spec.addresses[${i}]`, `${a} overlaps with ${prev.entry} in the same pool`);
        return;
      }
    }
    ranges.push(r.range);
    cidrs.push(...r.cidrs);
    entries.push({ pool: c.name, entry: a, index: i, range: r.range });
  });
  const autoAssign = optBool(c, spec, 'autoAssign', true);
  const avoidBuggyIPs = optBool(c, spec, 'avoidBuggyIPs', false);
  let serviceAllocation: ServiceAllocation | undefined;
  const sa = spec.serviceAllocation;
  if (sa !== undefined && sa !== null) {
    if (typeof sa !== 'object' || Array.isArray(sa)) c.fail('spec.serviceAllocation', 'must be an object');
    else {
      const s = sa as Spec;
      // Any integer, as in MetalLB (a Go int): lower is tried first, 0 (unset) last, negatives first.
      let priority = 0;
      if (s.priority !== undefined && s.priority !== null) {
        if (typeof s.priority !== 'number' || !Number.isSafeInteger(s.priority))
          c.fail('spec.serviceAllocation.priority', `must be an integer, got ${JSON.stringify(s.priority)}`);
        else priority = s.priority;
      }
      const namespaces = stringList(c, s, 'namespaces', 'spec.serviceAllocation.namespaces');
      const dupNs = namespaces.find((n, i) => namespaces.indexOf(n) !== i);
      if (dupNs !== undefined) c.fail('spec.serviceAllocation.namespaces', `duplicate namespace "${dupNs}"`);
      serviceAllocation = {
        priority,
        namespaces,
        namespaceSelectors: selectorList(
          c,
          s.namespaceSelectors,
          'spec.serviceAllocation.namespaceSelectors',
        ),
        serviceSelectors: selectorList(c, s.serviceSelectors, 'spec.serviceAllocation.serviceSelectors'),
      };
    }
  }
  if (countErrors(c) > before) return undefined;
  ranges.sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.first < b.first ? -1 : a.first > b.first ? 1 : 0,
  );
  cidrs.sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.base < b.base ? -1 : a.base > b.base ? 1 : 0,
  );
  const size: Record<Family, bigint> = { 4: 0n, 6: 0n };
  for (const r of ranges) size[r.family] += rangeSize(r) - (avoidBuggyIPs ? buggyCount(r) : 0n);
  const pool: Pool = {
    name: c.name,
    namespace: c.namespace,
    labels: { ...(c.obj.metadata.labels ?? {}) },
    addresses,
    ranges,
    cidrs,
    autoAssign,
    avoidBuggyIPs,
    serviceAllocation,
    size,
  };
  poolEntries.set(pool, entries);
  return pool;
}

export const poolEntries = new WeakMap<Pool, PoolRange[]>();

export function checkPoolOverlaps(pools: Pool[], errors: ConfigError[]): Set<string> {
  const all: PoolRange[] = [];
  for (const p of pools) all.push(...(poolEntries.get(p) ?? []));
  all.sort((a, b) =>
    a.range.family !== b.range.family
      ? a.range.family - b.range.family
      : a.range.first < b.range.first
        ? -1
        : a.range.first > b.range.first
          ? 1
          : 0,
  );
  const bad = new Set<string>();
  let maxLast: PoolRange | undefined;
  for (const cur of all) {
    if (
      maxLast &&
      maxLast.range.family === cur.range.family &&
      cur.range.first <= maxLast.range.last &&
      maxLast.pool !== cur.pool
    ) {
      // Report on the pool that sorts later by name, so the message is stable.
      const [keep, blame] = maxLast.pool < cur.pool ? [maxLast, cur] : [cur, maxLast];
      const ns = pools.find((p) => p.name === blame.pool)?.namespace ?? '';
      errors.push(
        new ConfigError(
          'IPAddressPool',
          ns,
          blame.pool,
          `spec.addresses[${blame.index}]`,
          `${blame.entry} overlaps with ${keep.entry} in pool ${keep.pool}`,
        ),
      );
      bad.add(blame.pool);
    }
    if (!maxLast || maxLast.range.family !== cur.range.family || cur.range.last > maxLast.range.last)
      maxLast = cur;
  }
  return bad;
}

/** The pools an advertisement covers: named ones plus selector matches; neither = all pools. */
export function selectPools(
  c: Ctx,
  spec: Spec,
  pools: ReadonlyMap<string, Pool>,
  warnings: ConfigError[],
): string[] {
  const names = stringList(c, spec, 'ipAddressPools');
  noRepeats(c, names, 'spec.ipAddressPools');
  const selectors = selectorList(c, spec.ipAddressPoolSelectors, 'spec.ipAddressPoolSelectors');
  if (names.length === 0 && selectors.length === 0) return [...pools.keys()].sort();
  const out = new Set<string>();
  names.forEach((n, i) => {
    if (pools.has(n)) out.add(n);
    else
      warnings.push(
        new ConfigError(
          c.kind,
          c.namespace,
          c.name,
          `spec.ipAddressPools[${i}]`,
          `IPAddressPool "${n}" does not exist; it matches nothing`,
        ),
      );
  });
  for (const p of pools.values())
    if (selectors.length > 0 && selectors.some((s) => s.matches(p.labels))) out.add(p.name);
  return [...out].sort();
}

/** Whether a pool may serve a Service in this namespace with these labels (serviceAllocation rules, ANDed). */
export function poolServes(
  pool: Pool,
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  serviceLabels: Readonly<Record<string, string>> | undefined,
): boolean {
  return poolServesWhyNot(pool, namespace, namespaceLabels, serviceLabels) === undefined;
}

/**
 * Why the pool's serviceAllocation does not select a Service in `namespace` with these labels, or
 * undefined when it does (no serviceAllocation selects everything). The one decision behind poolServes,
 * worded for users (bollard explain, Events).
 */
export function poolServesWhyNot(
  pool: Pool,
  namespace: string,
  namespaceLabels: Readonly<Record<string, string>> | undefined,
  serviceLabels: Readonly<Record<string, string>> | undefined,
): string | undefined {
  const sa = pool.serviceAllocation;
  if (!sa) return undefined;
  const nsRestricted = sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0;
  if (nsRestricted) {
    const byName = sa.namespaces.includes(namespace);
    const bySelector =
      sa.namespaceSelectors.length > 0 && sa.namespaceSelectors.some((s) => s.matches(namespaceLabels));
    if (!byName && !bySelector) {
      const parts: string[] = [];
      if (sa.namespaces.length > 0) parts.push(`namespaces [${sa.namespaces.join(', ')}]`);
      if (sa.namespaceSelectors.length > 0)
        parts.push(`namespaceSelectors (${sa.namespaceSelectors.map((s) => s.toString()).join(' | ')})`);
      return `serviceAllocation restricts it to ${parts.join(' or ')}; namespace "${namespace}" is not selected`;
    }
  }
  if (sa.serviceSelectors.length > 0 && !anyMatches(sa.serviceSelectors, serviceLabels))
    return `serviceAllocation.serviceSelectors (${sa.serviceSelectors.map((s) => s.toString()).join(' | ')}) do not match the Service's labels`;
  return undefined;
}
