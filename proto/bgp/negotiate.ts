/**
 * What two OPENs agree on (RFC 4271 §4.2, RFC 5492, RFC 4760, RFC 6793, RFC 8654, RFC 7911, RFC 8950),
 * and the OPEN checks that need local configuration (2/2 Bad Peer AS, 2/3 Bad BGP Identifier,
 * 2/6 Unacceptable Hold Time, 2/7 Unsupported Capability).
 */
import { encodeCapability, type Capability, type ExtendedNextHopEntry } from './capabilities.js';
import { Afi, Safi } from './constants.js';
import { BgpMessageError } from './errors.js';
import { hasFamily, IPV4_UNICAST, type Family, type SessionParams } from './family.js';
import { ErrorCode, OpenSubcode } from './notification-codes.js';
import { openAsn, type OpenMessage } from './open.js';

export interface OpenPolicy {
  /** Our ASN. */
  readonly localAsn: number;
  /** The ASN(s) we accept from this peer; undefined accepts any. */
  readonly peerAsn?: number | readonly number[];
  /** Smallest non-zero hold time (seconds) we accept; RFC 4271 forbids 1 and 2 regardless. */
  readonly minHoldTime?: number;
  /** Capability types the peer must advertise (else 2/7 carrying our version of each). */
  readonly requiredCapabilities?: readonly Capability['type'][];
}

export interface NegotiatedSession {
  readonly peerAsn: number;
  readonly peerBgpId: string;
  /** Seconds; 0 means no KEEPALIVEs and no hold timer. */
  readonly holdTime: number;
  /** Seconds between KEEPALIVEs (hold time / 3, rounded down); 0 when the hold time is 0. */
  readonly keepaliveTime: number;
  /** Codec parameters for decoding what the peer sends. */
  readonly receive: SessionParams;
  /** Codec parameters for encoding what we send. */
  readonly send: SessionParams;
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  /** RFC 8950 entries both sides advertised. */
  readonly extendedNextHop: readonly ExtendedNextHopEntry[];
  /** The peer's graceful restart capability, if any. */
  readonly peerGracefulRestart?: Extract<Capability, { type: 'gracefulRestart' }>;
  /** The peer's hostname capability, if any. */
  readonly peerHostname?: { hostname: string; domain: string };
}

function families(open: OpenMessage): Family[] {
  const mp = open.capabilities.filter((c) => c.type === 'multiprotocol');
  // RFC 4760 §8 / common practice: no multiprotocol capability means IPv4 unicast only.
  return mp.length === 0 ? [IPV4_UNICAST] : mp.map((c) => ({ afi: c.afi, safi: c.safi }));
}

function addPathFamilies(from: OpenMessage, to: OpenMessage): Family[] {
  // Families `from` may send paths for and `to` may receive them for.
  const out: Family[] = [];
  for (const c of from.capabilities) {
    if (c.type !== 'addPath') continue;
    for (const e of c.entries) {
      if ((e.sendReceive & 2) === 0) continue;
      const f = { afi: e.afi, safi: e.safi };
      const ok = to.capabilities.some(
        (d) =>
          d.type === 'addPath' &&
          d.entries.some((x) => x.afi === e.afi && x.safi === e.safi && (x.sendReceive & 1) !== 0),
      );
      if (ok && !hasFamily(out, f)) out.push(f);
    }
  }
  return out;
}

const has = (o: OpenMessage, t: Capability['type']): boolean => o.capabilities.some((c) => c.type === t);

/** Checks the peer's OPEN against our policy and computes what the session runs with. Throws BgpMessageError. */
export function negotiateSession(
  local: OpenMessage,
  remote: OpenMessage,
  policy: OpenPolicy,
): NegotiatedSession {
  const peerAsn = openAsn(remote);
  const allowed = policy.peerAsn === undefined ? undefined : ([] as number[]).concat(policy.peerAsn);
  if (allowed && !allowed.includes(peerAsn)) {
    throw new BgpMessageError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.BAD_PEER_AS,
      new Uint8Array(0),
      `peer AS ${peerAsn}`,
    );
  }
  if (remote.bgpId === '0.0.0.0' || (remote.bgpId === local.bgpId && peerAsn === policy.localAsn)) {
    // RFC 6286 §2.2: identical identifiers are only allowed between different ASes.
    throw new BgpMessageError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.BAD_BGP_IDENTIFIER,
      new Uint8Array(0),
      `BGP identifier ${remote.bgpId}`,
    );
  }
  const minHold = Math.max(3, policy.minHoldTime ?? 3);
  if (remote.holdTime !== 0 && remote.holdTime < minHold) {
    throw new BgpMessageError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.UNACCEPTABLE_HOLD_TIME,
      new Uint8Array(0),
      `hold time ${remote.holdTime}`,
    );
  }
  const missing = (policy.requiredCapabilities ?? []).filter((t) => !has(remote, t));
  if (missing.length > 0) {
    const parts: number[] = [];
    for (const t of missing) {
      const mine = local.capabilities.find((c) => c.type === t);
      if (mine) {
        const { code, value } = encodeCapability(mine);
        parts.push(code, value.length, ...value);
      }
    }
    throw new BgpMessageError(
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.UNSUPPORTED_CAPABILITY,
      Uint8Array.from(parts),
      `peer lacks ${missing.join(', ')}`,
    );
  }
  const holdTime = Math.min(local.holdTime, remote.holdTime);
  const localFamilies = families(local);
  const common = families(remote).filter((f) => hasFamily(localFamilies, f));
  const fourOctetAs = has(local, 'fourOctetAs') && has(remote, 'fourOctetAs');
  const extendedMessages = has(local, 'extendedMessage') && has(remote, 'extendedMessage');
  const external = peerAsn !== policy.localAsn;
  const base = { fourOctetAs, extendedMessages, families: common, external };
  const enh = (o: OpenMessage): ExtendedNextHopEntry[] =>
    o.capabilities.flatMap((c) => (c.type === 'extendedNextHop' ? c.entries : []));
  const remoteEnh = enh(remote);
  const extendedNextHop = enh(local).filter((e) =>
    remoteEnh.some((r) => r.afi === e.afi && r.safi === e.safi && r.nextHopAfi === e.nextHopAfi),
  );
  const gr = remote.capabilities.find((c) => c.type === 'gracefulRestart');
  const fqdn = remote.capabilities.find((c) => c.type === 'fqdn');
  return {
    peerAsn,
    peerBgpId: remote.bgpId,
    holdTime,
    keepaliveTime: Math.floor(holdTime / 3),
    receive: { ...base, addPath: addPathFamilies(remote, local) },
    send: { ...base, addPath: addPathFamilies(local, remote) },
    routeRefresh: has(local, 'routeRefresh') && has(remote, 'routeRefresh'),
    enhancedRouteRefresh: has(local, 'enhancedRouteRefresh') && has(remote, 'enhancedRouteRefresh'),
    extendedNextHop,
    ...(gr && gr.type === 'gracefulRestart' ? { peerGracefulRestart: gr } : {}),
    ...(fqdn && fqdn.type === 'fqdn'
      ? { peerHostname: { hostname: fqdn.hostname, domain: fqdn.domain } }
      : {}),
  };
}

/** True when RFC 8950 lets us send IPv4 unicast with an IPv6 next hop on this session. */
export function canUseIpv6NextHopForIpv4(n: NegotiatedSession): boolean {
  return n.extendedNextHop.some(
    (e) => e.afi === Afi.IPV4 && e.safi === Safi.UNICAST && e.nextHopAfi === Afi.IPV6,
  );
}
