// MetalLB's BGP/BFD metric names with the `peer` label, read from the sessions at scrape time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerBgpMetrics, type PeerMetricsSource } from '../../../../speaker/bgp/metrics.js';

describe('BGP metrics', () => {
  it('exposes every MetalLB BGP and BFD metric per peer', async () => {
    const registry = new Registry();
    const counters = {
      opensSent: 2,
      opensReceived: 1,
      notificationsSent: 1,
      keepalivesSent: 7,
      keepalivesReceived: 6,
      routeRefreshReceived: 0,
      routeRefreshSent: 0,
      updatesSent: 3,
      updatesReceived: 4,
    };
    let up = true;
    const src: PeerMetricsSource = {
      peer: 'tor',
      up: () => up,
      counters: () => counters,
      announced: () => 5,
      pending: () => 0,
      bfd: () => ({ up: true, input: 10, output: 11, upEvents: 1, downEvents: 0 }),
    };
    registerBgpMetrics(registry, () => [src]);
    let text = await registry.metrics();
    for (const [name, value] of [
      ['metallb_bgp_session_up', 1],
      ['metallb_bgp_updates_total', 3],
      ['metallb_bgp_announced_prefixes_total', 5],
      ['metallb_bgp_pending_prefixes_total', 0],
      ['metallb_bgp_opens_sent', 2],
      ['metallb_bgp_opens_received', 1],
      ['metallb_bgp_notifications_sent', 1],
      ['metallb_bgp_keepalives_sent', 7],
      ['metallb_bgp_keepalives_received', 6],
      ['metallb_bgp_route_refresh_sent', 0],
      ['metallb_bfd_session_up', 1],
      ['metallb_bfd_control_packet_input', 10],
      ['metallb_bfd_control_packet_output', 11],
      ['metallb_bfd_session_up_events', 1],
      ['metallb_bfd_session_down_events', 0],
    ] as const) {
      assert.match(text, new RegExp(`^${name}\\{peer="tor"\\} ${value}$`, 'm'), name);
    }
    up = false;
    counters.updatesSent = 9;
    text = await registry.metrics();
    assert.match(text, /^metallb_bgp_session_up\{peer="tor"\} 0$/m);
    assert.match(text, /^metallb_bgp_updates_total\{peer="tor"\} 9$/m);
  });
});
