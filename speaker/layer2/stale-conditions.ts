// Verification conditions nobody keeps up any more. `bollard.io/Verified` and `bollard.io/AddressConflict`
// are written by a VIP's prober (verifier.ts); when the Service stops being announced in layer 2 (no
// L2Advertisement covers it any more, it moved to BGP only, no node is eligible) or nobody can verify
// it (no other speaker on its LAN), no prober writes them again and the last word — "Answering" — would
// stay on the Service. One speaker (the layer 2 reporter: the first live one by name) removes them.
// `staleVerification` is the pure choice; `StaleConditions` writes it, once per Service until the cache
// shows the conditions gone.
import type { KubeClient } from '../../k8s/client.js';
import { background } from '../../k8s/background.js';
import { objRef, type Logger } from '../../k8s/logger.js';
import { removeServiceConditions, SPEAKER_FIELD_MANAGER } from '../../k8s/service-conditions.js';
import type { ServiceFacts } from '../protocol.js';
import { ADDRESS_CONFLICT, VERIFIED } from './conditions.js';

const OURS = [VERIFIED, ADDRESS_CONFLICT];

/**
 * The Services among `candidates` that carry verification conditions but have no prober now
 * (`probed(key)` false: not announced in layer 2, no owner, or nobody to verify it), with the types to remove.
 */
export function staleVerification(
  candidates: Iterable<ServiceFacts>,
  probed: (key: string) => boolean,
): { facts: ServiceFacts; types: string[] }[] {
  const out: { facts: ServiceFacts; types: string[] }[] = [];
  for (const f of candidates) {
    const types = (f.conditions ?? []).map((c) => c.type).filter((t) => OURS.includes(t));
    if (types.length > 0 && !probed(f.key)) out.push({ facts: f, types });
  }
  return out;
}

export class StaleConditions {
  /** Service key -> the types removed and not yet gone from the cache. */
  private readonly inFlight = new Map<string, string>();

  constructor(private readonly o: { client: Pick<KubeClient, 'patch'>; log: Logger }) {}

  /**
   * Removes what `staleVerification` found among the `examined` Services (an examined Service no longer
   * stale: the cache caught up, or someone verifies it again).
   */
  remove(stale: readonly { facts: ServiceFacts; types: string[] }[], examined: Iterable<string>): void {
    const now = new Set(stale.map((s) => s.facts.key));
    for (const k of examined) if (!now.has(k)) this.inFlight.delete(k);
    for (const { facts, types } of stale) {
      const sig = types.join(',');
      if (this.inFlight.get(facts.key) === sig) continue;
      this.inFlight.set(facts.key, sig);
      const ref = objRef('Service', facts.namespace, facts.name);
      background(
        this.o.log,
        'remove stale verification conditions',
        removeServiceConditions(
          this.o.client,
          facts.namespace,
          facts.name,
          types,
          SPEAKER_FIELD_MANAGER,
        ).then(
          () =>
            this.o.log.info(
              { ...ref, conditions: types },
              'verification conditions removed: nobody verifies this Service now',
            ),
          (err: unknown) => {
            this.inFlight.delete(facts.key); // the next pass tries again
            throw err;
          },
        ),
        ref,
      );
    }
  }
}
