// The Adj-RIB-Out of one BGP session: the routes we want the peer to have, what it has from us on the
// established connection, and the UPDATEs (packed by proto/bgp/packing) that take it from one to the
// other. Next hops and attributes per connection: the local address, what was negotiated (iBGP or
// eBGP, 4-octet AS, extended next hop) and the configured next hops of the other family.
import type { NextHop, PathAttribute } from '../../proto/bgp/attributes.js';
import { Afi, AS_TRANS } from '../../proto/bgp/constants.js';
import {
  DEFAULT_SESSION,
  hasFamily,
  IPV4_UNICAST,
  IPV6_UNICAST,
  type Family,
} from '../../proto/bgp/family.js';
import { encodeMessage, type BgpMessage } from '../../proto/bgp/message.js';
import { canUseIpv6NextHopForIpv4, type NegotiatedSession } from '../../proto/bgp/negotiate.js';
import { packUpdates } from '../../proto/bgp/packing.js';
import { parsePrefix, type Prefix } from '../../proto/bgp/prefix.js';
import { splitZone, unmapIpv4 } from '../../proto/address.js';
import type { SessionConfig } from './session-config.js';
import { attributeKey, type ExportedRoute, type Log } from './types.js';

const v4 = (p: string): boolean => !p.includes(':');

/** A sendable family for a prefix on this session. */
export function familyOfPrefix(prefix: string): Family {
  return v4(prefix) ? IPV4_UNICAST : IPV6_UNICAST;
}

function prefixOf(s: string): Prefix {
  return parsePrefix(s);
}

/** What the RIB reads of a connection. */
export interface RibPeer {
  readonly conn: { readonly localAddress: string };
  readonly negotiated?: NegotiatedSession | undefined;
}

export class AdjRibOut {
  private desired = new Map<string, ExportedRoute>();
  /** prefix -> attribute key, as the peer has it on the established connection. */
  private readonly sent = new Map<string, string>();

  constructor(
    private readonly config: SessionConfig,
    private readonly log: () => Log,
  ) {}

  /** Prefixes the peer has from us. */
  get announcedCount(): number {
    return this.sent.size;
  }

  /** Prefixes we want the peer to have that it does not have (or has with other attributes). */
  get pendingCount(): number {
    let n = 0;
    for (const [p, r] of this.desired) if (this.sent.get(p) !== attributeKey(r)) n++;
    return n;
  }

  /** Replaces what we want to announce. */
  setDesired(routes: readonly ExportedRoute[]): void {
    const next = new Map<string, ExportedRoute>();
    for (const r of routes) next.set(r.prefix, r);
    this.desired = next;
  }

  /** The peer has nothing from us (no established connection, or a new one). */
  clear(): void {
    this.sent.clear();
  }

  /** Forgets what the peer has of one family, so that `updates` sends all of it again (route refresh). */
  forget(fam: Family): void {
    for (const [p] of this.sent) if (hasFamily([fam], familyOfPrefix(p))) this.sent.delete(p);
  }

  /** Families we may send on this connection (negotiated, with next hops we can give). */
  sendableFamilies(c: RibPeer): Family[] {
    const fams = c.negotiated?.send.families ?? [];
    return [IPV4_UNICAST, IPV6_UNICAST].filter((f) => hasFamily(fams, f) && this.nextHop(c, f) !== undefined);
  }

  /** The next hop for a family on this connection, or undefined if we have none to give. */
  nextHop(c: RibPeer, f: Family): NextHop | undefined {
    const local = unmapIpv4(c.conn.localAddress);
    const nh = this.config.nextHops ?? {};
    if (this.config.unnumbered) {
      if (f.afi === Afi.IPV4 && !(c.negotiated && canUseIpv6NextHopForIpv4(c.negotiated))) return undefined;
      const ll = nh.ipv6LinkLocal ?? splitZone(local).address;
      return nh.ipv6 ? { global: nh.ipv6, linkLocal: ll } : { global: ll };
    }
    if (f.afi === Afi.IPV4) {
      if (v4(local)) return { global: local };
      if (nh.ipv4) return { global: nh.ipv4 };
      if (c.negotiated && canUseIpv6NextHopForIpv4(c.negotiated)) return { global: local };
      return undefined;
    }
    const global = v4(local) ? nh.ipv6 : local;
    if (!global) return undefined;
    const ll = this.config.linkLocalNextHop !== false ? nh.ipv6LinkLocal : undefined;
    return ll ? { global, linkLocal: ll } : { global };
  }

