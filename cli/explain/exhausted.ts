// For a Service pending on a full pool: who holds the pool's addresses and what the user can do
// (pure). Small pools list every holder; large ones the newest few, since the newest are the likeliest
// to be a mistake or a test left behind.
import type { Assignment, PoolVerdict } from '../../controller/allocator.js';

/** Pools with at most this many holders list them all. */
export const LIST_ALL_UP_TO = 10;
/** Larger pools list this many of the newest holders. */
export const NEWEST = 5;

export interface ExhaustedPool {
  readonly pool: string;
  readonly holders: readonly { service: string; ips: readonly string[]; created?: string }[];
  /** Holders not listed (large pools). */
  readonly more: number;
  readonly remedies: readonly string[];
}

/**
 * `alternatives`: pools the allocator would take an address from if the Service named them in
 * metallb.io/address-pool (the annotation reaches pools with autoAssign off too).
 */
export function exhaustedPools(
  verdicts: readonly PoolVerdict[],
  assignments: readonly Assignment[],
  created: ReadonlyMap<string, string>,
  sharingKey: string | undefined,
  alternatives: readonly string[],
): ExhaustedPool[] {
  const exhausted = verdicts.filter((v) => v.verdict === 'exhausted');
  if (exhausted.length === 0) return [];
  const usable = alternatives;
  return exhausted.map((v) => {
    const all = assignments
      .filter((a) => a.pool === v.pool)
      .map((a) => ({
        service: a.key,
        ips: a.ips,
        ...(created.has(a.key) ? { created: created.get(a.key) } : {}),
      }))
      .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.service.localeCompare(b.service));
    const shown = all.length <= LIST_ALL_UP_TO ? all : all.slice(0, NEWEST);
    const remedies = [
      ...(usable.length > 0
        ? [
            `use a pool with free addresses: annotate the Service metallb.io/address-pool: ${usable.join(' or ')}`,
          ]
        : []),
      sharingKey
        ? `share an address: the holders above that should share with it need metallb.io/allow-shared-ip: ${sharingKey} and ports that do not overlap`
        : 'share an address with a holder on other ports: give both metallb.io/allow-shared-ip with one key',
      `make the pool larger: add a range or CIDR to IPAddressPool ${v.pool}'s spec.addresses`,
      'or free an address: delete a holder that no longer needs it, or make it type ClusterIP',
    ];
    return { pool: v.pool, holders: shown, more: all.length - shown.length, remedies };
  });
}
