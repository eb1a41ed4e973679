/** Connection collision detection (RFC 4271 §6.8, RFC 6286 §2.3) as a pure decision. */
import { ipv4ToNumber } from '../address.js';

export type CollisionWinner = 'locally-initiated' | 'remotely-initiated';

/**
 * Of two connections with the same peer, the one to keep: the one initiated by the speaker with
 * the higher BGP Identifier (compared as unsigned 32-bit integers). With equal identifiers
 * (possible between different ASes, RFC 6286), the one initiated by the speaker with the larger AS
 * number. The other connection gets Cease / Connection Collision Resolution (6/7).
 */
export function resolveCollision(
  local: { bgpId: string; asn: number },
  remote: { bgpId: string; asn: number },
): CollisionWinner {
  const l = ipv4ToNumber(local.bgpId);
  const r = ipv4ToNumber(remote.bgpId);
  if (l !== r) return l > r ? 'locally-initiated' : 'remotely-initiated';
  return local.asn > remote.asn ? 'locally-initiated' : 'remotely-initiated';
}

/**
 * Whether a collision check applies: RFC 4271 §6.8 — an OPEN arrives on one connection while another
 * connection to the same peer is in OpenConfirm (or OpenSent with the identifier known), or in
 * Established only if the implementation opts in (CollisionDetectEstablishedState).
 */
export function collisionApplies(
  otherState: string,
  options: { collisionDetectEstablishedState?: boolean } = {},
): boolean {
  if (otherState === 'OpenConfirm' || otherState === 'OpenSent') return true;
  return otherState === 'Established' && options.collisionDetectEstablishedState === true;
}
