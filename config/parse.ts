// parseConfig: the metallb.io objects -> one validated, immutable Config, or every error found.
// Pure: used by the controller, the speaker and the validating webhook alike.
import { ConfigError } from './errors.js';
import { BITS } from './ip.js';
import type {
  BFDProfile,
  BGPAdvertisement,
  BGPPeer,
  CRObject,
  Config,
  ConfigInput,
  ConfigKind,
  L2Advertisement,
  Pool,
} from './types.js';
import { Ctx, checkDuplicates, errorCounts, deepFreeze } from './parse-fields.js';
import { parsePool, checkPoolOverlaps } from './parse-pools.js';
import { parseCommunities } from './parse-communities.js';
import { parseL2, parseBGPAdv, checkLocalPrefConflicts } from './parse-advertisements.js';
import { parsePeer, checkDuplicatePeers, parseBFD, checkBfdEchoIPv6 } from './parse-peers.js';

export type ParseResult =
  | { ok: true; config: Config; warnings: ConfigError[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigError[] };

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

export { BITS };
export { poolServes, poolServesWhyNot } from './parse-pools.js';
export { parseCommunityLiteral } from './parse-communities.js';
