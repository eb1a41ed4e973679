// `bollard explain pool NAME` and `bollard explain node NAME` (pure).
import { familyName, isOurs, serviceKey } from '../../controller/request.js';
import { EXCLUDE_LB_LABEL } from '../../speaker/eligibility.js';
import { condition, internalIPs } from '../../speaker/k8s-types.js';
import { peersForNode } from '../../speaker/bgp/export.js';
import type { Family } from '../../config/ip.js';
import { configFacts, liveness, rebuildAllocator, sessionUp, sessionsOf, speakerOf } from './facts.js';
import { ExplainError, type Snapshot } from './types.js';

export interface PoolExplanation {
  readonly pool: string;
  readonly addresses: readonly string[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation?: {
    priority: number;
    namespaces: string[];
    namespaceSelectors: string[];
    serviceSelectors: string[];
  };
  readonly usage: readonly { family: string; total: string; inUse: string; available: string }[];
  readonly holders: readonly { service: string; ips: readonly string[] }[];
  readonly advertisements: readonly string[];
  readonly problems: string[];
}

export function explainPool(s: Snapshot, name: string): PoolExplanation {
  const cfg = configFacts(s);
  if (!cfg.config)
    throw new ExplainError(`IPAddressPool ${name}`, `the configuration is invalid: ${cfg.errors.join('; ')}`);
  const p = cfg.config.pools.get(name);
  if (!p) throw new ExplainError(`IPAddressPool ${name}`, `not found in namespace ${s.namespace}`);
  const alloc = rebuildAllocator(s, cfg.config);
  const st = alloc.stats().find((x) => x.pool === name);
  const usage = ([4, 6] as Family[])
    .filter((f) => p.size[f] > 0n)
    .map((f) => ({
      family: familyName(f),
      total: String(st?.total[f] ?? 0n),
      inUse: String(st?.assigned[f] ?? 0n),
      available: String(st?.available[f] ?? 0n),
    }));
  const holders = s.services
    .filter((x) => isOurs(x, s.lbClass || undefined))
    .flatMap((x) => {
      const a = alloc.assignment(serviceKey(x));
      return a && a.pool === name ? [{ service: a.key, ips: a.ips }] : [];
    })
    .sort((a, b) => a.service.localeCompare(b.service));
  const advertisements = [
    ...cfg.config.l2Advertisements
      .filter((a) => a.pools.includes(name))
      .map((a) => `L2Advertisement ${a.name}`),
    ...cfg.config.bgpAdvertisements
      .filter((a) => a.pools.includes(name))
      .map((a) => `BGPAdvertisement ${a.name}`),
  ];
  const problems: string[] = [];
  for (const u of usage) {
    if (u.available === '0') problems.push(`${u.family} exhausted: ${u.inUse} of ${u.total} in use`);
    else if (BigInt(u.total) > 0n && (BigInt(u.inUse) * 10n) / BigInt(u.total) >= 9n)
      problems.push(`${u.family} nearly exhausted: ${u.inUse} of ${u.total} in use`);
  }
  if (advertisements.length === 0)
    problems.push(
      'no L2Advertisement or BGPAdvertisement covers this pool: its IPs are assigned but never announced',
    );
  const sa = p.serviceAllocation;
  return {
    pool: name,
    addresses: p.addresses,
    autoAssign: p.autoAssign,
    avoidBuggyIPs: p.avoidBuggyIPs,
    ...(sa
      ? {
          serviceAllocation: {
            priority: sa.priority,
            namespaces: [...sa.namespaces],
            namespaceSelectors: sa.namespaceSelectors.map((x) => x.toString()),
            serviceSelectors: sa.serviceSelectors.map((x) => x.toString()),
          },
        }
      : {}),
    usage,
    holders,
    advertisements,
    problems,
  };
}

export interface NodeExplanation {
  readonly node: string;
  readonly addresses: readonly string[];
  readonly ready: boolean;
  readonly excluded: boolean;
  readonly membership: {
    readonly alive: boolean;
    readonly detail: string;
    readonly view: Readonly<Record<string, boolean>>;
  };
  readonly speaker: {
    readonly endpoint?: string;
    readonly reachable: boolean;
    readonly error?: string;
    readonly configState?: string;
  };
  readonly sessions: readonly { peer: string; up: boolean | undefined; address?: string }[];
  readonly vips: readonly { service: string; ip: string; protocol: string }[];
  readonly healthChecks: readonly { service: string; ok: boolean }[];
  readonly problems: string[];
}

export function explainNode(s: Snapshot, name: string): NodeExplanation {
  const node = s.nodes.find((n) => n.metadata?.name === name);
  if (!node) throw new ExplainError(`Node ${name}`, 'not found');
  const live = liveness(s, node);
  const sc = speakerOf(s, name);
  const view: Record<string, boolean> = {};
  const vips: { service: string; ip: string; protocol: string }[] = [];
  const healthChecks: { service: string; ok: boolean }[] = [];
  for (const x of sc?.samples ?? []) {
    if (x.name === 'bollard_speaker_member_alive' && x.labels.member) view[x.labels.member] = x.value === 1;
    if (x.name === 'metallb_speaker_announced' && x.value === 1)
      vips.push({
        service: x.labels.service ?? '',
        ip: x.labels.ip ?? '',
        protocol: x.labels.protocol ?? '',
      });
    if (x.name === 'bollard_speaker_healthcheck_ok')
      healthChecks.push({ service: x.labels.service ?? '', ok: x.value === 1 });
  }
  const problems: string[] = [];
  const cfg = configFacts(s);
  const sessions: { peer: string; up: boolean | undefined; address?: string }[] = [];
  const up = sessionsOf(s, name);
  if (cfg.config) {
    for (const p of peersForNode(cfg.config.peers, { name, labels: node.metadata?.labels ?? {} }))
      sessions.push({
        peer: p.name,
        up: sc?.reachable ? (sessionUp(up, p) ?? false) : undefined,
        ...(p.peerAddress ? { address: p.peerAddress } : {}),
      });
  }
  const ready = condition(node, 'Ready') === 'True';
  const excluded = Object.prototype.hasOwnProperty.call(node.metadata?.labels ?? {}, EXCLUDE_LB_LABEL);
  const configState = s.configStates.find((c) => c.metadata?.name === `speaker-${name}`)?.status?.result;
  if (!live.alive) problems.push(live.detail);
  if (!ready) problems.push('the Node is not Ready');
  if (excluded) problems.push(`labelled ${EXCLUDE_LB_LABEL}: it announces nothing`);
  if (!sc) problems.push('no speaker metrics endpoint known for this node');
  else if (!sc.reachable)
    problems.push(`speaker metrics at ${sc.endpoint} unreachable (${sc.error ?? 'no answer'})`);
  if (configState && configState !== 'Valid')
    problems.push(`ConfigurationState speaker-${name} is ${configState}`);
  for (const x of sessions) if (x.up === false) problems.push(`BGP session to ${x.peer} is down`);
  for (const h of healthChecks) if (!h.ok) problems.push(`kube-proxy health check fails for ${h.service}`);
  return {
    node: name,
    addresses: internalIPs(node),
    ready,
    excluded,
    membership: { alive: live.alive, detail: live.detail, view },
    speaker: {
      ...(sc ? { endpoint: sc.endpoint } : {}),
      reachable: sc?.reachable ?? false,
      ...(sc?.error ? { error: sc.error } : {}),
      ...(configState ? { configState } : {}),
    },
    sessions,
    vips: vips.sort((a, b) => a.service.localeCompare(b.service) || a.ip.localeCompare(b.ip)),
    healthChecks,
    problems,
  };
}
