// Which nodes may announce a Service's VIPs (pure): alive, not NetworkUnavailable, not labelled
// node.kubernetes.io/exclude-from-external-load-balancers, selected by an L2Advertisement, and by
// externalTrafficPolicy: Cluster -> the Service has a serving endpoint somewhere; Local -> the node
// has a ready (or serving) local endpoint AND its kube-proxy answers healthy on healthCheckNodePort.
// The label on another speaker's node may be deferred for a moment (exclusionDeferred: layer 2 waits for
// that speaker to say "leaving", speaker/layer2/handover.ts).

export const EXCLUDE_LB_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

export interface NodeFacts {
  name: string;
  labels: Readonly<Record<string, string>>;
  networkUnavailable: boolean;
  /** Alive in membership (or Ready when membership is off). */
  alive: boolean;
  /**
   * The exclusion label is not honoured yet (layer 2: the node's speaker has not said "leaving"; see
   * speaker/layer2/handover.ts deferredExclusions).
   */
  exclusionDeferred?: boolean;
}

/** One endpoint of the Service's EndpointSlices, as the speaker needs it. */
export interface EndpointFacts {
  nodeName?: string;
  /** Conditions as in discovery.k8s.io/v1 (ready unset means ready). */
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface ServiceFacts {
  externalTrafficPolicy: 'Cluster' | 'Local';
  /** Set for ETP Local LoadBalancer Services; when unset no health check is required. */
  healthCheckNodePort?: number;
}

/** Health-check result of one node for this Service: true healthy, false failing, undefined not known. */
export type HealthLookup = (node: string) => boolean | undefined;

export type IneligibleReason =
  | 'not-alive'
  | 'network-unavailable'
  | 'excluded-by-label'
  | 'leaving'
  | 'not-selected'
  | 'no-serving-endpoint'
  | 'no-local-endpoint'
  | 'health-check-failing'
  | 'health-unknown';

export interface EligibilityInput {
  service: ServiceFacts;
  endpoints: readonly EndpointFacts[];
  nodes: readonly NodeFacts[];
  /** Nodes selected by an L2Advertisement that covers the Service -> interfaces ([] = all). */
  selected: ReadonlyMap<string, readonly string[]>;
  health: HealthLookup;
  /** How an unknown health result counts (default ineligible; 'eligible' when results cannot be shared). */
  unknownHealth?: 'eligible' | 'ineligible';
}

export interface EligibilityResult {
  eligible: Map<string, readonly string[]>;
  ineligible: Map<string, IneligibleReason>;
}

/** An endpoint that can take traffic: ready (unset counts as ready), or serving (e.g. while terminating). */
export function endpointUsable(e: EndpointFacts): boolean {
  return e.ready !== false || e.serving === true;
}

export function eligibleNodes(input: EligibilityInput): EligibilityResult {
  const eligible = new Map<string, readonly string[]>();
  const ineligible = new Map<string, IneligibleReason>();
  const usable = input.endpoints.filter(endpointUsable);
  const localNodes = new Set(usable.map((e) => e.nodeName).filter((n): n is string => typeof n === 'string'));
  const local = input.service.externalTrafficPolicy === 'Local';
  for (const n of input.nodes) {
    const reason = ((): IneligibleReason | undefined => {
      if (!n.alive) return 'not-alive';
      if (n.networkUnavailable) return 'network-unavailable';
      if (n.exclusionDeferred !== true && Object.prototype.hasOwnProperty.call(n.labels, EXCLUDE_LB_LABEL))
        return 'excluded-by-label';
      if (!input.selected.has(n.name)) return 'not-selected';
      if (!local) return usable.length > 0 ? undefined : 'no-serving-endpoint';
      if (!localNodes.has(n.name)) return 'no-local-endpoint';
      if (input.service.healthCheckNodePort === undefined) return undefined;
      const h = input.health(n.name);
      if (h === true) return undefined;
      if (h === false) return 'health-check-failing';
      return input.unknownHealth === 'eligible' ? undefined : 'health-unknown';
    })();
    if (reason) ineligible.set(n.name, reason);
    else eligible.set(n.name, input.selected.get(n.name) ?? []);
  }
  return { eligible, ineligible };
}
