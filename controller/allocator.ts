// The allocator (pure): pools + requests -> assignments. No I/O, no clock, deterministic.
//
// Per pool and family, the free addresses are an ordered set of intervals (FreeSet) and the pools' ranges
// are indexed by first address, so allocate, claim and release are O(log n) in the number of assignments,
// and memory is proportional to the assignments, not to the pools' size (an IPv6 /48 pool is fine).
import { formatIP, parseIP, isBuggyIP, type Family, type IP } from '../config/ip.js';
import { poolServes } from '../config/parse.js';
import type { Pool } from '../config/types.js';
import { FreeSet } from './freeset.js';
import { OrderedMap } from './ordered.js';
import { familyName, type ServiceRequest } from './request.js';
import type {
  Assignment,
  Cleared,
  EnsureResult,
  PoolState,
  PoolStats,
  PoolVerdict,
  Use,
} from './allocator-types.js';
import { explainPool, type AllocatorView } from './allocator-explain.js';
import { SharingIndex, sharingConflict } from './sharing.js';

export type {
  Assignment,
  Cleared,
  EnsureResult,
  PoolStats,
  PoolVerdict,
  PoolVerdictKind,
} from './allocator-types.js';

export class Allocator {
  private pools = new Map<string, PoolState>();
  /** first address -> { last, pool } per family: which pool holds an address. */
  private rangeIndex: Record<Family, OrderedMap<{ last: bigint; pool: string }>> = {
    4: new OrderedMap(),
    6: new OrderedMap(),
  };
  private readonly uses = new Map<string, Use>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly sharing = new SharingIndex();

  constructor(pools: readonly Pool[] = []) {
    this.setPools(pools);
  }

  // ------------------------------------------------------------------------------------------ pools

