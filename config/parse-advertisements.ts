// L2Advertisements and BGPAdvertisements: their pools, node selectors, interfaces, aggregation, communities
// and localPref, and the conflicts between advertisements.
import type { BGPAdvertisementSpec, L2AdvertisementSpec } from './crd-specs.gen.js';
import { ConfigError } from './errors.js';
import { rangeToCIDRs, type Family } from './ip.js';
import { LabelSelector, type LabelSelectorSpec } from './selector.js';
import { commonNode } from './node-overlap.js';
import type {
  BGPAdvertisement,
  Community,
  ConfigNode,
  L2Advertisement,
  Pool,
  PreferredNodeSelector,
} from './types.js';
import { MAX_ASN, Ctx, specOf, optInt, stringList, noRepeats, selectorList } from './parse-fields.js';
import { poolEntries, selectPools } from './parse-pools.js';
import { parseCommunityLiteral } from './parse-communities.js';

export function parseL2(c: Ctx, pools: ReadonlyMap<string, Pool>, warnings: ConfigError[]): L2Advertisement {
  const spec = specOf<L2AdvertisementSpec>(c.obj);
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
export function preferredNodeSelectors(c: Ctx, raw: unknown): PreferredNodeSelector[] {
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

export function parseBGPAdv(
  c: Ctx,
  pools: ReadonlyMap<string, Pool>,
  aliases: ReadonlyMap<string, Community>,
  warnings: ConfigError[],
): BGPAdvertisement {
  const spec = specOf<BGPAdvertisementSpec>(c.obj);
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

export function sameCommunity(a: Community, b: Community): boolean {
  if (a.kind === 'standard') return b.kind === 'standard' && a.value === b.value;
  return b.kind === 'large' && a.global === b.global && a.local1 === b.local1 && a.local2 === b.local2;
}

/** The families a pool has addresses of. */
export function familiesOf(pool: Pool): Set<Family> {
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
export function checkLocalPrefConflicts(
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
