// Layer 2 handover (pure): a speaker told to stop serving (SIGTERM, or its Node labelled
// node.kubernetes.io/exclude-from-external-load-balancers) says "leaving" to its peers, and hands each
// VIP over before it lets go.
//
//  - "Leaving" travels with the speaker's health results and MACs through membership (authenticated
//    like them): the entry "bollard.io/leaving" beside the Service keys. Peers drop a leaving node from
//    the layer 2 election at once (no suspicion wait), unless it is the only eligible node.
//  - The old owner keeps answering ARP/NS for each VIP it hands over, but with the next owner's MAC,
//    until it sees the next owner claim the VIP on the wire (its gratuitous ARP/unsolicited NA, or any
//    answer from that MAC) and `lingerMs` more (questions and answers in flight meet an answer with the
//    same MAC from either node), or until `boundMs` passes: `Handovers`.
//  - The exclusion label on another live node that has not said "leaving" yet is not honoured at once:
//    the two would answer with different MACs for a moment. It waits for the node's leaving flag, its
//    death, or `boundMs` after the label was first seen (a wedged speaker): `deferredExclusions`.

import { EXCLUDE_LB_LABEL } from '../eligibility.js';

export const LEAVING_FACT = 'bollard.io/leaving';

/** How long a handover, or a deferred exclusion, lasts at most (ms). */
export const HANDOVER_BOUND_MS = 2000;

/** How long the old owner keeps answering (with the next owner's MAC) after the next owner's claim. */
export const HANDOVER_LINGER_MS = 250;

/** Whether a node's reported facts say it is leaving. */
export function leavingOf(facts: ReadonlySet<string> | undefined): boolean {
  return facts?.has(LEAVING_FACT) ?? false;
}

/** The nodes among `live` (self excluded) whose facts say they are leaving. */
export function leavingPeers(
  self: string,
  live: Iterable<string>,
  factsOf: (node: string) => ReadonlySet<string> | undefined,
): Set<string> {
  const out = new Set<string>();
  for (const n of live) if (n !== self && leavingOf(factsOf(n))) out.add(n);
  return out;
}

/** Why a handover ended. */
export type HandoverEnd = 'announced' | 'bound' | 'regained' | 'cancelled';

export interface HandoverEntry {
  ip: string;
  /** The Service key it belongs to. */
  service: string;
  /** The next owner. */
  to: string;
  /** The next owner's MACs (from membership); a claim from one of them ends the handover. */
  macs: readonly string[];
  /** The interfaces this node answered on ([] = every usable one). */
  interfaces: readonly string[];
  since: number;
  /** When the next owner's claim was seen (the handover ends lingerMs later). */
  claimedAt?: number;
}

export interface HandoverDone extends HandoverEntry {
  end: HandoverEnd;
  /** When it ended ('announced': when the claim was seen). */
  at: number;
}

/**
 * The VIPs this node hands over: answered with the next owner's MAC until that owner claims them on the
 * wire or the bound passes. Plain data and a clock (`now` arguments).
 */
export class Handovers {
  private readonly entries = new Map<string, HandoverEntry>();

  constructor(
    readonly boundMs: number = HANDOVER_BOUND_MS,
    readonly lingerMs: number = HANDOVER_LINGER_MS,
  ) {}

  /**
   * Starts (or redirects) handing `ip` over to `to`. A handover already going to the same node with
   * the same MACs keeps its start; one redirected elsewhere ends 'cancelled' and starts again.
   */
  start(e: Omit<HandoverEntry, 'since'>, now: number): HandoverDone | undefined {
    const cur = this.entries.get(e.ip);
    if (cur && cur.to === e.to && sameSet(cur.macs, e.macs)) return undefined;
    this.entries.set(e.ip, { ...e, since: now });
    return cur ? { ...cur, end: 'cancelled', at: now } : undefined;
  }

  /** This node owns `ip` again (or it is no longer anybody's): stop handing it over. */
  end(ip: string, end: 'regained' | 'cancelled', now: number): HandoverDone | undefined {
    const cur = this.entries.get(ip);
    if (!cur) return undefined;
    this.entries.delete(ip);
    return { ...cur, end, at: now };
  }

