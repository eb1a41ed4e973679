// The speaker's Prometheus metrics (MetalLB's names where MetalLB has one).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MembershipHandle } from './membership/agent.js';
import { registerSharedMetrics } from '../k8s/shared-metrics.js';

export class SpeakerMetrics {
  readonly registry = new Registry();
  readonly announced: Gauge<'service' | 'protocol' | 'node' | 'ip'>;
  readonly requests: Counter<'ip'>;
  readonly responses: Counter<'ip'>;
  readonly gratuitous: Counter<'ip'>;
  readonly configLoaded: Gauge;
  readonly configStale: Gauge;
  readonly k8sUpdates: Counter;
  readonly k8sUpdateErrors: Counter;
  readonly passDuration: Histogram<'scope'>;
  readonly passTriggers: Counter<'trigger'>;
  /** Layer 2 handovers ended, by how (speaker/layer2/handover.ts). */
  readonly handovers: Counter<'end'>;
  /** Conflicts this speaker sees (speaker/kube-proxy-conflict.ts), by kind. */
  readonly conflicts: Gauge<'kind'>;
  readonly l2Verification: Gauge<'state'>;
  readonly addressConflicts: Gauge;
  private agent: MembershipHandle | undefined;
  private node = '';
  private health: () => ReadonlyMap<string, boolean | undefined> = () => new Map();

