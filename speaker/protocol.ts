// What the speaker's decision pass hands each announcement protocol, and what a protocol is to the
// speaker. Layer 2 (speaker/layer2/controller.ts) and BGP (speaker/bgp/controller.ts) are the two; a
// third implements `Protocol` and is added to the list speaker/main.ts builds.
//
// A pass (speaker/pass-scheduler.ts decides when, over which Services) reads the caches once into a
// `PassInput` and hands the same input to every protocol in turn: one parsed configuration, one view
// of the Services, their endpoints, the Nodes and the health results. Each protocol decides what this
// node announces, announces it, and writes its own status objects, Events and metrics.
import type { Config } from '../config/types.js';
import type { PassScope } from './pass-scheduler.js';
import type { EndpointFacts, NodeFacts } from './eligibility.js';
import type { ConditionView } from '../k8s/projection.js';

/** A LoadBalancer Service of ours with at least one VIP, as the decisions see it. */
export interface ServiceFacts {
  key: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  ips: readonly string[];
  pool?: string;
  /** allow-shared-ip is set (not announced through L2Advertisements with serviceSelectors). */
  allowSharedIP?: boolean;
  externalTrafficPolicy: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  /** The Service's TCP ports (spec.ports with protocol TCP), if any. */
  tcpPorts?: readonly number[];
  /** The Service's bollard.io/* conditions (status.conditions), if any. */
  conditions?: readonly ConditionView[];
}

/** Liveness and health among the speakers (speaker/membership), when membership is running. */
export interface MembershipView {
  /** Nodes whose speaker is alive (a suspect still counts). */
  readonly live: ReadonlySet<string>;
  /** The Service keys `node`'s kube-proxy answers healthy for, as `node` last reported them. */
  healthOf(node: string): ReadonlySet<string> | undefined;
}

export interface PassInput {
  /** The configuration in force: the last one that parsed (one parse of every metallb.io object). */
  readonly config: Config;
  /** The Services whose facts changed since the last pass, or 'all'. */
  readonly scope: PassScope;
  /** Every Service of ours, by key ("ns/name"); the same object while the Service object is. */
  readonly services: ReadonlyMap<string, ServiceFacts>;
  /** The endpoints of a Service's EndpointSlices (the same array while they do not change). */
  readonly endpoints: (serviceKey: string) => readonly EndpointFacts[];
  /** Every Node; `alive` from membership, or from the Ready condition when it is not running. */
  readonly nodes: readonly NodeFacts[];
  /** This node's InternalIPs (IPv4 first). */
  readonly nodeIPs: readonly string[];
  /** Service keys this node's kube-proxy answers healthy for (healthCheckNodePort). */
  readonly healthy: ReadonlySet<string>;
  /** Undefined while membership is off or not started (liveness then comes from Node Ready). */
  readonly membership: MembershipView | undefined;
  /** The membership changed since the last pass: announce every owned address again where that means something. */
  readonly reannounce: boolean;
}

/** One announcement protocol of the speaker (MetalLB's speaker has one per mode, too). */
export interface Protocol {
  /** 'layer2', 'bgp': the protocol label of metallb_speaker_announced and of logs. */
  readonly name: string;
  /** Starts what the protocol watches and opens (its status informer, sockets, sessions). */
  start(): Promise<void>;
  /** Decides and announces for one pass. Never throws: failures are logged and retried next pass. */
  reconcile(input: PassInput): void;
  /** Whether this node should probe the Service's healthCheckNodePort for this protocol. */
  wantsHealth(serviceKey: string): boolean;
  /** The Services whose announcer was one of `nodes` (decided first when those nodes are lost). */
  ownedBy(nodes: ReadonlySet<string>): string[];
  /**
   * The first part of stopping (SIGTERM), while passes still run: hand over or withdraw what is
   * announced (layer 2: the handover to the next owners, speaker/layer2/handover.ts; BGP:
   * GRACEFUL_SHUTDOWN for the drain time, then Cease; speaker/bgp/drain.ts).
   */
  shutdown(): Promise<void>;
  /** Stops everything the protocol started. */
  stop(): Promise<void>;
}
