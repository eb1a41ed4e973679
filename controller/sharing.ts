// Sharing an address (metallb.io/allow-shared-ip): the rules that let two Services share one (same key,
// same externalTrafficPolicy, identical selectors when Local, no port in common), and the index of the
// addresses in use per pool, family and sharing key. Pure.
import type { Family } from '../config/ip.js';
import type { Use } from './allocator-types.js';
import type { ServiceRequest } from './request.js';

/** Why req may not share `use`, or undefined if it may. */
export function sharingConflict(req: ServiceRequest, use: Use): string | undefined {
  for (const o of use.users.values()) {
    if (o.key === req.key) continue;
    if (!req.sharingKey || !o.sharingKey)
      return `${use.ip} is used by ${o.key}${o.sharingKey || req.sharingKey ? '; both Services need the same allow-shared-ip key to share it' : ''}`;
    if (req.sharingKey !== o.sharingKey)
      return `${use.ip} is used by ${o.key} with allow-shared-ip "${o.sharingKey}", not "${req.sharingKey}"`;
    if (req.etpLocal !== o.etpLocal)
      return `${use.ip} is used by ${o.key} with externalTrafficPolicy ${o.etpLocal ? 'Local' : 'Cluster'}; Local and Cluster Services never share an IP`;
    if (req.etpLocal && req.selector !== o.selector)
      return `${use.ip} is used by ${o.key} with externalTrafficPolicy Local and a different selector; Local Services share only with identical selectors`;
    for (const p of req.ports) {
      if (o.ports.some((q) => q.protocol === p.protocol && q.port === p.port))
        return `${use.ip} is used by ${o.key} on ${p.protocol}/${p.port}`;
    }
  }
  return undefined;
}

/** pool|family|sharingKey -> the IPs in use with that key (for sharing lookups). */
export class SharingIndex {
  private readonly shared = new Map<string, Set<string>>();

  private key(pool: string, family: Family, sk: string): string {
    return `${pool}|${family}|${sk}`;
  }

  /** The IPs of the pool and family in use with this sharing key. */
  ips(pool: string, family: Family, sk: string): ReadonlySet<string> | undefined {
    return this.shared.get(this.key(pool, family, sk));
  }

  add(use: Use): void {
    for (const u of use.users.values()) {
      if (!u.sharingKey) continue;
      const k = this.key(use.pool, use.family, u.sharingKey);
      let s = this.shared.get(k);
      if (!s) this.shared.set(k, (s = new Set()));
      s.add(use.ip);
    }
  }

  remove(use: Use): void {
    for (const u of use.users.values()) {
      if (!u.sharingKey) continue;
      const k = this.key(use.pool, use.family, u.sharingKey);
      const s = this.shared.get(k);
      s?.delete(use.ip);
      if (s && s.size === 0) this.shared.delete(k);
    }
  }
}
