// Facts shared by the explanations (pure): the parsed config, the allocator rebuilt from the Services'
// status (as the controller rebuilds it after a restart), node liveness and health from the speakers.
import { parseConfig, summarizeErrors } from '../../config/parse.js';
import { LabelSelector } from '../../config/selector.js';
import type { CRObject, Config } from '../../config/types.js';
import { Allocator } from '../../controller/allocator.js';
import { isOurs, serviceKey, serviceRequest, statusIPs } from '../../controller/request.js';
import { condition, type NodeObj } from '../../speaker/k8s-types.js';
import type { EndpointFacts, NodeFacts } from '../../speaker/eligibility.js';
import type { ServiceObject, Snapshot, SpeakerScrape } from './types.js';
import { bgpPeerLabel, vrfLabel } from '../../speaker/bgp/metrics.js';

export interface ConfigFacts {
  readonly ok: boolean;
  readonly config: Config | undefined;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

export function configFacts(s: Snapshot): ConfigFacts {
  const r = parseConfig(s.config);
  return r.ok
    ? { ok: true, config: r.config, errors: [], warnings: r.warnings.map((w) => w.message) }
    : {
        ok: false,
        config: undefined,
        errors: summarizeErrors(r.errors).split('\n'),
        warnings: r.warnings.map((w) => w.message),
      };
}

/** serviceSelectors per advertisement name, read from the raw objects (as the speaker does). */
export function serviceSelectorsOf(objs: readonly CRObject[]): Map<string, LabelSelector[]> {
  const out = new Map<string, LabelSelector[]>();
  for (const o of objs) {
    const raw = (o.spec as { serviceSelectors?: unknown } | undefined)?.serviceSelectors;
    const parsed: LabelSelector[] = [];
    if (Array.isArray(raw))
      for (const x of raw) {
        const p = LabelSelector.parse(x as Parameters<typeof LabelSelector.parse>[0]);
        if (p.ok) parsed.push(p.selector);
      }
    out.set(o.metadata.name, parsed);
  }
  return out;
}

/**
 * The allocator as the controller holds it: every handled Service's status IPs claimed (oldest
 * first), except `skip`'s. Returns the allocator and the Services it could not take back.
 */
export function rebuildAllocator(s: Snapshot, config: Config, skip?: string): Allocator {
  const alloc = new Allocator([...config.pools.values()]);
  const sorted = [...s.services].sort((a, b) =>
    (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
  );
  for (const svc of sorted) {
    if (!isOurs(svc, s.lbClass || undefined)) continue;
    const key = serviceKey(svc);
    if (key === skip) continue;
    const ips = statusIPs(svc);
    if (ips.length === 0) continue;
    const r = serviceRequest(svc, s.namespaceLabels.get(svc.metadata.namespace ?? '') ?? {});
    if (r.ok) alloc.claim(r.request, ips);
  }
  return alloc;
}

export function findService(s: Snapshot, key: string): ServiceObject | undefined {
  return s.services.find((x) => serviceKey(x) === key);
}

export function endpointsOf(s: Snapshot, key: string): EndpointFacts[] {
  const out: EndpointFacts[] = [];
  for (const sl of s.endpointSlices) {
    const svc = sl.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc || `${sl.metadata?.namespace ?? ''}/${svc}` !== key) continue;
    for (const e of sl.endpoints ?? [])
      out.push({
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        ...(e.conditions?.ready === false ? { ready: false } : {}),
        ...(e.conditions?.serving != null ? { serving: e.conditions.serving } : {}),
        ...(e.conditions?.terminating != null ? { terminating: e.conditions.terminating } : {}),
      });
  }
  return out;
}

export interface Liveness {
  readonly alive: boolean;
  /** How we know: membership (what other speakers see), the Node's Ready condition, or the speaker itself. */
  readonly source: 'membership' | 'node-ready';
  readonly detail: string;
}

function sampleValue(sc: SpeakerScrape, name: string, labels: Record<string, string>): number | undefined {
  return sc.samples.find(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  )?.value;
}

/** The speaker scrape of a node, if any. */
export function speakerOf(s: Snapshot, node: string): SpeakerScrape | undefined {
  return s.speakers.find((x) => x.node === node && x.reachable) ?? s.speakers.find((x) => x.node === node);
}

/**
 * Whether the node's speaker is alive in membership, from what the other reachable speakers report in
 * bollard_speaker_member_alive; without membership data, the Node's Ready condition (as the speaker does).
 */
export function liveness(s: Snapshot, node: NodeObj): Liveness {
  const name = node.metadata?.name ?? '';
  const views: { by: string; alive: boolean }[] = [];
  for (const sc of s.speakers) {
    if (!sc.reachable || sc.node === name) continue;
    const v = sampleValue(sc, 'bollard_speaker_member_alive', { member: name });
    if (v !== undefined) views.push({ by: sc.node ?? sc.endpoint, alive: v === 1 });
  }
  if (views.length > 0) {
    const dead = views.filter((v) => !v.alive).map((v) => v.by);
    if (dead.length === views.length)
      return {
        alive: false,
        source: 'membership',
        detail: `its speaker is not alive in membership (declared dead by ${dead.join(', ')})`,
      };
    return {
      alive: true,
      source: 'membership',
      detail: `alive in membership (seen by ${views
        .filter((v) => v.alive)
        .map((v) => v.by)
        .join(', ')})`,
    };
  }
  const own = speakerOf(s, name);
  if (own?.reachable && own.samples.some((x) => x.name === 'bollard_speaker_member_alive'))
    return {
      alive: true,
      source: 'membership',
      detail: 'its speaker runs (no other speaker reachable to confirm)',
    };
  const ready = condition(node, 'Ready') === 'True';
  return {
    alive: ready,
    source: 'node-ready',
    detail: ready
      ? 'Node is Ready (no membership data)'
      : 'Node is not Ready and no speaker reports it alive',
  };
}

export function nodeFacts(s: Snapshot): { facts: NodeFacts[]; live: Map<string, Liveness> } {
  const live = new Map<string, Liveness>();
  const facts = s.nodes.map((n) => {
    const l = liveness(s, n);
    const name = n.metadata?.name ?? '';
    live.set(name, l);
    return {
      name,
      labels: n.metadata?.labels ?? {},
      networkUnavailable: condition(n, 'NetworkUnavailable') === 'True',
      alive: l.alive,
    };
  });
  return { facts, live };
}

/** The node's own kube-proxy health-check result for the Service, from its speaker's metrics. */
export function healthOf(s: Snapshot, node: string, service: string): boolean | undefined {
  for (const sc of s.speakers) {
    if (!sc.reachable) continue;
    const v = sampleValue(sc, 'bollard_speaker_healthcheck_ok', { service, node });
    if (v !== undefined) return v === 1;
  }
  return undefined;
}

/** The sessions of a node's speaker (metallb_bgp_session_up), read with `sessionUp`. */
export type Sessions = ReadonlyMap<string, boolean>;

/**
 * metallb_bgp_session_up of a node's speaker, keyed by its `peer` ("<address>:<port>") and `vrf`
 * labels, MetalLB's. A series without `vrf` (a speaker older than the label) is keyed by `peer` alone.
 */
export function sessionsOf(s: Snapshot, node: string): Sessions {
  const out = new Map<string, boolean>();
  const sc = speakerOf(s, node);
  for (const x of sc?.samples ?? [])
    if (x.name === 'metallb_bgp_session_up' && x.labels.peer)
      out.set(x.labels.vrf === undefined ? x.labels.peer : `${x.labels.peer} ${x.labels.vrf}`, x.value === 1);
  return out;
}

/**
 * Whether the session to a BGPPeer is up, from `sessionsOf` (undefined: no series for it). Looked up by
 * MetalLB's labels of the peer; by the BGPPeer's name for speakers that labelled series with it.
 */
export function sessionUp(
  sessions: Sessions,
  p: {
    readonly name: string;
    readonly peerAddress: string | undefined;
    readonly peerPort: number;
    readonly vrf: string;
  },
): boolean | undefined {
  if (p.peerAddress !== undefined) {
    const peer = bgpPeerLabel(p.peerAddress, p.peerPort);
    const v = sessions.get(`${peer} ${vrfLabel(p.vrf)}`) ?? (p.vrf ? undefined : sessions.get(peer));
    if (v !== undefined) return v;
  }
  return sessions.get(p.name);
}

/** Nodes whose speaker exports metallb_speaker_announced for this Service and protocol. */
export function announcedBy(s: Snapshot, service: string, protocol: 'layer2' | 'bgp'): string[] {
  const out = new Set<string>();
  for (const sc of s.speakers)
    for (const x of sc.samples)
      if (
        x.name === 'metallb_speaker_announced' &&
        x.value === 1 &&
        x.labels.service === service &&
        x.labels.protocol === protocol
      )
        out.add(x.labels.node ?? sc.node ?? sc.endpoint);
  return [...out].sort();
}