  /**
   * A claim for `ip` by `mac` seen on the wire: the next owner answering ends its handover `lingerMs`
   * later (expire). True when this was the first such claim.
   */
  claim(ip: string, mac: string, now: number): boolean {
    const cur = this.entries.get(ip);
    if (!cur || cur.claimedAt !== undefined || !cur.macs.includes(mac.toLowerCase())) return false;
    cur.claimedAt = now;
    return true;
  }

  /** Handovers whose claim was seen lingerMs ago ('announced'), and those past the bound ('bound'). */
  expire(now: number): HandoverDone[] {
    const out: HandoverDone[] = [];
    for (const [ip, e] of this.entries) {
      if (e.claimedAt !== undefined && now - e.claimedAt >= this.lingerMs) {
        this.entries.delete(ip);
        out.push({ ...e, end: 'announced', at: e.claimedAt });
      } else if (now - e.since >= this.boundMs) {
        this.entries.delete(ip);
        out.push({ ...e, end: 'bound', at: now });
      }
    }
    return out;
  }

  /** When `expire` next has something to do (undefined: nothing handed over). */
  nextDeadline(): number | undefined {
    let at: number | undefined;
    for (const e of this.entries.values()) {
      const due = Math.min(e.since + this.boundMs, (e.claimedAt ?? Infinity) + this.lingerMs);
      at = Math.min(at ?? Infinity, due);
    }
    return at;
  }

  has(ip: string): boolean {
    return this.entries.has(ip);
  }

  /** The VIPs handed over now, with the next owner's MACs and this node's interfaces. */
  active(): ReadonlyMap<string, HandoverEntry> {
    return this.entries;
  }

  get size(): number {
    return this.entries.size;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The handovers of one Service, ended together, as one log line. */
export function summarize(done: readonly HandoverDone[]): {
  service: string;
  to: string;
  ips: string[];
  end: HandoverEnd;
  ms: number;
}[] {
  const byKey = new Map<string, HandoverDone[]>();
  for (const d of done) {
    const k = `${d.service}\n${d.to}\n${d.end}`;
    const l = byKey.get(k) ?? [];
    l.push(d);
    byKey.set(k, l);
  }
  return [...byKey.values()].map((l) => {
    const f = l[0] as HandoverDone;
    return {
      service: f.service,
      to: f.to,
      ips: l.map((d) => d.ip),
      end: f.end,
      ms: Math.max(...l.map((d) => d.at - d.since)),
    };
  });
}

export interface LabelledNode {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * Which nodes carrying the exclusion label are not excluded yet: live peers that have not said
 * "leaving", for `boundMs` after this node first saw their label. `firstSeen` (node -> when the label
 * was first seen) is updated in place: nodes without the label are forgotten. Returns the deferred nodes
 * and when the first deferral runs out (a pass is due then).
 */
export function deferredExclusions(input: {
  self: string;
  nodes: readonly LabelledNode[];
  live: ReadonlySet<string>;
  leaving: ReadonlySet<string>;
  firstSeen: Map<string, number>;
  now: number;
  boundMs?: number;
}): { deferred: Set<string>; until: number | undefined } {
  const bound = input.boundMs ?? HANDOVER_BOUND_MS;
  const labelled = new Set<string>();
  const deferred = new Set<string>();
  let until: number | undefined;
  for (const n of input.nodes) {
    if (n.name === input.self || !Object.prototype.hasOwnProperty.call(n.labels, EXCLUDE_LB_LABEL)) continue;
    labelled.add(n.name);
    const seen = input.firstSeen.get(n.name) ?? input.now;
    input.firstSeen.set(n.name, seen);
    if (!input.live.has(n.name) || input.leaving.has(n.name) || input.now - seen >= bound) continue;
    deferred.add(n.name);
    until = Math.min(until ?? Infinity, seen + bound);
  }
  for (const n of [...input.firstSeen.keys()]) if (!labelled.has(n)) input.firstSeen.delete(n);
  return { deferred, until };
}
