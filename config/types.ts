// The validated configuration model (immutable) and the shapes of the metallb.io objects it is made from.
import type { CIDR, Family, IPRange } from './ip.js';
import type { LabelSelector, LabelSelectorSpec } from './selector.js';

/** What parseConfig reads: the objects as the apiserver serves them (specs are checked, not trusted). */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
}

export interface CRObject<S = Record<string, unknown>> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: S;
}

export interface SecretObject {
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
}

/** A Node as the configuration sees it: what node selectors are resolved against. */
export interface ConfigNode {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ConfigInput {
  ipAddressPools?: readonly CRObject[];
  l2Advertisements?: readonly CRObject[];
  bgpAdvertisements?: readonly CRObject[];
  bgpPeers?: readonly CRObject[];
  bfdProfiles?: readonly CRObject[];
  communities?: readonly CRObject[];
  /** Secrets of the install namespace; when given, BGPPeer.passwordSecret is resolved and checked. */
  secrets?: readonly SecretObject[];
  /**
   * The cluster's Nodes; when given, rules about two objects on one node (two peers with one address)
   * are decided on them, as MetalLB does. Without them, only overlaps the selectors alone make certain count.
   */
  nodes?: readonly ConfigNode[];
}

export type ConfigKind =
  'IPAddressPool' | 'L2Advertisement' | 'BGPAdvertisement' | 'BGPPeer' | 'BFDProfile' | 'Community';

export interface ServiceAllocation {
  /** Any integer; lower is tried first (negatives before positives); 0 = unset = tried last. */
  readonly priority: number;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  readonly serviceSelectors: readonly LabelSelector[];
}

export interface Pool {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The entries as written (for messages). */
  readonly addresses: readonly string[];
  /** Sorted by family then first address; never overlapping. */
  readonly ranges: readonly IPRange[];
  /** The ranges summarised to CIDRs (as MetalLB does; BGP aggregation works on these). */
  readonly cidrs: readonly CIDR[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation: ServiceAllocation | undefined;
  /** How many addresses the pool can hand out per family (buggy ones excluded when avoided). */
  readonly size: Readonly<Record<Family, bigint>>;
}

export interface L2Advertisement {
  readonly name: string;
  readonly namespace: string;
  /** The pools this advertisement covers (names, resolved from ipAddressPools + selectors; none = all). */
  readonly pools: readonly string[];
  readonly nodeSelectors: readonly LabelSelector[];
  readonly interfaces: readonly string[];
  /** Services to announce; empty = all. */
  readonly serviceSelectors: readonly LabelSelector[];
  /**
   * Soft, weighted preference among the nodes this advertisement selects (MetalLB's
   * preferredNodeSelectors): a node's score is the sum of the weights whose preference matches it.
   */
  readonly preferredNodeSelectors: readonly PreferredNodeSelector[];
}

export interface PreferredNodeSelector {
  /** 1–100. */
  readonly weight: number;
  /** The nodes that get the weight; an empty selector matches every node. */
  readonly preference: LabelSelector;
}

export type Community =
  | { readonly kind: 'standard'; readonly value: number; readonly text: string }
  | {
      readonly kind: 'large';
      readonly global: number;
      readonly local1: number;
      readonly local2: number;
      readonly text: string;
    };

export interface BGPAdvertisement {
  readonly name: string;
  readonly namespace: string;
  readonly pools: readonly string[];
  readonly aggregationLength: number;
  readonly aggregationLengthV6: number;
  readonly localPref: number | undefined;
  readonly communities: readonly Community[];
  readonly nodeSelectors: readonly LabelSelector[];
  /** BGPPeer names; empty = all peers. */
  readonly peers: readonly string[];
  /** Services to announce; empty = all. */
  readonly serviceSelectors: readonly LabelSelector[];
}

export interface BGPPeer {
  readonly name: string;
  readonly namespace: string;
  readonly myASN: number;
  /** The AS this peer's session speaks as (OPEN, AS_PATH, iBGP or eBGP) instead of myASN. */
  readonly localASN: number | undefined;
  readonly peerASN: number | undefined;
  readonly dynamicASN: 'internal' | 'external' | undefined;
  readonly peerAddress: string | undefined;
  readonly interface: string | undefined;
  readonly sourceAddress: string | undefined;
  readonly peerPort: number;
  /** The BGP identifier to use (IPv4 dotted quad); undefined = the node's own. */
  readonly routerID: string | undefined;
  readonly holdTimeMs: number;
  readonly keepaliveTimeMs: number;
  readonly connectTimeMs: number | undefined;
  readonly nodeSelectors: readonly LabelSelector[];
  readonly password: string | undefined;
  readonly passwordSecret: { readonly name: string; readonly namespace: string } | undefined;
  readonly bfdProfile: string | undefined;
  readonly ebgpMultiHop: boolean;
  readonly enableGracefulRestart: boolean;
  readonly vrf: string;
  readonly dualStackAddressFamily: boolean;
  /** iBGP: peerASN = the session's AS (localASN, else myASN), or dynamicASN internal. */
  readonly internal: boolean;
}

export interface BFDProfile {
  readonly name: string;
  readonly namespace: string;
  readonly receiveInterval: number;
  readonly transmitInterval: number;
  readonly detectMultiplier: number;
  readonly echoInterval: number;
  readonly echoMode: boolean;
  readonly passiveMode: boolean;
  readonly minimumTtl: number;
}

export interface Config {
  readonly pools: ReadonlyMap<string, Pool>;
  readonly l2Advertisements: readonly L2Advertisement[];
  readonly bgpAdvertisements: readonly BGPAdvertisement[];
  readonly peers: ReadonlyMap<string, BGPPeer>;
  readonly bfdProfiles: ReadonlyMap<string, BFDProfile>;
  /** Community aliases by name. */
  readonly communities: ReadonlyMap<string, Community>;
}

export type { LabelSelectorSpec };
