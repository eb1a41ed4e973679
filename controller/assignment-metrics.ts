// bollard_allocator_service_ip{service,ip,pool}: one series per VIP the leading controller assigned, so an
// alert can find a VIP that no speaker announces (unless on (ip) metallb_speaker_announced).
import { Gauge, type Registry } from 'prom-client';
import type { Assignment } from './allocator.js';

export function registerAssignmentMetric(
  registry: Registry,
  source: () => readonly Assignment[] | undefined,
): Gauge<'service' | 'ip' | 'pool'> {
  return new Gauge({
    name: 'bollard_allocator_service_ip',
    help: 'VIPs assigned by the leading controller (1 per Service and IP)',
    labelNames: ['service', 'ip', 'pool'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of source() ?? [])
        for (const ip of a.ips) this.set({ service: a.key, ip, pool: a.pool }, 1);
    },
  });
}
