// Admission decisions (pure): the would-be configuration — the current objects with this one created,
// updated or deleted — goes through the same parseConfig the controller and speakers use; errors this
// change introduces are the rejection, word for word. Plus the rules the parse cannot see: objects
// outside the install namespace, and deleting a pool that Services hold addresses from.
import { parseConfig } from '../../config/parse.js';
import type { CRObject, ConfigInput, ConfigKind } from '../../config/types.js';
import { parseIP } from '../../config/ip.js';
import { ANN_ALLOCATED_FROM, serviceKey, statusIPs, type ServiceLike } from '../request.js';

export const KIND_FIELDS: Record<ConfigKind, keyof ConfigInput> = {
  IPAddressPool: 'ipAddressPools',
  L2Advertisement: 'l2Advertisements',
  BGPAdvertisement: 'bgpAdvertisements',
  BGPPeer: 'bgpPeers',
  BFDProfile: 'bfdProfiles',
  Community: 'communities',
};

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionInput {
  operation: Operation;
  kind: string;
  namespace: string | undefined;
  name: string;
  /** The object as it would be stored (CREATE/UPDATE). */
  object?: CRObject;
}

export interface AdmissionState {
  /** The install namespace. */
  namespace: string;
  /** The metallb.io objects of the install namespace now. */
  current: ConfigInput;
  /** Every Service (for deleting a pool in use). */
  services: readonly ServiceLike[];
  /** The install namespace is being deleted: deletions go through (nothing would be left to protect). */
  namespaceTerminating?: boolean;
}

export type AdmissionDecision = { allowed: true; warnings: string[] } | { allowed: false; message: string };

function isKind(k: string): k is ConfigKind {
  return Object.prototype.hasOwnProperty.call(KIND_FIELDS, k);
}

/** The configuration with this change applied. */
export function wouldBe(current: ConfigInput, req: AdmissionInput): ConfigInput {
  if (!isKind(req.kind)) return current;
  const field = KIND_FIELDS[req.kind];
  const list = ((current[field] ?? []) as readonly CRObject[]).filter((o) => o.metadata.name !== req.name);
  const next = req.operation === 'DELETE' || !req.object ? list : [...list, req.object];
  return { ...current, [field]: next };
}

function poolHolders(
  name: string,
  services: readonly ServiceLike[],
  ranges: (ip: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const s of services) {
    const ips = statusIPs(s);
    if (ips.length === 0) continue;
    const ann = s.metadata.annotations?.[ANN_ALLOCATED_FROM];
    if (ann === name || (ann === undefined && ips.some(ranges)))
      out.push(`${serviceKey(s)} (${ips.join(', ')})`);
  }
  return out.sort();
}

export function admit(req: AdmissionInput, state: AdmissionState): AdmissionDecision {
  if (!isKind(req.kind)) return { allowed: true, warnings: [] };
  const what = `${req.kind} ${req.name}`;
  if ((req.namespace ?? '') !== state.namespace)
    return {
      allowed: false,
      message: `${what}: metallb.io objects must be in the install namespace "${state.namespace}", not "${req.namespace ?? ''}"; Bollard ignores them elsewhere`,
    };
  if (req.operation === 'CONNECT') return { allowed: true, warnings: [] };
  if (req.operation === 'DELETE' && state.namespaceTerminating) return { allowed: true, warnings: [] };
  const before = parseConfig(state.current);
  const afterInput = wouldBe(state.current, req);
  const after = parseConfig(afterInput);
  const known = new Set(before.ok ? [] : before.errors.map((e) => e.message));
  const allFresh = after.ok ? [] : after.errors.filter((e) => !known.has(e.message));
  // As MetalLB's webhook: naming a BFDProfile or Community alias that does not exist yet is admitted
  // (objects come in any order), with a warning, and so is deleting a Community in use; deleting a
  // BFDProfile a BGPPeer uses is not.
  const admitted =
    req.operation === 'DELETE' && req.kind === 'BFDProfile'
      ? []
      : allFresh.filter((e) => e.danglingReference);
  const fresh = allFresh.filter((e) => !admitted.includes(e));
  if (fresh.length > 0) {
    const lines = fresh.map((e) => e.message);
    const prefix =
      req.operation === 'DELETE' ? `cannot delete ${what}: the configuration without it is invalid: ` : '';
    return { allowed: false, message: prefix + lines.join('; ') };
  }
  if (req.operation === 'DELETE' && req.kind === 'IPAddressPool' && before.ok) {
    const pool = before.config.pools.get(req.name);
    if (pool) {
      const inPool = (ip: string): boolean => {
        const a = parseIP(ip);
        return (
          !!a && pool.ranges.some((r) => r.family === a.family && r.first <= a.value && a.value <= r.last)
        );
      };
      const holders = poolHolders(req.name, state.services, inPool);
      if (holders.length > 0)
        return {
          allowed: false,
          message: `cannot delete IPAddressPool ${req.name}: it is in use by ${holders.length} Service${holders.length > 1 ? 's' : ''}: ${holders.slice(0, 10).join(', ')}${holders.length > 10 ? ', …' : ''}; move or delete them first`,
        };
    }
  }
  const knownWarn = new Set(before.warnings.map((w) => w.message));
  return {
    allowed: true,
    warnings: [
      ...admitted.map((e) => `${e.message}; admitted, but the configuration is invalid until it exists`),
      ...after.warnings.filter((w) => !knownWarn.has(w.message)).map((w) => w.message),
    ],
  };
}
