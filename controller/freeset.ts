// The free addresses of one pool and family, as disjoint intervals keyed by their first address.
// Memory is proportional to the number of intervals (≈ assignments), not to the pool size.
import { isBuggyIP, type Family, type IPRange } from '../config/ip.js';
import { OrderedMap } from './ordered.js';

export class FreeSet {
  /** first -> last (inclusive) */
  private readonly intervals = new OrderedMap<bigint>();

  constructor(
    readonly family: Family,
    ranges: readonly IPRange[],
    private readonly avoidBuggy: boolean,
  ) {
    for (const r of ranges) if (r.family === family) this.intervals.set(r.first, r.last);
  }

  /** Whether v is free (ignores buggy-ness). */
  has(v: bigint): boolean {
    const f = this.intervals.floor(v);
    return f !== undefined && f[1] >= v;
  }

  /** The lowest free address that may be handed out, or undefined. */
  lowest(): bigint | undefined {
    for (const [first, last] of this.intervals.entries()) {
      const v = this.firstUsable(first, last);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  private firstUsable(first: bigint, last: bigint): bigint | undefined {
    let v = first;
    if (this.avoidBuggy && this.family === 4) {
      while (v <= last && isBuggyIP(4, v)) v++;
    }
    return v <= last ? v : undefined;
  }

  /** Marks v used. Returns false if it was not free. */
  take(v: bigint): boolean {
    const f = this.intervals.floor(v);
    if (!f || f[1] < v) return false;
    const [first, last] = f;
    this.intervals.delete(first);
    if (first < v) this.intervals.set(first, v - 1n);
    if (v < last) this.intervals.set(v + 1n, last);
    return true;
  }

  /** Marks v free again (v must belong to the pool's ranges; the caller knows). */
  give(v: bigint): void {
    if (this.has(v)) return;
    let first = v;
    let last = v;
    const before = this.intervals.floor(v);
    if (before && before[1] === v - 1n) {
      first = before[0];
      this.intervals.delete(before[0]);
    }
    const after = this.intervals.get(v + 1n);
    if (after !== undefined) {
      last = after;
      this.intervals.delete(v + 1n);
    }
    this.intervals.set(first, last);
  }

  get intervalCount(): number {
    return this.intervals.size;
  }
}
