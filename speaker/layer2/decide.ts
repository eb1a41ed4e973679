// Per-Service layer 2 decisions from plain data (pure): which Services are announced in layer 2, who
// is eligible, who owns each one, and what this node announces on which interfaces.
import type { Config } from '../../config/types.js';
import {
  advertisementsFor,
  electOwner,
  preferenceScores,
  selectedNodes,
  type ElectionHashes,
} from './election.js';
import { eligibleNodes, type EndpointFacts, type IneligibleReason, type NodeFacts } from '../eligibility.js';
import type { ServiceFacts } from '../protocol.js';

export interface DecideInput {
  self: string;
  config: Config;
  services: readonly ServiceFacts[];
  nodes: readonly NodeFacts[];
  endpoints: (serviceKey: string) => readonly EndpointFacts[];
  /** Health of `node` for `serviceKey`. */
  health: (node: string, serviceKey: string) => boolean | undefined;
  unknownHealth: 'eligible' | 'ineligible';
  /** Memo of the election hashes (same result, fewer sha256). */
  hashes?: ElectionHashes;
  /**
   * Speakers handing their VIPs over (speaker/layer2/handover.ts): out of the election, unless no other
   * node is eligible (then nothing is handed over and the leaving node keeps answering until it stops).
   */
  leaving?: ReadonlySet<string>;
}

export interface ServiceDecision {
  service: ServiceFacts;
  /** Undefined when no node is eligible. */
  owner: string | undefined;
  eligible: ReadonlyMap<string, readonly string[]>;
  ineligible: ReadonlyMap<string, IneligibleReason>;
}

export function decideLayer2(input: DecideInput): Map<string, ServiceDecision> {
  const out = new Map<string, ServiceDecision>();
  for (const svc of input.services) {
    if (svc.ips.length === 0) continue;
    const advs = advertisementsFor(input.config, svc);
    if (advs.length === 0) continue;
    const selected = selectedNodes(advs, input.nodes);
    const { eligible, ineligible } = eligibleNodes({
      service: {
        externalTrafficPolicy: svc.externalTrafficPolicy,
        ...(svc.healthCheckNodePort ? { healthCheckNodePort: svc.healthCheckNodePort } : {}),
      },
      endpoints: input.endpoints(svc.key),
      nodes: input.nodes,
      selected,
      health: (n) => input.health(n, svc.key),
      unknownHealth: input.unknownHealth,
    });
    if (input.leaving && input.leaving.size > 0 && [...eligible.keys()].some((n) => !input.leaving?.has(n)))
      for (const n of [...eligible.keys()])
        if (input.leaving.has(n)) {
          eligible.delete(n);
          ineligible.set(n, 'leaving');
        }
    out.set(svc.key, {
      service: svc,
      owner: electOwner(
        eligible.keys(),
        svc.ips[0] as string,
        input.hashes,
        preferenceScores(advs, input.nodes),
      ),
      eligible,
      ineligible,
    });
  }
  return out;
}

/** What `self` announces: VIP -> interfaces ([] = all). */
export function announcementsOf(
  self: string,
  decisions: ReadonlyMap<string, ServiceDecision>,
): Map<string, { interfaces: readonly string[] }> {
  const out = new Map<string, { interfaces: readonly string[] }>();
  for (const d of decisions.values()) {
    if (d.owner !== self) continue;
    const interfaces = d.eligible.get(self) ?? [];
    for (const ip of d.service.ips) out.set(ip, { interfaces });
  }
  return out;
}
