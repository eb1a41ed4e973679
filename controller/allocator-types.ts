// The allocator's data: what a Service holds (Assignment), why it lost it (Cleared), the per-pool
// figures and verdicts it reports, and its internal records of addresses in use and pool state.
import type { Family } from '../config/ip.js';
import type { Pool } from '../config/types.js';
import type { FreeSet } from './freeset.js';
import type { ServiceRequest } from './request.js';

/** A Service's view of sharing an IP. */
export interface User {
  key: string;
  sharingKey: string | undefined;
  ports: ServiceRequest['ports'];
  etpLocal: boolean;
  selector: string;
}

/** One address in use, by one or more Services. */
export interface Use {
  ip: string;
  family: Family;
  value: bigint;
  pool: string;
  users: Map<string, User>;
}

export interface Assignment {
  readonly key: string;
  readonly pool: string;
  /** Canonical IPs, IPv4 first. */
  readonly ips: readonly string[];
}

/** Why an existing assignment was dropped. */
export interface Cleared {
  readonly ips: readonly string[];
  readonly reason: string;
}

export type EnsureResult =
  | { ok: true; assignment: Assignment; changed: boolean; cleared?: Cleared }
  | { ok: false; reason: string; cleared?: Cleared };

export interface PoolStats {
  pool: string;
  /** Services holding addresses from the pool (Services sharing an address count one each). */
  services: number;
  assigned: Record<Family, bigint>;
  available: Record<Family, bigint>;
  total: Record<Family, bigint>;
}

/** Why one pool does or does not serve a Service (bollard explain; the allocator's own decisions). */
export type PoolVerdictKind =
  | 'holds'
  | 'available'
  | 'not-requested'
  | 'auto-assign-off'
  | 'not-selected'
  | 'wrong-family'
  | 'exhausted'
  | 'sharing-conflict'
  | 'requested-ip-unavailable';

export interface PoolVerdict {
  readonly pool: string;
  readonly verdict: PoolVerdictKind;
  /** The allocator could take an address from this pool for the Service now (or already did). */
  readonly usable: boolean;
  readonly reason: string;
  /** serviceAllocation.priority (lower first; undefined = none). */
  readonly priority: number | undefined;
  /** Services in the way (sharing conflicts). */
  readonly conflicts: readonly string[];
}

export interface PoolState {
  pool: Pool;
  free: Record<Family, FreeSet>;
  inUse: Record<Family, bigint>;
}
