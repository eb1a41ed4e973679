// Why each pool does or does not serve a Service (bollard explain, and the words of the allocator's own
// decisions): the same checks as the allocator's, read-only, over a view of its state.
import { formatIP, type Family } from '../config/ip.js';
import { poolServesWhyNot } from '../config/parse.js';
import type { Assignment, PoolState, PoolVerdict, PoolVerdictKind, Use } from './allocator-types.js';
import { familyName, type ServiceRequest } from './request.js';
import { sharingConflict, type SharingIndex } from './sharing.js';

/** What explainPool reads of the allocator. */
export interface AllocatorView {
  poolFor(ip: string): string | undefined;
  usersOf(ip: string): string[];
  use(ip: string): Use | undefined;
  readonly sharing: SharingIndex;
  checkIPs(
    req: ServiceRequest,
    ips: readonly string[],
  ): { ok: true; pool: string } | { ok: false; reason: string };
  lowestFor(req: ServiceRequest, st: PoolState, family: Family): bigint | undefined;
  exhausted(st: PoolState, families: readonly Family[]): string;
}

/** One pool's verdict for the Service. */
export function explainPool(
  view: AllocatorView,
  req: ServiceRequest,
  st: PoolState,
  cur: Assignment | undefined,
): PoolVerdict {
  const p = st.pool;
  const base = { pool: p.name, priority: p.serviceAllocation?.priority || undefined, conflicts: [] };
  const v = (
    verdict: PoolVerdictKind,
    reason: string,
    usable = false,
    conflicts: string[] = [],
  ): PoolVerdict => ({
    ...base,
    verdict,
    usable,
    reason,
    conflicts,
  });
  if (cur && cur.pool === p.name)
    return v('holds', `the Service holds ${cur.ips.join(', ')} from this pool`, true);
  if (req.requestedIPs.length > 0) {
    const mine = req.requestedIPs.filter((ip) => view.poolFor(ip) === p.name);
    if (mine.length === 0)
      return v(
        'not-requested',
        `the Service requests ${req.requestedIPs.join(', ')}, which ${req.requestedIPs.length > 1 ? 'are' : 'is'} not in this pool`,
      );
    const c = view.checkIPs(req, req.requestedIPs);
    if (!c.ok) {
      const users = mine.flatMap((ip) => view.usersOf(ip)).filter((k) => k !== req.key);
      return v('requested-ip-unavailable', c.reason, false, users);
    }
    return v(
      'available',
      `the requested ${mine.join(', ')} ${mine.length > 1 ? 'are' : 'is'} in this pool and free to use`,
      true,
    );
  }
  if (req.pool !== undefined && req.pool !== p.name)
    return v('not-requested', `the Service asks for pool ${req.pool} (metallb.io/address-pool annotation)`);
  if (req.pool === undefined && !p.autoAssign)
    return v(
      'auto-assign-off',
      'autoAssign is false: the pool serves only Services that name it in the metallb.io/address-pool annotation',
    );
  const why = poolServesWhyNot(p, req.namespace, req.namespaceLabels, req.labels);
  if (why) return v('not-selected', why);
  const has = req.families.filter((f) => p.size[f] > 0n);
  const missing = req.families.filter((f) => p.size[f] === 0n);
  if (has.length === 0 || (missing.length > 0 && req.policy !== 'PreferDualStack'))
    return v(
      'wrong-family',
      `the pool has no ${missing.map(familyName).join(' or ')} addresses; the Service needs ${req.families.map(familyName).join(' and ')}${req.policy !== 'SingleStack' ? ` (${req.policy})` : ''}`,
    );
  const picked: string[] = [];
  const full: Family[] = [];
  for (const f of has) {
    const low = view.lowestFor(req, st, f);
    if (low === undefined) full.push(f);
    else picked.push(formatIP(f, low));
  }
  if (full.length === 0)
    return v(
      'available',
      `${picked.join(', ')} ${picked.length > 1 ? 'are' : 'is'} the lowest usable address${picked.length > 1 ? 'es' : ''}`,
      true,
    );
  // Full: say who is in the way for a sharing key, else how full it is.
  const conflicts: string[] = [];
  const details: string[] = [];
  if (req.sharingKey) {
    for (const f of full) {
      for (const ip of view.sharing.ips(p.name, f, req.sharingKey) ?? []) {
        const use = view.use(ip);
        if (!use || use.users.has(req.key)) continue;
        const c = sharingConflict(req, use);
        if (!c) continue;
        details.push(c);
        for (const k of use.users.keys()) if (k !== req.key && !conflicts.includes(k)) conflicts.push(k);
      }
    }
  }
  const exhausted = view.exhausted(st, full);
  if (details.length > 0)
    return v(
      'sharing-conflict',
      `${exhausted}, and the addresses with allow-shared-ip "${req.sharingKey}" cannot be shared: ${details.join('; ')}`,
      false,
      conflicts,
    );
  return v('exhausted', exhausted);
}
