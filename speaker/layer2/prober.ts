// Who verifies a layer 2 announcement (pure): the VIP's successor — the next node after the owner in
// election order among the nodes eligible to announce it (so the node that would take over checks the
// one that answers now), or, when the owner is the only eligible node, the first other live speaker the
// Service's advertisements select (ineligible only for endpoints or health). Every speaker computes the
// same prober without talking about it.
//
// Speakers tell each other their MACs with their health results (membership): entries
// "bollard.io/mac=<mac>" beside the Service keys ("ns/name"; a key never holds "=" or "bollard.io/"), and,
// for the Services they own, the endpoints their delivery check could not reach:
// "bollard.io/undelivered=<ns/name>|<ip:port why; …>"; and, while it hands its VIPs over,
// "bollard.io/leaving" (handover.ts).
import type { ServiceDecision } from './decide.js';
import { electionOrder, type ElectionHashes } from './election.js';
import type { IneligibleReason } from '../eligibility.js';
import { LEAVING_FACT } from './handover.js';

/** Reasons that leave a node on the Service's LAN with a running speaker. */
const ON_THE_LAN: ReadonlySet<IneligibleReason> = new Set<IneligibleReason>([
  'no-serving-endpoint',
  'no-local-endpoint',
  'health-check-failing',
  'health-unknown',
]);

export interface Prober {
  node: string;
  /** The interfaces it asks on ([] = every usable one). */
  interfaces: readonly string[];
}

export function proberOf(
  d: ServiceDecision,
  live: ReadonlySet<string> | undefined,
  hashes?: ElectionHashes,
): Prober | undefined {
  const owner = d.owner;
  const first = d.service.ips[0];
  if (owner === undefined || first === undefined) return undefined;
  const eligible = [...d.eligible.keys()].filter((n) => n !== owner);
  if (eligible.length > 0) {
    const node = electionOrder(eligible, first, hashes)[0] as string;
    return { node, interfaces: d.eligible.get(node) ?? [] };
  }
  const others = [...d.ineligible]
    .filter(([n, r]) => n !== owner && ON_THE_LAN.has(r) && (live === undefined || live.has(n)))
    .map(([n]) => n);
  const node = electionOrder(others, first, hashes)[0];
  return node === undefined ? undefined : { node, interfaces: [] };
}

const MAC_FACT = 'bollard.io/mac=';
const UNDELIVERED_FACT = 'bollard.io/undelivered=';

/**
 * This node's facts for the other speakers: its MACs, the endpoints of owned Services not delivered,
 * and whether it is leaving (handing its VIPs over).
 */
export function layer2Facts(
  macs: readonly string[],
  undelivered: ReadonlyMap<string, readonly string[]>,
  leaving = false,
): string[] {
  return [
    ...macs.map((m) => `${MAC_FACT}${m}`),
    ...[...undelivered].map(([k, why]) => `${UNDELIVERED_FACT}${k}|${why.join('; ')}`),
    ...(leaving ? [LEAVING_FACT] : []),
  ].sort();
}

/** This node's health results plus its facts, as membership carries them. */
export function withMacFacts(healthy: ReadonlySet<string>, facts: readonly string[]): Set<string> {
  return new Set([...healthy, ...facts]);
}

/** What `facts` say of Service `key`'s undelivered endpoints ("" = all delivered, or not reported). */
export function undeliveredOf(facts: ReadonlySet<string> | undefined, key: string): string {
  const prefix = `${UNDELIVERED_FACT}${key}|`;
  for (const f of facts ?? []) if (f.startsWith(prefix)) return f.slice(prefix.length);
  return '';
}

/** The MACs among a node's reported health results (undefined when it reported none). */
export function macFactsOf(facts: ReadonlySet<string> | undefined): Set<string> | undefined {
  if (!facts) return undefined;
  let out: Set<string> | undefined;
  for (const f of facts) if (f.startsWith(MAC_FACT)) (out ??= new Set()).add(f.slice(MAC_FACT.length));
  return out;
}
