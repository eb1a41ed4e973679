// MetalLB's BGP and BFD metric names (label `peer`), read from the sessions at scrape time.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SessionCounters } from './session.js';

export interface PeerMetricsSource {
  readonly peer: string;
  up(): boolean;
  counters(): SessionCounters;
  announced(): number;
  pending(): number;
  bfd?(): { up: boolean; input: number; output: number; upEvents: number; downEvents: number } | undefined;
}

/** Registers the metrics on `registry`; `sources()` lists the peers at scrape time. */
export function registerBgpMetrics(registry: Registry, sources: () => readonly PeerMetricsSource[]): void {
  const gauge = (name: string, help: string, value: (s: PeerMetricsSource) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) {
          const v = value(s);
          if (v !== undefined) this.set({ peer: s.peer }, v);
        }
      },
    });
  };
  const counter = (name: string, help: string, value: (s: PeerMetricsSource) => number | undefined): void => {
    new Counter({
      name,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) {
          const v = value(s);
          if (v !== undefined) this.inc({ peer: s.peer }, v);
        }
      },
    });
  };
  gauge('metallb_bgp_session_up', 'BGP session state (1 is up, 0 is down)', (s) => (s.up() ? 1 : 0));
  counter('metallb_bgp_updates_total', 'Number of BGP UPDATE messages sent', (s) => s.counters().updatesSent);
  gauge(
    'metallb_bgp_announced_prefixes_total',
    'Number of prefixes currently being advertised on the BGP session',
    (s) => s.announced(),
  );
  gauge(
    'metallb_bgp_pending_prefixes_total',
    'Number of prefixes that should be advertised on the BGP session',
    (s) => s.pending(),
  );
  counter('metallb_bgp_opens_sent', 'Number of BGP open messages sent', (s) => s.counters().opensSent);
  counter(
    'metallb_bgp_opens_received',
    'Number of BGP open messages received',
    (s) => s.counters().opensReceived,
  );
  counter(
    'metallb_bgp_notifications_sent',
    'Number of BGP notification messages sent',
    (s) => s.counters().notificationsSent,
  );
  counter(
    'metallb_bgp_keepalives_sent',
    'Number of BGP keepalive messages sent',
    (s) => s.counters().keepalivesSent,
  );
  counter(
    'metallb_bgp_keepalives_received',
    'Number of BGP keepalive messages received',
    (s) => s.counters().keepalivesReceived,
  );
  counter(
    'metallb_bgp_route_refresh_sent',
    'Number of BGP route refresh messages sent',
    (s) => s.counters().routeRefreshSent,
  );
  gauge('metallb_bfd_session_up', 'BFD session state (1 is up, 0 is down)', (s) => {
    const b = s.bfd?.();
    return b === undefined ? undefined : b.up ? 1 : 0;
  });
  counter(
    'metallb_bfd_control_packet_input',
    'Number of received BFD control packets',
    (s) => s.bfd?.()?.input,
  );
  counter(
    'metallb_bfd_control_packet_output',
    'Number of sent BFD control packets',
    (s) => s.bfd?.()?.output,
  );
  counter('metallb_bfd_session_up_events', 'Number of BFD session up events', (s) => s.bfd?.()?.upEvents);
  counter(
    'metallb_bfd_session_down_events',
    'Number of BFD session down events',
    (s) => s.bfd?.()?.downEvents,
  );
}
