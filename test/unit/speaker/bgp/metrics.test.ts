// MetalLB's BGP/BFD metric names and label values (peer="<address>:<port>" and vrf for BGP, the address
// alone for BFD), read from the sessions at scrape time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerBgpMetrics, type PeerMetricsSource } from '../../../../speaker/bgp/metrics.js';
import { newCounters } from '../../../../speaker/bgp/session-config.js';

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
      name: 'tor',
      address: '10.0.0.1',
      port: 179,
      up: () => up,
      counters: () => counters,
      announced: () => 5,
      pending: () => 0,
      bfd: () => ({
        up: true,
        input: 10,
        output: 11,
        upEvents: 1,
        downEvents: 0,
        echoInput: 7,
        echoOutput: 8,
      }),
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
      ['metallb_bgp_updates_total_received', 4],
    ] as const) {
      assert.match(text, new RegExp(`^${name}\\{peer="10.0.0.1:179",vrf="default"\\} ${value}$`, 'm'), name);
    }
    for (const [name, value] of [
      ['metallb_bfd_session_up', 1],
      ['metallb_bfd_control_packet_input', 10],
      ['metallb_bfd_control_packet_output', 11],
      ['metallb_bfd_echo_packet_input', 7],
      ['metallb_bfd_echo_packet_output', 8],
      ['metallb_bfd_session_up_events', 1],
      ['metallb_bfd_session_down_events', 0],
    ] as const) {
      assert.match(text, new RegExp(`^${name}\\{peer="10.0.0.1",vrf="default"\\} ${value}$`, 'm'), name);
    }
    assert.match(text, /^bollard_bgp_peer_info\{peer="10.0.0.1:179",vrf="default",name="tor"\} 1$/m);
    up = false;
    counters.updatesSent = 9;
    text = await registry.metrics();
    assert.match(text, /^metallb_bgp_session_up\{peer="10.0.0.1:179",vrf="default"\} 0$/m);
    assert.match(text, /^metallb_bgp_updates_total\{peer="10.0.0.1:179",vrf="default"\} 9$/m);
  });

  it('IPv6 peers: canonical address, no brackets (as MetalLB); a VRF peer carries its vrf', async () => {
    const registry = new Registry();
    const zero = newCounters();
    const base = { up: () => true, counters: () => zero, announced: () => 0, pending: () => 0 };
    registerBgpMetrics(registry, () => [
      { ...base, name: 'v6', address: 'FD00:0:0::1', port: 1179 },
      {
        ...base,
        name: 'red',
        address: '192.0.2.1',
        port: 179,
        vrf: 'red',
        bfd: () => ({
          up: false,
          input: 0,
          output: 3,
          upEvents: 0,
          downEvents: 0,
          echoInput: 0,
          echoOutput: 0,
        }),
      },
    ]);
    const text = await registry.metrics();
    assert.match(text, /^metallb_bgp_session_up\{peer="fd00::1:1179",vrf="default"\} 1$/m);
    assert.match(text, /^metallb_bgp_session_up\{peer="192.0.2.1:179",vrf="red"\} 1$/m);
    assert.match(text, /^metallb_bfd_session_up\{peer="192.0.2.1",vrf="red"\} 0$/m);
    assert.match(text, /^bollard_bgp_peer_info\{peer="fd00::1:1179",vrf="default",name="v6"\} 1$/m);
    assert.doesNotMatch(text, /^metallb_bfd_session_up\{peer="fd00/m);
  });
});