  constructor() {
    const registers = [this.registry];
    // process_resident_memory_bytes, nodejs_eventloop_lag_p99_seconds, … (as the controller has)
    collectDefaultMetrics({ register: this.registry });
    registerSharedMetrics(this.registry);
    this.conflicts = new Gauge({
      name: 'bollard_conflicts',
      help: 'Conflicts seen by this speaker: ipvs_without_strict_arp = layer 2 Services it announces while kube-proxy IPVS without strictARP makes this node answer ARP for every Service IP.',
      labelNames: ['kind'],
      registers,
    });
    this.conflicts.set({ kind: 'ipvs_without_strict_arp' }, 0);
    this.announced = new Gauge({
      name: 'metallb_speaker_announced',
      help: 'Services being announced from this node (1 per VIP)',
      labelNames: ['service', 'protocol', 'node', 'ip'],
      registers,
    });
    this.requests = new Counter({
      name: 'metallb_layer2_requests_received',
      help: 'ARP/NDP requests received for owned VIPs',
      labelNames: ['ip'],
      registers,
    });
    this.responses = new Counter({
      name: 'metallb_layer2_responses_sent',
      help: 'ARP/NDP responses sent for owned VIPs',
      labelNames: ['ip'],
      registers,
    });
    this.gratuitous = new Counter({
      name: 'metallb_layer2_gratuitous_sent',
      help: 'Gratuitous ARP / unsolicited NA sent',
      labelNames: ['ip'],
      registers,
    });
    this.configLoaded = new Gauge({
      name: 'metallb_k8s_client_config_loaded_bool',
      help: '1 if the speaker loaded a valid configuration',
      registers,
    });
    this.configStale = new Gauge({
      name: 'metallb_k8s_client_config_stale_bool',
      help: '1 if the configuration in force is not the latest one seen (it was invalid)',
      registers,
    });
    this.k8sUpdates = new Counter({
      name: 'metallb_k8s_client_updates_total',
      help: 'Kubernetes object updates processed',
      registers,
    });
    this.k8sUpdateErrors = new Counter({
      name: 'metallb_k8s_client_update_errors_total',
      help: 'Kubernetes writes that failed',
      registers,
    });
    this.passDuration = new Histogram({
      name: 'bollard_speaker_reconcile_duration_seconds',
      help: 'Time of one decision pass (layer 2 and BGP), by scope: all Services, or only the changed ones',
      labelNames: ['scope'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.l2Verification = new Gauge({
      name: 'bollard_l2_verification',
      help: 'Layer 2 VIPs this node verifies (it is their prober), by the state of the last probe: Pending, Answering, NotAnswering, WrongMAC',
      labelNames: ['state'],
      registers,
    });
    this.addressConflicts = new Gauge({
      name: 'bollard_address_conflicts',
      help: "Layer 2 VIPs this node verifies that a MAC which is no speaker's claims (ARP/NDP)",
      registers,
    });
    this.handovers = new Counter({
      name: 'bollard_l2_handovers_total',
      help: 'Layer 2 handovers ended, by how: announced (the next owner claimed the VIP), bound, regained, cancelled',
      labelNames: ['end'],
      registers,
    });
    this.passTriggers = new Counter({
      name: 'bollard_speaker_reconcile_triggers_total',
      help: 'Requests for a decision pass, by what changed (several may share one pass)',
      labelNames: ['trigger'],
      registers,
    });
    const self = (): MembershipHandle | undefined => this.agent;
    // What this speaker sees, for `bollard explain` and dashboards: who it is, which members it
    // considers alive, and its kube-proxy health-check results for ETP Local Services.
    const nodeName = (): string => this.node;
    new Gauge({
      name: 'bollard_speaker_info',
      help: 'Always 1; the node this speaker runs on',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        if (nodeName()) this.set({ node: nodeName() }, 1);
      },
    });
    new Gauge({
      name: 'bollard_speaker_member_alive',
      help: 'Membership view of this speaker: 1 if the member is alive (or suspect), 0 if declared dead',
      labelNames: ['member'],
      registers,
      collect() {
        this.reset();
        const a = self();
        if (!a) return;
        if (nodeName()) this.set({ member: nodeName() }, 1);
        for (const [m, st] of a.snapshot().members) this.set({ member: m }, st === 'dead' ? 0 : 1);
      },
    });
    const healthOf = (): ReadonlyMap<string, boolean | undefined> => this.health();
    new Gauge({
      name: 'bollard_speaker_healthcheck_ok',
      help: "This node's kube-proxy healthCheckNodePort result per ETP Local Service (1 healthy, 0 failing)",
      labelNames: ['service', 'node'],
      registers,
      collect() {
        this.reset();
        for (const [svc, ok] of healthOf())
          if (ok !== undefined) this.set({ service: svc, node: nodeName() }, ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bollard_membership_members_alive',
      help: 'Speakers this node considers alive (self included)',
      registers,
      collect() {
        const a = self();
        this.set(a ? a.liveNodes().size : 0);
      },
    });
    const fromStats = (name: string, help: string, read: (a: MembershipHandle) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const a = self();
          this.set(a ? read(a) : 0);
        },
      });
    };
    fromStats('bollard_membership_probes_total', 'Direct probes sent', (a) => a.snapshot().stats.probes);
    fromStats(
      'bollard_membership_indirect_probes_total',
      'Indirect probes requested',
      (a) => a.snapshot().stats.indirectProbes,
    );
    fromStats(
      'bollard_membership_suspicions_total',
      'Members suspected',
      (a) => a.snapshot().stats.suspected,
    );
    fromStats(
      'bollard_membership_failures_detected_total',
      'Members declared dead',
      (a) => a.snapshot().stats.declaredDead,
    );
    fromStats(
      'bollard_membership_refutations_total',
      'Times this node refuted a suspicion about itself',
      (a) => a.snapshot().stats.refuted,
    );
    fromStats(
      'bollard_membership_bad_key_packets_dropped_total',
      'Membership packets dropped: authentication failed (wrong key)',
      (a) => a.snapshot().counters.badKey,
    );
    fromStats(
      'bollard_membership_malformed_packets_dropped_total',
      'Membership packets dropped: not parseable',
      (a) => a.snapshot().counters.malformed,
    );
    fromStats(
      'bollard_membership_replayed_packets_dropped_total',
      'Membership packets dropped: authenticated, but a replay, from an ended run, or meant for another member or run',
      (a) => a.snapshot().counters.replayed,
    );
    fromStats(
      'bollard_membership_packets_sent_total',
      'Membership packets sent',
      (a) => a.snapshot().counters.sent,
    );
    fromStats(
      'bollard_membership_packets_received_total',
      'Membership packets received and authenticated',
      (a) => a.snapshot().counters.received,
    );
  }

  /** The node name and the source of health-check results (set once by runSpeaker). */
  setNode(node: string, health: () => ReadonlyMap<string, boolean | undefined>): void {
    this.node = node;
    this.health = health;
  }

  setAgent(agent: MembershipHandle | undefined): void {
    this.agent = agent;
  }
}
