import assert from 'node:assert/strict';
import { parseConfig, summarizeErrors } from '../../../config/parse.js';
import type { Pool } from '../../../config/types.js';
import type { ServiceRequest } from '../../../controller/request.js';

export function pools(
  specs: Record<string, Record<string, unknown>>,
  labels: Record<string, Record<string, string>> = {},
): Pool[] {
  const r = parseConfig({
    ipAddressPools: Object.entries(specs).map(([name, spec]) => ({
      metadata: { name, namespace: 'metallb-system', labels: labels[name] },
      spec,
    })),
  });
  if (!r.ok) assert.fail(summarizeErrors(r.errors));
  return [...r.config.pools.values()];
}

export function req(name: string, extra: Partial<ServiceRequest> = {}): ServiceRequest {
  const namespace = extra.namespace ?? 'default';
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    labels: {},
    namespaceLabels: {},
    families: [4],
    policy: 'SingleStack',
    requestedIPs: [],
    pool: undefined,
    sharingKey: undefined,
    ports: [{ protocol: 'TCP', port: 80 }],
    etpLocal: false,
    selector: `app=${name}`,
    ...extra,
  };
}
