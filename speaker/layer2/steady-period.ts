// How often a layer 2 check repeats while all is well (pure): the prober's ARP/NS probes and the owner's
// delivery checks. A node with few VIPs checks each every `minPeriodMs`, so a VIP that stops answering
// shows within seconds; with many, the period stretches so the steady checks stay under
// `steadyPerSecond` (ARP/NS are broadcasts every host on the LAN receives), up to `periodMs`.

export interface SteadyPeriodOptions {
  readonly minPeriodMs: number;
  readonly periodMs: number;
  readonly steadyPerSecond: number;
}

/** The steady period for `count` checked items (VIPs or Services), in ms. */
export function steadyPeriod(count: number, o: SteadyPeriodOptions): number {
  const spread = o.steadyPerSecond > 0 ? Math.ceil((count * 1000) / o.steadyPerSecond) : o.periodMs;
  return Math.min(o.periodMs, Math.max(o.minPeriodMs, spread));
}
