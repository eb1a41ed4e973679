// MetalLB's BGP and BFD metric names and label values, read from the sessions at scrape time.
// BGP series carry `peer="<address>:<port>"` and `vrf` ("default" outside a VRF), as MetalLB's FRR mode
// writes them (its native mode writes the same `peer`, without `vrf`); IPv6 addresses are in their
// canonical text without brackets (`fd00::1:179`), as MetalLB prints them. BFD series carry
// `peer="<address>"` (no port) and `vrf`, as MetalLB's FRR mode. `bollard_bgp_peer_info` maps the
// `peer`/`vrf` pair to the BGPPeer's name.
import type { BfdStats } from '../bfd/runner.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { canonicalIp } from '../../proto/address.js';
import type { SessionCounters } from './session.js';

export interface PeerMetricsSource {
  /** The BGPPeer's name (only in bollard_bgp_peer_info). */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** The BGPPeer's vrf; undefined or '' is the default VRF. */
  readonly vrf?: string;
  up(): boolean;
  counters(): SessionCounters;
  announced(): number;
  pending(): number;
  bfd?(): BfdStats | undefined;
}

/** The `vrf` label of a peer in the default VRF (FRR's name for it). */
export const DEFAULT_VRF = 'default';

function canonical(address: string): string {
  try {
    return canonicalIp(address);
  } catch {
    return address;
  }
}

/** MetalLB's `peer` label of the BGP series: `<address>:<port>`, the address canonical, no brackets. */
export function bgpPeerLabel(address: string, port: number): string {
  return `${canonical(address)}:${port}`;
}

/** MetalLB's `peer` label of the BFD series: the address alone. */
export function bfdPeerLabel(address: string): string {
  return canonical(address);
}

/** The `vrf` label: the BGPPeer's vrf, or "default". */
export function vrfLabel(vrf: string | undefined): string {
  return vrf ? vrf : DEFAULT_VRF;
}

type Labels = Record<'peer' | 'vrf', string>;

/** Registers the metrics on `registry`; `sources()` lists the peers at scrape time. */
export function registerBgpMetrics(registry: Registry, sources: () => readonly PeerMetricsSource[]): void {
  const bgpLabels = (s: PeerMetricsSource): Labels => ({
    peer: bgpPeerLabel(s.address, s.port),
    vrf: vrfLabel(s.vrf),
  });
  const bfdLabels = (s: PeerMetricsSource): Labels => ({
    peer: bfdPeerLabel(s.address),
    vrf: vrfLabel(s.vrf),
  });
  const metric = (
    kind: 'gauge' | 'counter',
    labelsOf: (s: PeerMetricsSource) => Labels,
    name: string,
    help: string,
    value: (s: PeerMetricsSource) => number | undefined,
  ): void => {
    const collect = (write: (l: Labels, v: number) => void): void => {
      for (const s of sources()) {
        const v = value(s);
        if (v !== undefined) write(labelsOf(s), v);
      }
    };
    if (kind === 'gauge')
      new Gauge({
        name,
        help,
        labelNames: ['peer', 'vrf'],
        registers: [registry],
        collect() {
          this.reset();
          collect((l, v) => this.set(l, v));
        },
      });
    else
      new Counter({
        name,
        help,
        labelNames: ['peer', 'vrf'],
        registers: [registry],
        collect() {
          this.reset();
          collect((l, v) => this.inc(l, v));
        },
      });
  };
  const gauge = (name: string, help: string, value: (s: PeerMetricsSource) => number | undefined): void =>
    metric('gauge', bgpLabels, name, help, value);
  const counter = (name: string, help: string, value: (s: PeerMetricsSource) => number | undefined): void =>
    metric('counter', bgpLabels, name, help, value);
  const bfdGauge = (name: string, help: string, value: (s: PeerMetricsSource) => number | undefined): void =>
    metric('gauge', bfdLabels, name, help, value);
  const bfdCounter = (
    name: string,
    help: string,
    value: (s: PeerMetricsSource) => number | undefined,
  ): void => metric('counter', bfdLabels, name, help, value);
  new Gauge({
    name: 'bollard_bgp_peer_info',
    help: 'Always 1: the BGPPeer name of the peer/vrf pair of the metallb_bgp_* series',
    labelNames: ['peer', 'vrf', 'name'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) this.set({ ...bgpLabels(s), name: s.name }, 1);
    },
  });
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
    'metallb_bgp_updates_total_received',
    'Number of BGP UPDATE messages received',
    (s) => s.counters().updatesReceived,
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
  bfdGauge('metallb_bfd_session_up', 'BFD session state (1 is up, 0 is down)', (s) => {
    const b = s.bfd?.();
    return b === undefined ? undefined : b.up ? 1 : 0;
  });
  bfdCounter(
    'metallb_bfd_control_packet_input',
    'Number of received BFD control packets',
    (s) => s.bfd?.()?.input,
  );
  bfdCounter(
    'metallb_bfd_control_packet_output',
    'Number of sent BFD control packets',
    (s) => s.bfd?.()?.output,
  );
  bfdCounter(
    'metallb_bfd_echo_packet_input',
    'Number of received BFD echo packets',
    (s) => s.bfd?.()?.echoInput,
  );
  bfdCounter(
    'metallb_bfd_echo_packet_output',
    'Number of sent BFD echo packets',
    (s) => s.bfd?.()?.echoOutput,
  );
  bfdCounter('metallb_bfd_session_up_events', 'Number of BFD session up events', (s) => s.bfd?.()?.upEvents);
  bfdCounter(
    'metallb_bfd_session_down_events',
    'Number of BFD session down events',
    (s) => s.bfd?.()?.downEvents,
  );
}
