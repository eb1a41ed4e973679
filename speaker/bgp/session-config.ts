// What a BGP session is configured with, the I/O it is given (a byte-stream Conn, a dial function,
// events), the OPEN it sends (the families it offers and its capabilities), the FSM settings that
// follow from it, and the session's message counters.
import type { Capability } from '../../proto/bgp/capabilities.js';
import { Afi, Safi } from '../../proto/bgp/constants.js';
import { IPV4_UNICAST, IPV6_UNICAST, type Family } from '../../proto/bgp/family.js';
import { makeOpen, type OpenMessage } from '../../proto/bgp/open.js';
import type { FsmConfig } from '../../proto/bgp/fsm.js';

/** A byte-stream connection (a TCP socket in production, an in-memory pipe in tests). */
export interface Conn {
  readonly localAddress: string;
  readonly remoteAddress: string;
  write(bytes: Uint8Array): void;
  /** Closes after flushing what was written. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  onData(cb: (bytes: Uint8Array) => void): void;
  onClose(cb: () => void): void;
}

export interface SessionConfig {
  /** For logs and metrics: the BGPPeer name (or address). */
  readonly name: string;
  readonly peerAddress: string;
  readonly localAsn: number;
  /** A fixed peer ASN, or a dynamic one ('internal' = ours, 'external' = any other). */
  readonly peerAsn: number | 'internal' | 'external';
  readonly routerId: string;
  /** Proposed hold time, seconds (0 = none, else >= 3). */
  readonly holdTime: number;
  /** Keepalive interval, seconds; never longer than the negotiated hold time / 3. */
  readonly keepaliveTime: number;
  /** Retry interval cap between connection attempts, ms. */
  readonly connectRetryMs?: number;
  /** Only accept connections. */
  readonly passive?: boolean;
  readonly gracefulRestart?: boolean;
  /** RFC 4724 Restart Time advertised, seconds (default 120). */
  readonly restartTime?: number;
  /** Carry both families on this session regardless of transport (dualStackAddressFamily). */
  readonly dualStack?: boolean;
  /** Our addresses for next hops of the other family, and the IPv6 link-local next hop (single-hop only). */
  readonly nextHops?: { readonly ipv4?: string; readonly ipv6?: string; readonly ipv6LinkLocal?: string };
  /** Send IPv6 link-local next hops (directly connected peers). */
  readonly linkLocalNextHop?: boolean;
  /**
   * An unnumbered session (BGPPeer.interface) between link-local addresses: both families get
   * IPv6 next hops from `nextHops` (ipv6 and ipv6LinkLocal of the interface), IPv4 per RFC 8950.
   */
  readonly unnumbered?: boolean;
  /** Advertised in the FQDN capability. */
  readonly hostname?: string;
}

export type SessionStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface SessionEvents {
  onStateChange?(state: SessionStateName, prev: SessionStateName): void;
  /** After every change of what the peer has from us. */
  onRibOut?(announced: number, pending: number): void;
}

export type Dial = (signal: AbortSignal) => Promise<Conn>;

const v4 = (p: string): boolean => !p.includes(':');

/**
 * Families we offer on a session: the transport's own family, plus the other when dualStack.
 * RFC 8950 extended next hop is offered for IPv4 over an IPv6 session.
 */
export function offeredFamilies(peerAddress: string, dualStack: boolean): Family[] {
  if (dualStack) return [IPV4_UNICAST, IPV6_UNICAST];
  return v4(peerAddress) ? [IPV4_UNICAST] : [IPV6_UNICAST];
}

/** Our OPEN for this session. */
export function buildOpen(cfg: SessionConfig, restarted: boolean): OpenMessage {
  const fams = offeredFamilies(cfg.peerAddress, cfg.dualStack === true);
  const caps: Capability[] = fams.map((f) => ({ type: 'multiprotocol', afi: f.afi, safi: f.safi }));
  caps.push(
    { type: 'routeRefresh' },
    { type: 'fourOctetAs', asn: cfg.localAsn },
    { type: 'extendedMessage' },
  );
  if (!v4(cfg.peerAddress))
    caps.push({
      type: 'extendedNextHop',
      entries: [{ afi: Afi.IPV4, safi: Safi.UNICAST, nextHopAfi: Afi.IPV6 }],
    });
  if (cfg.gracefulRestart) {
    caps.push({
      type: 'gracefulRestart',
      restarting: restarted,
      notification: false,
      restartTime: cfg.restartTime ?? 120,
      // The data plane (kube-proxy) keeps forwarding while the speaker restarts.
      families: fams.map((f) => ({ afi: f.afi, safi: f.safi, forwarding: true })),
    });
  }
  if (cfg.hostname) caps.push({ type: 'fqdn', hostname: cfg.hostname.slice(0, 64), domain: '' });
  return makeOpen({ asn: cfg.localAsn, bgpId: cfg.routerId, holdTime: cfg.holdTime, capabilities: caps });
}

export interface SessionCounters {
  opensSent: number;
  opensReceived: number;
  notificationsSent: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  routeRefreshReceived: number;
  routeRefreshSent: number;
  updatesSent: number;
  updatesReceived: number;
}

export function newCounters(): SessionCounters {
  return {
    opensSent: 0,
    opensReceived: 0,
    notificationsSent: 0,
    keepalivesSent: 0,
    keepalivesReceived: 0,
    routeRefreshReceived: 0,
    routeRefreshSent: 0,
    updatesSent: 0,
    updatesReceived: 0,
  };
}

/** The RFC 4271 FSM's settings for a session so configured. */
export function fsmConfigOf(config: SessionConfig): FsmConfig {
  const peer = config.peerAsn;
  return {
    localAsn: config.localAsn,
    localBgpId: config.routerId,
    ...(typeof peer === 'number'
      ? { peerAsn: peer }
      : peer === 'internal'
        ? { peerAsn: config.localAsn }
        : {}),
    holdTime: config.holdTime,
    minHoldTime: 3,
    connectRetryTime: 120,
    largeHoldTime: 240,
  };
}
