/** What a decoded UPDATE means for the RIB after RFC 7606 handling: prefixes announced and withdrawn, per family. */
import type { PathAttribute } from './attributes.js';
import { Afi, Safi } from './constants.js';
import { hasFamily, type Family } from './family.js';
import type { Prefix } from './prefix.js';
import type { UpdateDecodeResult } from './update.js';

export interface FamilyPrefix {
  readonly family: Family;
  readonly prefix: Prefix;
}

export interface RouteChanges {
  readonly announced: readonly FamilyPrefix[];
  readonly withdrawn: readonly FamilyPrefix[];
  /** Attributes of the announced prefixes (MP_REACH/MP_UNREACH removed). */
  readonly attributes: readonly PathAttribute[];
}

/**
 * Announced and withdrawn prefixes of a decoded UPDATE: under treat-as-withdraw every announced
 * prefix moves to withdrawn; prefixes of disabled families are dropped.
 */
export function routeChanges(r: UpdateDecodeResult): RouteChanges {
  const v4: Family = { afi: Afi.IPV4, safi: Safi.UNICAST };
  const announced: FamilyPrefix[] = [];
  const withdrawn: FamilyPrefix[] = [];
  const m = r.message;
  for (const p of m.withdrawn) withdrawn.push({ family: v4, prefix: p });
  for (const p of m.nlri) announced.push({ family: v4, prefix: p });
  for (const a of m.attributes) {
    if (a.type === 'mpReach')
      for (const p of a.nlri) announced.push({ family: { afi: a.afi, safi: a.safi }, prefix: p });
    if (a.type === 'mpUnreach')
      for (const p of a.withdrawn) withdrawn.push({ family: { afi: a.afi, safi: a.safi }, prefix: p });
  }
  const live = (x: FamilyPrefix): boolean => !hasFamily(r.disabledFamilies, x.family);
  const attributes = m.attributes.filter((a) => a.type !== 'mpReach' && a.type !== 'mpUnreach');
  if (r.treatAsWithdraw) {
    return { announced: [], withdrawn: [...withdrawn, ...announced].filter(live), attributes: [] };
  }
  return { announced: announced.filter(live), withdrawn: withdrawn.filter(live), attributes };
}