  private baseAttributes(c: RibPeer, r: ExportedRoute): PathAttribute[] {
    const n = c.negotiated;
    const internal = n !== undefined && n.peerAsn === this.config.localAsn;
    const attrs: PathAttribute[] = [{ type: 'origin', origin: 'incomplete' }];
    if (internal) {
      attrs.push({ type: 'asPath', segments: [] });
      attrs.push({ type: 'localPref', localPref: r.localPref ?? 100 });
    } else if (n?.send.fourOctetAs || this.config.localAsn <= 0xffff) {
      attrs.push({ type: 'asPath', segments: [{ type: 'sequence', asns: [this.config.localAsn] }] });
    } else {
      attrs.push({ type: 'asPath', segments: [{ type: 'sequence', asns: [AS_TRANS] }] });
      attrs.push({ type: 'as4Path', segments: [{ type: 'sequence', asns: [this.config.localAsn] }] });
    }
    if (r.communities.length > 0) attrs.push({ type: 'communities', communities: r.communities });
    if (r.largeCommunities.length > 0)
      attrs.push({ type: 'largeCommunities', communities: r.largeCommunities });
    return attrs;
  }

  /**
   * The UPDATEs (encoded) that take the peer from what it has to what we want to announce: withdrawals,
   * then one group of announcements per set of attributes. What they carry counts as sent.
   */
  updates(c: RibPeer): Uint8Array[] {
    const fams = this.sendableFamilies(c);
    const withdraw: Prefix[] = [];
    for (const [p] of this.sent) {
      const want = this.desired.get(p);
      if (!want || !hasFamily(fams, familyOfPrefix(p))) {
        withdraw.push(prefixOf(p));
        this.sent.delete(p);
      }
    }
    const groups = new Map<string, ExportedRoute[]>();
    for (const [p, r] of this.desired) {
      if (!hasFamily(fams, familyOfPrefix(p))) continue;
      const key = attributeKey(r);
      if (this.sent.get(p) === key) continue;
      const g = groups.get(key);
      if (g) g.push(r);
      else groups.set(key, [r]);
    }
    return this.pack(c, withdraw, groups);
  }

  private pack(c: RibPeer, withdraw: Prefix[], groups: Map<string, ExportedRoute[]>): Uint8Array[] {
    const params = c.negotiated?.send ?? DEFAULT_SESSION;
    const chunks: Uint8Array[] = [];
    const push = (updates: readonly BgpMessage[]): void => {
      for (const u of updates) chunks.push(encodeMessage(u, params));
    };
    try {
      if (withdraw.length > 0) push(packUpdates({ attributes: [], announce: [], withdraw }, params));
      for (const [key, routes] of groups) {
        const first = routes[0]!;
        const v4nh = this.nextHop(c, IPV4_UNICAST);
        const v6nh = this.nextHop(c, IPV6_UNICAST);
        push(
          packUpdates(
            {
              attributes: this.baseAttributes(c, first),
              ...(v4nh ? { ipv4NextHop: this.config.unnumbered ? v4nh : v4nh.global } : {}),
              ...(v6nh ? { ipv6NextHop: v6nh } : {}),
              announce: routes.map((r) => prefixOf(r.prefix)),
              withdraw: [],
            },
            params,
          ),
        );
        for (const r of routes) this.sent.set(r.prefix, key);
      }
    } catch (e) {
      this.log().error(
        { peer: this.config.name, err: e instanceof Error ? e.message : String(e) },
        'cannot build UPDATEs',
      );
    }
    return chunks;
  }
}
