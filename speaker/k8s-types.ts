// The parts of Kubernetes objects the speaker reads (as the apiserver serves them; nothing trusted).
import type { ConditionView, ServiceView } from '../k8s/projection.js';
export interface Meta {
  name?: string;
  generation?: number;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generateName?: string;
}

/** A Service: the fields the speaker's projection keeps (k8s/projection.ts), with the speaker's Meta. */
export interface ServiceObj extends Omit<ServiceView, 'metadata'> {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
}

export interface EndpointSliceObj {
  metadata?: Meta;
  addressType?: string;
  endpoints?: {
    nodeName?: string;
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  }[];
}

export interface NodeObj {
  metadata?: Meta;
  status?: {
    addresses?: { type?: string; address?: string }[];
    conditions?: { type?: string; status?: string }[];
  };
}

export interface SecretObj {
  metadata?: Meta;
  data?: Record<string, string>;
}

export interface L2StatusObj {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  status?: {
    node?: string;
    serviceName?: string;
    serviceNamespace?: string;
    interfaces?: { name?: string }[];
    conditions?: ConditionView[];
  };
}

export function condition(node: NodeObj, type: string): string | undefined {
  return node.status?.conditions?.find((c) => c.type === type)?.status;
}

/** The node's InternalIPs (IPv4 first). */
export function internalIPs(node: NodeObj): string[] {
  const ips = (node.status?.addresses ?? [])
    .filter((a) => a.type === 'InternalIP' && typeof a.address === 'string')
    .map((a) => a.address as string);
  return [...ips.filter((a) => !a.includes(':')), ...ips.filter((a) => a.includes(':'))];
}
