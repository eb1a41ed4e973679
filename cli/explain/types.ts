// What `bollard explain` reads from the cluster and the speakers: one snapshot, then pure explanations.
import type { CRObject, ConfigInput } from '../../config/types.js';
import type { EndpointSliceObj, L2StatusObj, NodeObj } from '../../speaker/k8s-types.js';
import type { ServiceLike } from '../../controller/request.js';
import type { Sample } from './prom.js';

export interface ServiceObject extends ServiceLike {
  spec?: ServiceLike['spec'] & { healthCheckNodePort?: number };
}

export interface BGPStatusObj {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { node?: string; serviceName?: string; serviceNamespace?: string; peers?: string[] };
}

export interface ConfigStateObj {
  metadata?: { name?: string };
  status?: { result?: string; errorSummary?: string };
}

export interface EventObj {
  type?: string;
  reason?: string;
  note?: string;
  message?: string;
  regarding?: { kind?: string; name?: string; namespace?: string };
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  eventTime?: string;
  lastTimestamp?: string;
  series?: { lastObservedTime?: string };
  metadata?: { creationTimestamp?: string };
}

/** One speaker's /metrics as scraped (or why it could not be). */
export interface SpeakerScrape {
  /** host:port scraped. */
  readonly endpoint: string;
  /** From bollard_speaker_info{node}, or the Node whose IP was scraped. */
  readonly node: string | undefined;
  readonly reachable: boolean;
  readonly error?: string;
  readonly samples: readonly Sample[];
}

export interface Snapshot {
  /** The install namespace (metallb.io objects, statuses, ConfigurationStates). */
  readonly namespace: string;
  /** The controller's --lb-class ("" = Services without a loadBalancerClass). */
  readonly lbClass: string;
  readonly services: readonly ServiceObject[];
  readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly nodes: readonly NodeObj[];
  readonly endpointSlices: readonly EndpointSliceObj[];
  readonly config: ConfigInput & {
    readonly l2Advertisements: readonly CRObject[];
    readonly bgpAdvertisements: readonly CRObject[];
  };
  readonly l2Statuses: readonly L2StatusObj[];
  readonly bgpStatuses: readonly BGPStatusObj[];
  readonly configStates: readonly ConfigStateObj[];
  /** Events about Services (the controller's and speakers' verdicts). */
  readonly events: readonly EventObj[];
  readonly speakers: readonly SpeakerScrape[];
}

/** A typed failure of explain itself (not found, unreachable cluster). */
export class ExplainError extends Error {
  constructor(
    readonly subject: string,
    readonly reason: string,
  ) {
    super(`${subject}: ${reason}`);
    this.name = 'ExplainError';
  }
}
