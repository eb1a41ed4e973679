// metallb_speaker_announced for one protocol on this node: one series per (Service, IP) announced,
// kept in step with each Service's IPs by touching only the series that changed.

/** The gauge's two operations (prom-client's Gauge has them). */
export interface AnnouncedGauge {
  set(labels: { service: string; protocol: string; node: string; ip: string }, v: number): void;
  remove(labels: { service: string; protocol: string; node: string; ip: string }): void;
}

export class AnnouncedSeries {
  private readonly ips = new Map<string, readonly string[]>();

  constructor(
    private readonly gauge: AnnouncedGauge,
    private readonly protocol: 'layer2' | 'bgp',
    private readonly node: string,
  ) {}

  /** The Service ("ns/name") is announced with `ips` (none: not announced). */
  update(service: string, ips: readonly string[]): void {
    const had = this.ips.get(service) ?? [];
    if (had.length === ips.length && had.every((ip, i) => ip === ips[i])) return;
    const series = (ip: string) => ({ service, protocol: this.protocol, node: this.node, ip });
    for (const ip of had) if (!ips.includes(ip)) this.gauge.remove(series(ip));
    for (const ip of ips) if (!had.includes(ip)) this.gauge.set(series(ip), 1);
    if (ips.length > 0) this.ips.set(service, ips);
    else this.ips.delete(service);
  }

  /** The Services with series. */
  services(): IterableIterator<string> {
    return this.ips.keys();
  }
}
