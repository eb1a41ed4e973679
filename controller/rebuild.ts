// Rebuilding the allocator when a replica starts leading: every Service's status.loadBalancer.ingress
// is claimed again, oldest Service first, so a conflict between two Services' statuses is resolved
// the same way by every replica (the older keeps the address). Pure: Services and pools in, the
// allocator and what each Service cannot keep out.
import type { Pool } from '../config/types.js';
import { Allocator, type Cleared } from './allocator.js';
import type { Service } from './informers.js';
import { isOurs, olderFirst, serviceKey, serviceRequest, statusIPs } from './request.js';

export interface Rebuilt {
  allocator: Allocator;
  /** Services whose status names addresses they cannot keep, and why (reported when reconciled). */
  lost: Map<string, Cleared>;
}

export function rebuildAllocator(
  pools: readonly Pool[] | undefined,
  services: readonly Service[],
  lbClass: string | undefined,
  nsLabels: (s: Service) => Record<string, string>,
): Rebuilt {
  const allocator = new Allocator(pools ?? []);
  const lost = new Map<string, Cleared>();
  if (!pools) return { allocator, lost };
  const ours = services.filter((s) => isOurs(s, lbClass) && statusIPs(s).length > 0).sort(olderFirst);
  for (const s of ours) {
    const ips = statusIPs(s);
    const rr = serviceRequest(s, nsLabels(s));
    if (!rr.ok) continue; // reconcile reports it
    const r = allocator.claim(rr.request, ips);
    if (!r.ok) {
      const holder = ips.map((ip) => allocator.usersOf(ip)).flat()[0];
      lost.set(serviceKey(s), {
        ips,
        reason: holder ? `${r.reason}, which is older and keeps it` : r.reason,
      });
    }
  }
  return { allocator, lost };
}
