// BGP graceful shutdown (RFC 8326), pure. When this node is told to stop serving — SIGTERM (the pod is
// deleted, a rolling upgrade, node shutdown) or its Node gains the label
// node.kubernetes.io/exclude-from-external-load-balancers — its routes are not withdrawn at once: they
// are announced again with the GRACEFUL_SHUTDOWN community (65535:0) and, toward iBGP peers,
// LOCAL_PREF 0, for the drain time. A router that honours the community (docs/bgp.md) prefers every
// other path, so its ECMP set and its new flows move to the other nodes while this node's route still
// stands behind them; only then is the route withdrawn (exclusion) or the session closed (SIGTERM).
import type { BGPPeer } from '../../config/types.js';
import type { ExportedRoute } from './types.js';

/** GRACEFUL_SHUTDOWN, 65535:0 (RFC 8326), as a 32-bit community value. */
export const GRACEFUL_SHUTDOWN = 0xffff0000;

/** The drain time when none is configured (`--drain-time`, the chart's speaker.drainTimeSeconds). */
export const DEFAULT_DRAIN_MS = 5000;

/** What the drain remembers between passes. */
export interface DrainState {
  /** When this node was first seen excluded; -Infinity: it was excluded when the speaker started. */
  readonly excludedSince: number | undefined;
}

export const INITIAL_DRAIN: DrainState | undefined = undefined;

export interface DrainInput {
  /** The state the last pass returned (INITIAL_DRAIN before the first pass). */
  readonly state: DrainState | undefined;
  /** This node carries the exclusion label now. */
  readonly excluded: boolean;
  /** SIGTERM was received (the speaker is draining before it closes its sessions). */
  readonly terminating: boolean;
  readonly now: number;
  readonly drainMs: number;
  /**
   * How long an exclusion is announced as before, once seen, before the drain starts (flow handover,
   * speaker/flows: the other nodes put their rules in place first). Default 0.
   */
  readonly leadMs?: number;
}

export interface DrainDecision {
  readonly state: DrainState;
  /** Announce the routes with GRACEFUL_SHUTDOWN (and LOCAL_PREF 0 to iBGP peers). */
  readonly gracefulShutdown: boolean;
  /** Decide eligibility as if the exclusion label were absent (the drain of an exclusion is running). */
  readonly ignoreExclusion: boolean;
  /** When to decide again (the end of an exclusion's drain), if a pass is needed then. */
  readonly wakeAt?: number;
}

/** One pass's drain decision. */
export function decideDrain(i: DrainInput): DrainDecision {
  if (!i.excluded) {
    return { state: { excludedSince: undefined }, gracefulShutdown: i.terminating, ignoreExclusion: false };
  }
  // Excluded at the first pass: nothing was announced before, so there is nothing to drain.
  const since = i.state === undefined ? -Infinity : (i.state.excludedSince ?? i.now);
  const lead = since === -Infinity ? 0 : (i.leadMs ?? 0);
  if (i.now < since + lead) {
    return {
      state: { excludedSince: since },
      gracefulShutdown: false,
      ignoreExclusion: true,
      wakeAt: since + lead,
    };
  }
  const end = since + lead + i.drainMs;
  if (i.now < end) {
    return { state: { excludedSince: since }, gracefulShutdown: true, ignoreExclusion: true, wakeAt: end };
  }
  return { state: { excludedSince: since }, gracefulShutdown: true, ignoreExclusion: false };
}

/**
 * The peers whose routes are marked. On SIGTERM of a node that is not excluded, peers with
 * enableGracefulRestart are left alone: the speaker only closes TCP to them, they keep our routes
 * (at full preference) until the restarted speaker's End-of-RIB, so a rolling upgrade moves no traffic.
 * An exclusion drains every peer.
 */
export function drainedPeers(
  peers: ReadonlyMap<string, Pick<BGPPeer, 'enableGracefulRestart'>>,
  terminating: boolean,
  excluded: boolean,
): Set<string> {
  const out = new Set<string>();
  for (const [name, p] of peers) if (!terminating || excluded || !p.enableGracefulRestart) out.add(name);
  return out;
}

/**
 * The routes with GRACEFUL_SHUTDOWN added, and LOCAL_PREF 0 for iBGP peers (RFC 8326 section 4), for
 * the peers in `only` (default all); the others' routes are returned as they are.
 */
export function withGracefulShutdown(
  routes: ReadonlyMap<string, readonly ExportedRoute[]>,
  peers: ReadonlyMap<string, Pick<BGPPeer, 'internal'>>,
  only?: ReadonlySet<string>,
): Map<string, readonly ExportedRoute[]> {
  const out = new Map<string, readonly ExportedRoute[]>();
  for (const [peer, list] of routes) {
    if (only && !only.has(peer)) {
      out.set(peer, list);
      continue;
    }
    const internal = peers.get(peer)?.internal === true;
    out.set(
      peer,
      list.map((r) => {
        const communities = r.communities.includes(GRACEFUL_SHUTDOWN)
          ? r.communities
          : [...r.communities, GRACEFUL_SHUTDOWN].sort((a, b) => a - b);
        // (LOCAL_PREF is only ever set toward iBGP peers: an eBGP route has none to replace)
        return internal ? { ...r, communities, localPref: 0 } : { ...r, communities };
      }),
    );
  }
  return out;
}

/** Whether any peer (of `only`, default all) carries a route: a drain with nothing announced has nothing to wait for. */
export function anyRoute(
  routes: ReadonlyMap<string, readonly ExportedRoute[]>,
  only?: ReadonlySet<string>,
): boolean {
  for (const [peer, list] of routes) if ((!only || only.has(peer)) && list.length > 0) return true;
  return false;
}