  /**
   * Replaces the pools. Assignments whose addresses are no longer in a pool (or no longer allocatable
   * there) are released; their keys and reasons are returned so the caller can move or clear them.
   */
  setPools(pools: readonly Pool[]): Map<string, Cleared> {
    const next = new Map<string, PoolState>();
    const index: Record<Family, OrderedMap<{ last: bigint; pool: string }>> = {
      4: new OrderedMap(),
      6: new OrderedMap(),
    };
    for (const p of [...pools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      next.set(p.name, {
        pool: p,
        free: { 4: new FreeSet(4, p.ranges, p.avoidBuggyIPs), 6: new FreeSet(6, p.ranges, p.avoidBuggyIPs) },
        inUse: { 4: 0n, 6: 0n },
      });
      for (const r of p.ranges) index[r.family].set(r.first, { last: r.last, pool: p.name });
    }
    this.pools = next;
    this.rangeIndex = index;
    const dropped = new Map<string, Cleared>();
    for (const use of [...this.uses.values()]) {
      const owner = this.poolOf({ family: use.family, value: use.value });
      const st = owner ? next.get(owner) : undefined;
      let why: string | undefined;
      if (!st) why = `${use.ip} is no longer in any pool (pool ${use.pool} was deleted or shrunk)`;
      else if (st.pool.avoidBuggyIPs && isBuggyIP(use.family, use.value))
        why = `${use.ip} is excluded by avoidBuggyIPs in pool ${st.pool.name}`;
      if (why || !st) {
        for (const k of use.users.keys())
          if (!dropped.has(k))
            dropped.set(k, { ips: this.assignments.get(k)?.ips ?? [use.ip], reason: why ?? '' });
        // Orphaned: releasing it must not hand the address back to any pool.
        this.sharing.remove(use);
        use.pool = '';
        continue;
      }
      st.free[use.family].take(use.value);
      st.inUse[use.family]++;
      if (use.pool !== st.pool.name) {
        this.sharing.remove(use);
        use.pool = st.pool.name;
        this.sharing.add(use);
      }
    }
    // An assignment must stay within one pool (both families from the same one).
    for (const a of this.assignments.values()) {
      if (dropped.has(a.key)) continue;
      const pools = new Set(a.ips.map((ip) => this.uses.get(ip)?.pool));
      if (pools.size > 1)
        dropped.set(a.key, { ips: a.ips, reason: `${a.ips.join(', ')} are now in different pools` });
      else {
        const pool = [...pools][0];
        if (pool !== undefined && pool !== a.pool) this.assignments.set(a.key, { ...a, pool });
      }
    }
    // Release after the rebuild so the counters stay exact.
    for (const key of dropped.keys()) this.release(key);
    return dropped;
  }

  private poolOf(ip: IP): string | undefined {
    const f = this.rangeIndex[ip.family].floor(ip.value);
    return f && f[1].last >= ip.value ? f[1].pool : undefined;
  }

  /** Which pool an address is in, if any. */
  poolFor(ip: string): string | undefined {
    const p = parseIP(ip);
    return p ? this.poolOf(p) : undefined;
  }

  // ------------------------------------------------------------------------------------------ queries

  assignment(key: string): Assignment | undefined {
    return this.assignments.get(key);
  }

  /** Services using an address. */
  usersOf(ip: string): string[] {
    return [...(this.uses.get(ip)?.users.keys() ?? [])];
  }

  /** Every assignment (for metrics and diagnostics). */
  allAssignments(): Assignment[] {
    return [...this.assignments.values()];
  }

  get assignmentCount(): number {
    return this.assignments.size;
  }

  stats(): PoolStats[] {
    const services = new Map<string, number>();
    for (const a of this.assignments.values()) services.set(a.pool, (services.get(a.pool) ?? 0) + 1);
    return [...this.pools.values()].map((st) => ({
      pool: st.pool.name,
      services: services.get(st.pool.name) ?? 0,
      assigned: { ...st.inUse },
      total: { ...st.pool.size },
      available: { 4: st.pool.size[4] - st.inUse[4], 6: st.pool.size[6] - st.inUse[6] },
    }));
  }

  // ------------------------------------------------------------------------------------------ mutation

  private addUser(req: ServiceRequest, ip: IP, pool: string): void {
    const text = formatIP(ip.family, ip.value);
    let use = this.uses.get(text);
    const st = this.pools.get(pool);
    if (!use) {
      use = { ip: text, family: ip.family, value: ip.value, pool, users: new Map() };
      this.uses.set(text, use);
      if (st) {
        st.free[ip.family].take(ip.value);
        st.inUse[ip.family]++;
      }
    } else this.sharing.remove(use);
    use.users.set(req.key, {
      key: req.key,
      sharingKey: req.sharingKey,
      ports: req.ports,
      etpLocal: req.etpLocal,
      selector: req.selector,
    });
    this.sharing.add(use);
  }

  /** Releases whatever the Service holds. Returns the IPs released. */
  release(key: string): string[] {
    const a = this.assignments.get(key);
    if (!a) return [];
    this.assignments.delete(key);
    for (const ip of a.ips) {
      const use = this.uses.get(ip);
      if (!use) continue;
      this.sharing.remove(use);
      use.users.delete(key);
      if (use.users.size > 0) {
        this.sharing.add(use);
        continue;
      }
      this.uses.delete(ip);
      const st = this.pools.get(use.pool);
      if (st) {
        st.free[use.family].give(use.value);
        st.inUse[use.family]--;
      }
    }
    return [...a.ips];
  }

  /** Checks that req may hold exactly these IPs; returns the pool or the reason it may not. */
  private checkIPs(
    req: ServiceRequest,
    ips: readonly string[],
  ): { ok: true; pool: string; parsed: IP[] } | { ok: false; reason: string } {
    let pool: string | undefined;
    const parsed: IP[] = [];
    for (const ip of ips) {
      const p = parseIP(ip);
      if (!p) return { ok: false, reason: `"${ip}" is not an IP address` };
      if (!req.families.includes(p.family))
        return {
          ok: false,
          reason: `${ip} is ${familyName(p.family)} but the Service is ${req.families.map(familyName).join('/')}`,
        };
      const owner = this.poolOf(p);
      if (!owner) return { ok: false, reason: `${ip} is not in any pool` };
      const st = this.pools.get(owner) as PoolState;
      if (req.pool !== undefined && owner !== req.pool)
        return { ok: false, reason: `${ip} is not in pool ${req.pool} (it is in pool ${owner})` };
      if (pool !== undefined && owner !== pool)
        return {
          ok: false,
          reason: `${ips.join(', ')} are in different pools (${pool}, ${owner}); a Service's IPs must come from one pool`,
        };
      if (!poolServes(st.pool, req.namespace, req.namespaceLabels, req.labels))
        return {
          ok: false,
          reason: `${ip} is in pool ${owner}, whose serviceAllocation does not select ${req.key}`,
        };
      if (st.pool.avoidBuggyIPs && isBuggyIP(p.family, p.value))
        return { ok: false, reason: `${ip} is excluded by avoidBuggyIPs in pool ${owner}` };
      const use = this.uses.get(formatIP(p.family, p.value));
      if (use) {
        const why = sharingConflict(req, use);
        if (why) return { ok: false, reason: why };
      }
      pool = owner;
      parsed.push(p);
    }
    if (pool === undefined) return { ok: false, reason: 'no IPs' };
    return { ok: true, pool, parsed };
  }

  private record(req: ServiceRequest, pool: string, parsed: IP[]): Assignment {
    parsed.sort((a, b) => a.family - b.family);
    for (const p of parsed) this.addUser(req, p, pool);
    const a: Assignment = { key: req.key, pool, ips: parsed.map((p) => formatIP(p.family, p.value)) };
    this.assignments.set(req.key, a);
    return a;
  }

  /**
   * Claims specific IPs for the Service (restart rebuild, requested IPs). All or nothing; replaces any
   * assignment the Service had only on success.
   */
  claim(
    req: ServiceRequest,
    ips: readonly string[],
  ): { ok: true; assignment: Assignment } | { ok: false; reason: string } {
    const prev = this.assignments.get(req.key);
    if (prev) this.release(req.key);
    const c = this.checkIPs(req, ips);
    if (!c.ok) {
      if (prev) this.restore(req, prev);
      return c;
    }
    return { ok: true, assignment: this.record(req, c.pool, c.parsed) };
  }

  private restore(req: ServiceRequest, prev: Assignment): void {
    const parsed = prev.ips.map((ip) => parseIP(ip)).filter((p): p is IP => p !== undefined);
    this.record(req, prev.pool, parsed);
  }

  /** The pools a Service may draw from automatically, in order; or why there are none. */
  candidatePools(req: ServiceRequest): { ok: true; pools: PoolState[] } | { ok: false; reason: string } {
    if (req.pool !== undefined) {
      const st = this.pools.get(req.pool);
      if (!st) return { ok: false, reason: `pool ${req.pool} does not exist` };
      if (!poolServes(st.pool, req.namespace, req.namespaceLabels, req.labels))
        return { ok: false, reason: `pool ${req.pool}'s serviceAllocation does not select ${req.key}` };
      return { ok: true, pools: [st] };
    }
    const withAlloc: PoolState[] = [];
    const plain: PoolState[] = [];
    for (const st of this.pools.values()) {
      if (!st.pool.autoAssign) continue;
      if (!poolServes(st.pool, req.namespace, req.namespaceLabels, req.labels)) continue;
      (st.pool.serviceAllocation ? withAlloc : plain).push(st);
    }
    // lower priority first, negatives included; 0 (unset) after every set one; then by name
    const prio = (st: PoolState): number => st.pool.serviceAllocation?.priority ?? 0;
    withAlloc.sort(
      (a, b) =>
        Number(prio(a) === 0) - Number(prio(b) === 0) ||
        prio(a) - prio(b) ||
        (a.pool.name < b.pool.name ? -1 : 1),
    );
    const pools = [...withAlloc, ...plain];
    if (pools.length === 0) {
      if (this.pools.size === 0) return { ok: false, reason: 'no IPAddressPool is configured' };
      return {
        ok: false,
        reason: `no IPAddressPool with autoAssign serves ${req.key} (${this.pools.size} pools checked)`,
      };
    }
    return { ok: true, pools };
  }

  /**
   * Every pool's verdict for the Service, in the order the allocator would try them (candidates by
   * priority, then the rest by name). Read-only: the same checks as candidatePools/allocate/claim.
   */
  explainPools(req: ServiceRequest): PoolVerdict[] {
    const cand = this.candidatePools(req);
    const order = cand.ok ? cand.pools.map((st) => st.pool.name) : [];
    const names = [...order, ...[...this.pools.keys()].filter((n) => !order.includes(n))];
    const cur = this.assignments.get(req.key);
    const view = this.view();
    return names.map((name) => explainPool(view, req, this.pools.get(name) as PoolState, cur));
  }

  /** The read-only view explainPool works on. */
  private view(): AllocatorView {
    return {
      poolFor: (ip) => this.poolFor(ip),
      usersOf: (ip) => this.usersOf(ip),
      use: (ip) => this.uses.get(ip),
      sharing: this.sharing,
      checkIPs: (req, ips) => this.checkIPs(req, ips),
      lowestFor: (req, st, family) => this.lowestFor(req, st, family),
      exhausted: (st, families) => this.exhausted(st, families),
    };
  }

  /** The lowest address of `family` in the pool that req can use (free, or shareable under its key). */
  private lowestFor(req: ServiceRequest, st: PoolState, family: Family): bigint | undefined {
    let best = st.free[family].lowest();
    if (req.sharingKey) {
      const ips = this.sharing.ips(st.pool.name, family, req.sharingKey);
      for (const ip of ips ?? []) {
        const use = this.uses.get(ip);
        if (!use || use.users.has(req.key) || sharingConflict(req, use)) continue;
        if (best === undefined || use.value < best) best = use.value;
      }
    }
    return best;
  }

  private exhausted(st: PoolState, families: readonly Family[]): string {
    return families
      .map(
        (f) =>
          `pool ${st.pool.name} is exhausted: ${st.inUse[f]} of ${st.pool.size[f]} ${families.length > 1 || st.pool.size[f === 4 ? 6 : 4] > 0n ? familyName(f) + ' ' : ''}in use`,
      )
      .join('; ');
  }

  /** Allocates fresh addresses for the Service (it must hold none). */
  allocate(req: ServiceRequest): { ok: true; assignment: Assignment } | { ok: false; reason: string } {
    const cand = this.candidatePools(req);
    if (!cand.ok) return cand;
    const tryFamilies = (fams: readonly Family[]): Assignment | undefined => {
      for (const st of cand.pools) {
        const picked: IP[] = [];
        for (const f of fams) {
          const v = this.lowestFor(req, st, f);
          if (v === undefined) break;
          picked.push({ family: f, value: v });
        }
        if (picked.length === fams.length) return this.record(req, st.pool.name, picked);
      }
      return undefined;
    };
    const a = tryFamilies(req.families);
    if (a) return { ok: true, assignment: a };
    if (req.families.length === 2) {
      const hasBoth = cand.pools.some((st) => st.pool.size[4] > 0n && st.pool.size[6] > 0n);
      if (req.policy === 'PreferDualStack') {
        for (const f of req.families) {
          const one = tryFamilies([f]);
          if (one) return { ok: true, assignment: one };
        }
      }
      if (!hasBoth)
        return {
          ok: false,
          reason: `no pool holds both IPv4 and IPv6 addresses for ${req.policy} Service ${req.key}${req.policy === 'PreferDualStack' ? ', and no single-family address is free' : ''}`,
        };
    }
    const why = cand.pools.map((st) =>
      req.families.every((f) => st.pool.size[f] === 0n)
        ? `pool ${st.pool.name} has no ${req.families.map(familyName).join(' or ')} addresses`
        : this.exhausted(
            st,
            req.families.filter((f) => st.pool.size[f] > 0n).length
              ? req.families.filter((f) => st.pool.size[f] > 0n)
              : req.families,
          ),
    );
    if (cand.pools.length === 1) return { ok: false, reason: why[0] ?? 'no free address' };
    return { ok: false, reason: `no free address: ${why.join('; ')}` };
  }

  /** Whether the Service's current assignment still fits its request; the reason if not. */
  private invalidReason(req: ServiceRequest, a: Assignment): string | undefined {
    if (req.requestedIPs.length > 0) {
      const same =
        req.requestedIPs.length === a.ips.length && req.requestedIPs.every((ip) => a.ips.includes(ip));
      if (!same) return `the requested IPs changed to ${req.requestedIPs.join(', ')}`;
    }
    if (req.pool !== undefined && a.pool !== req.pool)
      return `the address-pool annotation changed to ${req.pool}`;
    const st = this.pools.get(a.pool);
    if (!st) return `pool ${a.pool} no longer exists`;
    if (!poolServes(st.pool, req.namespace, req.namespaceLabels, req.labels))
      return `pool ${a.pool}'s serviceAllocation no longer selects ${req.key}`;
    for (const ip of a.ips) {
      const fam = parseIP(ip)?.family ?? 4;
      if (!req.families.includes(fam)) return `${ip} is ${familyName(fam)}, which the Service no longer uses`;
      const use = this.uses.get(ip);
      if (use) {
        const why = sharingConflict(req, use);
        if (why) return why;
      }
    }
    return undefined;
  }

  /**
   * Brings the Service's assignment in line with its request: keeps a valid one (adding a missing family
   * for dual-stack when possible), otherwise releases it and allocates anew. Never moves an address
   * without a reason, and says what the reason was.
   */
  ensure(req: ServiceRequest): EnsureResult {
    const cur = this.assignments.get(req.key);
    let cleared: Cleared | undefined;
    if (cur) {
      const why = this.invalidReason(req, cur);
      if (!why) {
        if (cur.ips.length < req.families.length && req.requestedIPs.length === 0) {
          const added = this.addMissingFamily(req, cur);
          if (added) return { ok: true, assignment: added, changed: true };
        }
        if (req.policy === 'RequireDualStack' && cur.ips.length < 2) {
          // cannot happen through ensure() (allocation is all-or-nothing), but keep the invariant
        } else {
          // sharing info (ports, key) may have changed while the IPs did not
          this.refreshUser(req, cur);
          return { ok: true, assignment: cur, changed: false };
        }
      }
      this.release(req.key);
      cleared = { ips: cur.ips, reason: why ?? 'the Service needs both families' };
    }
    const r = req.requestedIPs.length > 0 ? this.claim(req, req.requestedIPs) : this.allocate(req);
    if (!r.ok) return { ok: false, reason: r.reason, cleared };
    return { ok: true, assignment: r.assignment, changed: true, cleared };
  }

  private refreshUser(req: ServiceRequest, a: Assignment): void {
    for (const ip of a.ips) {
      const use = this.uses.get(ip);
      if (!use) continue;
      this.sharing.remove(use);
      use.users.set(req.key, {
        key: req.key,
        sharingKey: req.sharingKey,
        ports: req.ports,
        etpLocal: req.etpLocal,
        selector: req.selector,
      });
      this.sharing.add(use);
    }
  }

  private addMissingFamily(req: ServiceRequest, cur: Assignment): Assignment | undefined {
    const st = this.pools.get(cur.pool);
    if (!st) return undefined;
    const have = new Set(cur.ips.map((ip) => parseIP(ip)?.family));
    const missing = req.families.filter((f) => !have.has(f));
    const picked: IP[] = [];
    for (const f of missing) {
      const v = this.lowestFor(req, st, f);
      if (v === undefined) return undefined;
      picked.push({ family: f, value: v });
    }
    const parsed = cur.ips.map((ip) => parseIP(ip)).filter((p): p is IP => p !== undefined);
    this.release(req.key);
    return this.record(req, cur.pool, [...parsed, ...picked]);
  }
}
