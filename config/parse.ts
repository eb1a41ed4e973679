// parseConfig: the metallb.io objects -> one validated, immutable Config, or every error found.
// Pure: used by the controller, the speaker and the validating webhook alike.
import { ConfigError } from './errors.js';
import { parseDuration } from './duration.js';
import {
  BITS,
  buggyCount,
  formatIP,
  parseAddressRange,
  parseIP,
  rangeSize,
  rangeToCIDRs,
  type CIDR,
  type Family,
  type IPRange,
} from './ip.js';
import { LabelSelector, anyMatches, type LabelSelectorSpec } from './selector.js';
import { selectorRepeats } from './selector-duplicates.js';
import { commonNode } from './node-overlap.js';
import type {
  BFDProfile,
  BGPAdvertisement,
  BGPPeer,
  CRObject,
  Community,
  Config,
  ConfigInput,
  ConfigNode,
  ConfigKind,
  L2Advertisement,
  Pool,
  PreferredNodeSelector,
  SecretObject,
  ServiceAllocation,
} from './types.js';

export type ParseResult =
  | { ok: true; config: Config; warnings: ConfigError[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigError[] };

type Spec = Record<string, unknown>;

const MAX_ASN = 4294967295;

/** Collects errors (and warnings) for one object. */
class Ctx {
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

function specOf(o: CRObject): Spec {
  const s = o.spec;
  return s && typeof s === 'object' && !Array.isArray(s) ? (s as Spec) : {};
}

function optString(c: Ctx, spec: Spec, key: string): string | undefined {
  const v = spec[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    c.fail(`spec.${key}`, `must be a string, got ${typeof v}`);
    return undefined;
  }
  return v;
}

function optBool(c: Ctx, spec: Spec, key: string, def: boolean): boolean {
  const v = spec[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') {
    c.fail(`spec.${key}`, `must be true or false, got ${JSON.stringify(v)}`);
    return def;
  }
  return v;
}

function optInt(c: Ctx, spec: Spec, key: string, min: number, max: number): number | undefined {
  const v = spec[key];
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

function stringList(c: Ctx, spec: Spec, key: string, field = `spec.${key}`): string[] {
  const v = spec[key];
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
function noRepeats(c: Ctx, list: readonly string[], field: string): void {
  list.forEach((x, i) => {
    const first = list.indexOf(x);
    if (first !== i) c.fail(`${field}[${i}]`, `"${x}" is listed twice (also ${field}[${first}])`);
  });
}

function selectorList(c: Ctx, raw: unknown, field: string): LabelSelector[] {
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

function checkDuplicates(kind: ConfigKind, objs: readonly CRObject[], errors: ConfigError[]): CRObject[] {
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

// ---------------------------------------------------------------------------------------------- pools

interface PoolRange {
  pool: string;
  entry: string;
  index: number;
  range: IPRange;
}

function parsePool(c: Ctx): Pool | undefined {
  const spec = specOf(c.obj);
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

const poolEntries = new WeakMap<Pool, PoolRange[]>();

const errorCounts = new WeakMap<Ctx, () => number>();
function countErrors(c: Ctx): number {
  return errorCounts.get(c)?.() ?? 0;
}

function checkPoolOverlaps(pools: Pool[], errors: ConfigError[]): Set<string> {
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
function selectPools(
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

// ---------------------------------------------------------------------------------------------- communities

/** A decimal of at most `max`; leading zeros allowed (MetalLB reads them with strconv.ParseUint). */
function decimalUpTo(p: string, max: number): number | undefined {
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

function parseCommunities(
  objs: CRObject[],
  errors: ConfigError[],
  warnings: ConfigError[],
): Map<string, Community> {
  const out = new Map<string, Community>();
  const origin = new Map<string, string>();
  for (const o of objs) {
    const c = new Ctx('Community', o, errors, warnings);
    const list = specOf(o).communities;
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

// ---------------------------------------------------------------------------------------------- advertisements

function parseL2(c: Ctx, pools: ReadonlyMap<string, Pool>, warnings: ConfigError[]): L2Advertisement {
  const spec = specOf(c.obj);
  // One that does not parse is an error, never dropped (dropped, the advertisement would cover every Service).
  const serviceSelectors = selectorList(c, spec.serviceSelectors, 'spec.serviceSelectors');
  return {
    name: c.name,
    namespace: c.namespace,
    pools: selectPools(c, spec, pools, warnings),
    nodeSelectors: selectorList(c, spec.nodeSelectors, 'spec.nodeSelectors'),
    interfaces: stringList(c, spec, 'interfaces'),
    serviceSelectors,
    preferredNodeSelectors: preferredNodeSelectors(c, spec.preferredNodeSelectors),
  };
}

/**
 * spec.preferredNodeSelectors: [{weight 1–100, preference: label selector}], both required (MetalLB's
 * CRD). The preference must be a valid selector (internal/config/config.go: preferredNodeScores); a
 * selector written twice is not a repeat to refuse, as in MetalLB: the weights add up.
 */
function preferredNodeSelectors(c: Ctx, raw: unknown): PreferredNodeSelector[] {
  const field = 'spec.preferredNodeSelectors';
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    c.fail(field, 'must be a list of {weight, preference}');
    return [];
  }
  const out: PreferredNodeSelector[] = [];
  raw.forEach((item: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      c.fail(at, 'must be an object with weight and preference');
      return;
    }
    const { weight, preference } = item as Record<string, unknown>;
    let ok = true;
    if (weight === undefined || weight === null) {
      c.fail(`${at}.weight`, 'is required (1 to 100)');
      ok = false;
    } else if (typeof weight !== 'number' || !Number.isInteger(weight)) {
      c.fail(`${at}.weight`, `must be an integer, got ${JSON.stringify(weight)}`);
      ok = false;
    } else if (weight < 1 || weight > 100) {
      c.fail(`${at}.weight`, `${weight} is out of range [1, 100]`);
      ok = false;
    }
    if (preference === undefined || preference === null) {
      c.fail(`${at}.preference`, 'is required (a label selector; {} matches every node)');
      return;
    }
    const r = LabelSelector.parse(preference as LabelSelectorSpec);
    if (!r.ok) {
      c.fail(`${at}.preference${r.field ? '.' + r.field : ''}`, r.reason);
      return;
    }
    if (ok) out.push({ weight: weight as number, preference: r.selector });
  });
  return out;
}

function parseBGPAdv(
  c: Ctx,
  pools: ReadonlyMap<string, Pool>,
  aliases: ReadonlyMap<string, Community>,
  warnings: ConfigError[],
): BGPAdvertisement {
  const spec = specOf(c.obj);
  const serviceSelectors = selectorList(c, spec.serviceSelectors, 'spec.serviceSelectors');
  // (MetalLB's CRD: aggregationLength at least 1; aggregationLengthV6 without a minimum)
  const aggregationLength = optInt(c, spec, 'aggregationLength', 1, 32) ?? 32;
  const aggregationLengthV6 = optInt(c, spec, 'aggregationLengthV6', 0, 128) ?? 128;
  const localPref = optInt(c, spec, 'localPref', 0, MAX_ASN);
  // MetalLB (bgpAdvertisementFromCR, and a CEL rule on its CRD): selecting Services leaves no room to
  // aggregate, since an aggregate stands for addresses of Services the selectors do not pick.
  if (serviceSelectors.length > 0) {
    if (aggregationLength !== 32)
      c.fail(
        'spec.aggregationLength',
        `${aggregationLength} is not allowed with serviceSelectors: only the default 32 (no aggregation)`,
      );
    if (aggregationLengthV6 !== 128)
      c.fail(
        'spec.aggregationLengthV6',
        `${aggregationLengthV6} is not allowed with serviceSelectors: only the default 128 (no aggregation)`,
      );
  }
  const selected = selectPools(c, spec, pools, warnings);
  // Per address entry, against the shortest prefix it summarises to (MetalLB: validateBGPAdvPerPool,
  // lowestMask): a range summarised to /30, /31 and /32 takes any length from 30 on.
  for (const name of selected) {
    const pool = pools.get(name);
    if (!pool) continue;
    for (const e of poolEntries.get(pool) ?? []) {
      const shortest = Math.min(...rangeToCIDRs(e.range).map((x) => x.prefix));
      const v4 = e.range.family === 4;
      const agg = v4 ? aggregationLength : aggregationLengthV6;
      if (agg < shortest) {
        c.fail(
          v4 ? 'spec.aggregationLength' : 'spec.aggregationLengthV6',
          `${agg} is shorter than prefix /${shortest} of pool ${name} (${e.entry}); the aggregate would announce addresses outside the pool`,
        );
        break;
      }
    }
  }
  const communities: Community[] = [];
  const written = stringList(c, spec, 'communities');
  noRepeats(c, written, 'spec.communities');
  written.forEach((s, i) => {
    const lit = parseCommunityLiteral(s);
    if (lit && 'error' in lit) return c.fail(`spec.communities[${i}]`, lit.error);
    if (lit) return communities.push(lit);
    const alias = aliases.get(s);
    // (a name without ":" can only be an alias: one not defined yet is a dangling reference, as in MetalLB)
    if (!alias) {
      const reason = `"${s}" is neither a community (a:b, large:a:b:c) nor a Community alias`;
      if (s.includes(':')) c.fail(`spec.communities[${i}]`, reason);
      else c.failReference(`spec.communities[${i}]`, reason);
      return;
    }
    communities.push(alias);
  });
  const peers = stringList(c, spec, 'peers');
  noRepeats(c, peers, 'spec.peers');
  return {
    name: c.name,
    namespace: c.namespace,
    pools: selected,
    aggregationLength,
    aggregationLengthV6,
    localPref,
    // One community written two ways (an alias and its value) is one community, as in MetalLB's set.
    communities: communities.filter((x, i) => communities.findIndex((y) => sameCommunity(x, y)) === i),
    nodeSelectors: selectorList(c, spec.nodeSelectors, 'spec.nodeSelectors'),
    peers,
    serviceSelectors,
  };
}

function sameCommunity(a: Community, b: Community): boolean {
  if (a.kind === 'standard') return b.kind === 'standard' && a.value === b.value;
  return b.kind === 'large' && a.global === b.global && a.local1 === b.local1 && a.local2 === b.local2;
}

/** The families a pool has addresses of. */
function familiesOf(pool: Pool): Set<Family> {
  return new Set(pool.ranges.map((r) => r.family));
}

/**
 * Two advertisements of one pool may differ in localPref only where they cannot describe the same
 * route, as MetalLB decides (internal/config/config.go: validateBGPAdvPerPool,
 * BGPAdvertisementsHaveCompatibleLocalPref, isAggrLengthDifferent): an unset localPref is 0; either
 * using serviceSelectors ends the check; different aggregation lengths in every family the pool has,
 * peers lists that are both non-empty and disjoint, or node selectors that share no Node make them
 * compatible. The later advertisement (by name) is blamed.
 */
function checkLocalPrefConflicts(
  advs: readonly BGPAdvertisement[],
  pools: ReadonlyMap<string, Pool>,
  nodes: readonly ConfigNode[] | undefined,
  errors: ConfigError[],
): void {
  const lp = (a: BGPAdvertisement): number => a.localPref ?? 0;
  const text = (a: BGPAdvertisement): string =>
    a.localPref === undefined ? 'unset (0)' : String(a.localPref);
  advs.forEach((b, j) => {
    if (b.serviceSelectors.length > 0) return;
    for (const a of advs.slice(0, j)) {
      if (a.serviceSelectors.length > 0 || lp(a) === lp(b)) continue;
      if (a.peers.length > 0 && b.peers.length > 0 && !a.peers.some((p) => b.peers.includes(p))) continue;
      const where = commonNode(a.nodeSelectors, b.nodeSelectors, nodes, false);
      if (where === undefined) continue;
      const pool = a.pools.find((name) => {
        const p = pools.get(name);
        if (!p || !b.pools.includes(name)) return false;
        const fams = familiesOf(p);
        const differs4 = a.aggregationLength !== b.aggregationLength;
        const differs6 = a.aggregationLengthV6 !== b.aggregationLengthV6;
        return !((differs4 || !fams.has(4)) && (differs6 || !fams.has(6)));
      });
      if (pool === undefined) continue;
      errors.push(
        new ConfigError(
          'BGPAdvertisement',
          b.namespace,
          b.name,
          'spec.localPref',
          `localPref ${text(b)} conflicts with localPref ${text(a)} of BGPAdvertisement ${a.name} for pool ${pool}: both announce its routes, aggregated alike, to the same peers from ${where}`,
        ),
      );
      return;
    }
  });
}

// ---------------------------------------------------------------------------------------------- peers, BFD

const DEFAULT_HOLD_MS = 90_000;

function parseDurationField(c: Ctx, spec: Spec, key: string): number | undefined {
  const s = optString(c, spec, key);
  if (s === undefined) return undefined;
  const ms = parseDuration(s);
  if (ms === undefined) c.fail(`spec.${key}`, `invalid duration "${s}" (e.g. 90s, 1m30s)`);
  return ms;
}

/**
 * spec.routerID: MetalLB takes any IP (internal/config/config.go: peerFromCR, net.ParseIP). A BGP
 * identifier is 4 octets: an IPv4 address (or an IPv4-mapped IPv6 one) is used; another IPv6 address
 * is accepted with a warning and the node's own router ID is used instead.
 */
function bgpIdentifier(c: Ctx, written: string | undefined): string | undefined {
  if (written === undefined) return undefined;
  const ip = parseIP(written);
  if (!ip) {
    c.fail('spec.routerID', `invalid router ID "${written}": not an IP address`);
    return undefined;
  }
  if (ip.family === 4) return formatIP(4, ip.value);
  if (ip.value >> 32n === 0xffffn) return formatIP(4, ip.value & 0xffffffffn);
  c.warn(
    'spec.routerID',
    `${written} cannot be a BGP identifier (4 octets, an IPv4 address); the node's own router ID is used`,
  );
  return undefined;
}

function parsePeer(
  c: Ctx,
  bfd: ReadonlyMap<string, BFDProfile>,
  secrets: readonly SecretObject[] | undefined,
): BGPPeer {
  const spec = specOf(c.obj);
  const myASN = optInt(c, spec, 'myASN', 0, MAX_ASN);
  if (spec.myASN === undefined) c.fail('spec.myASN', 'required');
  // MetalLB (peerFromCR): 0 is a missing local AS
  else if (myASN === 0) c.fail('spec.myASN', 'required: 0 is not a local AS number');
  let peerASN = optInt(c, spec, 'peerASN', 0, MAX_ASN);
  if (peerASN === 0) peerASN = undefined;
  const dyn = optString(c, spec, 'dynamicASN');
  let dynamicASN: 'internal' | 'external' | undefined;
  if (dyn !== undefined) {
    if (dyn === 'internal' || dyn === 'external') dynamicASN = dyn;
    else c.fail('spec.dynamicASN', `must be internal or external, got "${dyn}"`);
  }
  if (peerASN !== undefined && dynamicASN !== undefined)
    c.fail('spec.peerASN', 'peerASN and dynamicASN are mutually exclusive');
  if ((spec.peerASN === undefined || spec.peerASN === null || spec.peerASN === 0) && dyn === undefined)
    c.fail('spec.peerASN', 'one of peerASN and dynamicASN must be set');
  // The AS this session speaks as, instead of myASN (MetalLB: FRR's "local-as N no-prepend replace-as").
  const localASN = optInt(c, spec, 'localASN', 0, MAX_ASN) || undefined;

  const peerAddress = optString(c, spec, 'peerAddress');
  const iface = optString(c, spec, 'interface');
  if (peerAddress !== undefined && iface !== undefined)
    c.fail('spec.peerAddress', 'peerAddress and interface are mutually exclusive');
  if (peerAddress === undefined && iface === undefined)
    c.fail('spec.peerAddress', 'one of peerAddress and interface must be set');
  if (peerAddress !== undefined && !parseIP(peerAddress))
    c.fail('spec.peerAddress', `invalid IP address "${peerAddress}"`);
  const sourceAddress = optString(c, spec, 'sourceAddress');
  if (sourceAddress !== undefined && !parseIP(sourceAddress))
    c.fail('spec.sourceAddress', `invalid IP address "${sourceAddress}"`);
  const routerID = bgpIdentifier(c, optString(c, spec, 'routerID'));
  const peerPort = optInt(c, spec, 'peerPort', 1, 16384) ?? 179;

  let hold = parseDurationField(c, spec, 'holdTime');
  let keepalive = parseDurationField(c, spec, 'keepaliveTime');
  if (hold !== undefined && hold !== 0 && hold < 3000)
    c.fail('spec.holdTime', `${String(spec.holdTime)} is invalid: must be 0 or at least 3s`);
  if (hold === undefined && keepalive === undefined) {
    hold = DEFAULT_HOLD_MS;
    keepalive = DEFAULT_HOLD_MS / 3;
  } else if (hold === undefined) {
    hold = (keepalive ?? 0) * 3;
  } else if (keepalive === undefined) {
    keepalive = hold / 3;
  }
  if (keepalive !== undefined && hold !== undefined && keepalive > hold)
    c.fail(
      'spec.keepaliveTime',
      `${String(spec.keepaliveTime)} is invalid: must not exceed holdTime ${String(spec.holdTime ?? hold / 1000 + 's')}`,
    );
  if (hold === 0 && keepalive !== 0) c.fail('spec.keepaliveTime', 'must be 0 when holdTime is 0');

  const connectTimeMs = parseDurationField(c, spec, 'connectTime');
  if (
    connectTimeMs !== undefined &&
    (connectTimeMs < 1000 || connectTimeMs > 65_535_000 || connectTimeMs % 1000 !== 0)
  )
    c.fail('spec.connectTime', `${String(spec.connectTime)} is invalid: whole seconds between 1s and 65535s`);

  const password = optString(c, spec, 'password');
  let passwordSecret: { name: string; namespace: string } | undefined;
  const ps = spec.passwordSecret;
  if (ps !== undefined && ps !== null) {
    const p = ps as { name?: unknown; namespace?: unknown };
    if (typeof p.name !== 'string' || p.name === '') c.fail('spec.passwordSecret.name', 'required');
    else
      passwordSecret = {
        name: p.name,
        namespace: typeof p.namespace === 'string' && p.namespace ? p.namespace : c.namespace,
      };
  }
  if (password !== undefined && passwordSecret !== undefined)
    c.fail('spec.password', 'password and passwordSecret are mutually exclusive');
  if (passwordSecret && secrets) {
    const s = secrets.find(
      (x) =>
        x.metadata.name === passwordSecret?.name &&
        (x.metadata.namespace ?? c.namespace) === passwordSecret?.namespace,
    );
    if (!s)
      c.fail('spec.passwordSecret', `Secret ${passwordSecret.namespace}/${passwordSecret.name} not found`);
    else if (s.type !== 'kubernetes.io/basic-auth')
      c.fail(
        'spec.passwordSecret',
        `Secret ${passwordSecret.namespace}/${passwordSecret.name} has type ${s.type ?? 'Opaque'}, want kubernetes.io/basic-auth`,
      );
    else if (!s.data?.password)
      c.fail(
        'spec.passwordSecret',
        `Secret ${passwordSecret.namespace}/${passwordSecret.name} has no key "password"`,
      );
  }

  const bfdProfile = optString(c, spec, 'bfdProfile');
  if (bfdProfile !== undefined && !bfd.has(bfdProfile))
    c.failReference('spec.bfdProfile', `BFDProfile "${bfdProfile}" does not exist`);
  // MetalLB: deprecated and without effect (its webhook says so); it never meant dualStackAddressFamily.
  if (optBool(c, spec, 'disableMP', false))
    c.warn(
      'spec.disableMP',
      'deprecated and has no effect; use dualStackAddressFamily to carry both families',
    );
  const ebgpMultiHop = optBool(c, spec, 'ebgpMultiHop', false);
  const internal = dynamicASN === 'internal' || (peerASN !== undefined && peerASN === (localASN ?? myASN));
  // MetalLB (peerFromCR) refuses it only when peerASN = myASN; with dynamicASN it is accepted.
  if (ebgpMultiHop && peerASN !== undefined && peerASN === myASN)
    c.fail('spec.ebgpMultiHop', 'ebgpMultiHop cannot be set on an iBGP session (peerASN = myASN)');
  return {
    name: c.name,
    namespace: c.namespace,
    myASN: myASN ?? 0,
    localASN,
    peerASN,
    dynamicASN,
    peerAddress,
    interface: iface,
    sourceAddress,
    peerPort,
    routerID,
    holdTimeMs: hold ?? DEFAULT_HOLD_MS,
    keepaliveTimeMs: keepalive ?? DEFAULT_HOLD_MS / 3,
    connectTimeMs,
    nodeSelectors: selectorList(c, spec.nodeSelectors, 'spec.nodeSelectors'),
    password,
    passwordSecret,
    bfdProfile,
    ebgpMultiHop,
    enableGracefulRestart: optBool(c, spec, 'enableGracefulRestart', false),
    vrf: optString(c, spec, 'vrf') ?? '',
    dualStackAddressFamily: optBool(c, spec, 'dualStackAddressFamily', false),
    internal,
  };
}

/**
 * Two peers with one address (or interface) in one VRF may not both apply to a node, whatever their
 * ports: MetalLB (internal/config/validation.go: checkFRRPeersCompatible, PeerIdentifier, peersShareNode)
 * resolves their node selectors against the Nodes, and assumes they meet when there are none.
 */
function checkDuplicatePeers(
  peers: readonly BGPPeer[],
  nodes: readonly ConfigNode[] | undefined,
  errors: ConfigError[],
): void {
  const id = (p: BGPPeer): string => `${p.peerAddress ?? 'if:' + (p.interface ?? '')}|${p.vrf}`;
  peers.forEach((p, j) => {
    for (const q of peers.slice(0, j)) {
      if (id(q) !== id(p)) continue;
      const where = commonNode(q.nodeSelectors, p.nodeSelectors, nodes, true);
      if (where === undefined) continue;
      const what = p.peerAddress !== undefined ? 'address' : 'interface';
      errors.push(
        new ConfigError(
          'BGPPeer',
          p.namespace,
          p.name,
          p.peerAddress !== undefined ? 'spec.peerAddress' : 'spec.interface',
          `BGPPeer ${q.name} has the same ${what} ${p.peerAddress ?? p.interface ?? ''}${p.vrf ? ` in VRF ${p.vrf}` : ''} and both apply to ${where}; a node has one session per ${what}`,
        ),
      );
      return;
    }
  });
}

function parseBFD(c: Ctx): BFDProfile {
  const spec = specOf(c.obj);
  return {
    name: c.name,
    namespace: c.namespace,
    receiveInterval: optInt(c, spec, 'receiveInterval', 10, 60000) ?? 300,
    transmitInterval: optInt(c, spec, 'transmitInterval', 10, 60000) ?? 300,
    detectMultiplier: optInt(c, spec, 'detectMultiplier', 2, 255) ?? 3,
    echoInterval: optInt(c, spec, 'echoInterval', 10, 60000) ?? 50,
    echoMode: optBool(c, spec, 'echoMode', false),
    passiveMode: optBool(c, spec, 'passiveMode', false),
    minimumTtl: optInt(c, spec, 'minimumTtl', 1, 254) ?? 254,
  };
}

/**
 * MetalLB (internal/config/validation.go: validateConfig) refuses BFD echo mode on a peer that an
 * advertisement of a pool with IPv6 addresses reaches (named in `peers`, or every peer when none is).
 * Reported once per peer, on its bfdProfile.
 */
function checkBfdEchoIPv6(
  advs: readonly BGPAdvertisement[],
  pools: ReadonlyMap<string, Pool>,
  peers: readonly BGPPeer[],
  bfd: ReadonlyMap<string, BFDProfile>,
  errors: ConfigError[],
): void {
  const echo = peers.filter((p) => p.bfdProfile !== undefined && bfd.get(p.bfdProfile)?.echoMode === true);
  for (const p of echo) {
    for (const a of advs) {
      if (a.peers.length > 0 && !a.peers.includes(p.name)) continue;
      const v6 = a.pools.find((n) => pools.get(n)?.ranges.some((r) => r.family === 6));
      if (v6 === undefined) continue;
      errors.push(
        new ConfigError(
          'BGPPeer',
          p.namespace,
          p.name,
          'spec.bfdProfile',
          `BFDProfile "${p.bfdProfile ?? ''}" has echoMode, but BGPAdvertisement ${a.name} announces IPv6 pool ${v6} to this peer; echo mode is not allowed toward a peer that gets IPv6 routes`,
        ),
      );
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------- entry

function deepFreeze<T>(o: T): T {
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

/** Validates every object and builds the model; reports every error found, not just the first. */
export function parseConfig(input: ConfigInput): ParseResult {
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];
  const ctx = (kind: ConfigKind, o: CRObject): Ctx => {
    const c = new Ctx(kind, o, errors, warnings);
    const start = errors.length;
    errorCounts.set(c, () => errors.length - start);
    return c;
  };

  const poolObjs = checkDuplicates('IPAddressPool', input.ipAddressPools ?? [], errors);
  const poolList: Pool[] = [];
  for (const o of poolObjs) {
    const p = parsePool(ctx('IPAddressPool', o));
    if (p) poolList.push(p);
  }
  checkPoolOverlaps(poolList, errors);
  const pools = new Map(poolList.map((p) => [p.name, p]));

  const communities = parseCommunities(
    checkDuplicates('Community', input.communities ?? [], errors),
    errors,
    warnings,
  );

  const bfdProfiles = new Map<string, BFDProfile>();
  for (const o of checkDuplicates('BFDProfile', input.bfdProfiles ?? [], errors))
    bfdProfiles.set(o.metadata.name, parseBFD(ctx('BFDProfile', o)));

  const peerList: BGPPeer[] = [];
  for (const o of checkDuplicates('BGPPeer', input.bgpPeers ?? [], errors))
    peerList.push(parsePeer(ctx('BGPPeer', o), bfdProfiles, input.secrets));
  checkDuplicatePeers(peerList, input.nodes, errors);

  const l2Advertisements: L2Advertisement[] = [];
  for (const o of checkDuplicates('L2Advertisement', input.l2Advertisements ?? [], errors))
    l2Advertisements.push(parseL2(ctx('L2Advertisement', o), pools, warnings));

  const bgpObjs = checkDuplicates('BGPAdvertisement', input.bgpAdvertisements ?? [], errors);
  const bgpAdvertisements: BGPAdvertisement[] = [];
  for (const o of bgpObjs)
    bgpAdvertisements.push(parseBGPAdv(ctx('BGPAdvertisement', o), pools, communities, warnings));
  checkLocalPrefConflicts(bgpAdvertisements, pools, input.nodes, errors);
  checkBfdEchoIPv6(bgpAdvertisements, pools, peerList, bfdProfiles, errors);
  for (const a of bgpAdvertisements) {
    a.peers.forEach((p, i) => {
      if (!peerList.some((x) => x.name === p))
        warnings.push(
          new ConfigError(
            'BGPAdvertisement',
            a.namespace,
            a.name,
            `spec.peers[${i}]`,
            `BGPPeer "${p}" does not exist; it matches nothing`,
          ),
        );
    });
  }

  if (errors.length > 0) return { ok: false, errors, warnings };
  const config: Config = {
    pools,
    l2Advertisements,
    bgpAdvertisements,
    peers: new Map(peerList.map((p) => [p.name, p])),
    bfdProfiles,
    communities,
  };
  return { ok: true, config: deepFreeze(config), warnings };
}

/** One line per error, for ConfigurationState.errorSummary and logs. */
export function summarizeErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => e.message).join('\n');
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

export { BITS };
