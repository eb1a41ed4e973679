/** End-of-RIB markers (RFC 4724 §2). */
import { Afi, Safi } from './constants.js';
import type { Family } from './family.js';
import type { UpdateMessage } from './update.js';

/** IPv4 unicast: an UPDATE with nothing in it; other families: MP_UNREACH_NLRI with no prefixes. */
export function endOfRib(family: Family): UpdateMessage {
  if (family.afi === Afi.IPV4 && family.safi === Safi.UNICAST) {
    return { type: 'update', withdrawn: [], attributes: [], nlri: [] };
  }
  return {
    type: 'update',
    withdrawn: [],
    attributes: [{ type: 'mpUnreach', afi: family.afi, safi: family.safi, withdrawn: [] }],
    nlri: [],
  };
}

/** The family an UPDATE marks the end of, or undefined if it is not an End-of-RIB marker. */
export function endOfRibFamily(u: UpdateMessage): Family | undefined {
  if (u.withdrawn.length > 0 || u.nlri.length > 0) return undefined;
  if (u.attributes.length === 0) return { afi: Afi.IPV4, safi: Safi.UNICAST };
  if (u.attributes.length === 1) {
    const a = u.attributes[0]!;
    if (a.type === 'mpUnreach' && a.withdrawn.length === 0) return { afi: a.afi, safi: a.safi };
  }
  return undefined;
}
