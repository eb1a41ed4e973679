// `bollard explain service NS/NAME` (pure): the whole chain from the Service to the wire, in plain words.
// Every decision comes from the code that makes it: the allocator (pool verdicts, allocation reasons),
// the config parse, the speaker's advertisement selection, eligibility and election, BGP export.
import type { Config, L2Advertisement } from '../../config/types.js';
import { anyMatches } from '../../config/selector.js';
import { type PoolVerdict } from '../../controller/allocator.js';
import { exhaustedPools, type ExhaustedPool } from './exhausted.js';
import {
  ANN_ALLOCATED_FROM,
  isOurs,
  serviceKey,
  serviceRequest,
  statusIPs,
} from '../../controller/request.js';
import {
  advertisementsFor,
  electionOrder,
  preferenceScores,
  poolOfService,
  selectedNodes,
} from '../../speaker/layer2/election.js';
import { EXCLUDE_LB_LABEL, eligibleNodes, type IneligibleReason } from '../../speaker/eligibility.js';
import { peersForNode } from '../../speaker/bgp/export.js';
import { familyOfPrefix } from '../../speaker/bgp/adj-rib-out.js';
import { offeredFamilies } from '../../speaker/bgp/session-config.js';
import {
  announcedBy,
  configFacts,
  endpointsOf,
  findService,
  healthOf,
  nodeFacts,
  rebuildAllocator,
  serviceSelectorsOf,
  sessionUp,
  sessionsOf,
  speakerOf,
  type Liveness,
} from './facts.js';
import { ExplainError, type Snapshot } from './types.js';
import { withConflicts, type ConflictLine } from './conflicts.js';
import { verificationOf, verificationProblems, type Verification } from './verification.js';

export interface AdvertisementVerdict {
  readonly kind: 'L2Advertisement' | 'BGPAdvertisement';
  readonly name: string;
  readonly applies: boolean;
  readonly reason: string;
}

export interface NodeVerdict {
  readonly node: string;
  readonly eligible: boolean;
  readonly reason?: IneligibleReason;
  readonly detail: string;
}

export interface PeerVerdict {
  readonly peer: string;
  /** metallb_bgp_session_up from the node's speaker (undefined = speaker not reachable). */
  readonly sessionUp: boolean | undefined;
  /** The route goes to this peer (advertisement peers + session up + node eligible). */
  readonly carries: boolean;
  readonly detail: string;
}

export interface ServiceExplanation {
  readonly service: string;
  readonly handled: boolean;
  /** bollard.io/ImplementationConflict and KubeProxyConflict as written on the Service (conflicts.ts). */
  readonly conflicts?: readonly ConflictLine[];
  /** The Service's state in one line: pending, assigned and announced, assigned but not reachable… */
  readonly verdict: 'pending' | 'announced' | 'not-announced' | 'not-handled';
  /** What is wrong, worst first (empty = nothing found). */
  readonly problems: string[];
  readonly config: {
    readonly valid: boolean;
    readonly errors: readonly string[];
    readonly controllerState?: string;
  };
  readonly request?: {
    readonly families: readonly string[];
    readonly policy: string;
    readonly requestedIPs: readonly string[];
    readonly pool?: string;
    readonly sharingKey?: string;
    readonly externalTrafficPolicy: 'Cluster' | 'Local';
  };
  readonly ips: readonly string[];
  readonly pool?: string;
  readonly allocation: { readonly ok: boolean; readonly reason: string; readonly lastEvent?: string };
  readonly pools: readonly PoolVerdict[];
  /** Pending on full pools: who holds their addresses and what to do. */
  readonly exhausted?: readonly ExhaustedPool[];
  readonly advertisements: readonly AdvertisementVerdict[];
  readonly layer2?: {
    readonly nodes: readonly NodeVerdict[];
    /** The node the election picks among the eligible ones. */
    readonly expectedOwner?: string;
    /** Nodes that report announcing (ServiceL2Status objects and metallb_speaker_announced). */
    readonly announcing: readonly string[];
    /** What the VIP's prober saw on the wire (the Service's bollard.io/* verification conditions). */
    readonly verification: Verification;
  };
  readonly bgp?: {
    readonly nodes: readonly (NodeVerdict & {
      readonly peers: readonly PeerVerdict[];
      readonly statusPeers: readonly string[];
    })[];
  };
  readonly speakers: readonly {
    readonly endpoint: string;
    readonly node?: string;
    readonly reachable: boolean;
    readonly error?: string;
  }[];
}

const WHY: Record<IneligibleReason, string> = {
  'not-alive': 'its speaker is not alive',
  'network-unavailable': 'the Node condition NetworkUnavailable is True',
  'excluded-by-label': `the Node is labelled ${EXCLUDE_LB_LABEL}`,
  leaving: 'its speaker is handing its VIPs over (SIGTERM or the exclusion label)',
  'not-selected': 'no advertisement selects this node',
  'no-serving-endpoint': 'the Service has no ready endpoint on any node',
  'no-local-endpoint': 'externalTrafficPolicy is Local and the Service has no ready endpoint on this node',
  'health-check-failing': "kube-proxy's health check (healthCheckNodePort) fails on this node",
  'health-unknown': "the health check result is unknown (the node's speaker has not reported one)",
};

function nodeDetail(
  reason: IneligibleReason,
  live: Liveness | undefined,
  advNames: readonly string[],
  hcPort: number | undefined,
): string {
  if (reason === 'not-alive') return live?.detail ?? WHY[reason];
  if (reason === 'not-selected')
    return `the nodeSelectors of ${advNames.length ? advNames.join(', ') : 'the advertisements'} do not select this node`;
  if (reason === 'health-check-failing' && hcPort !== undefined)
    return `kube-proxy's health check on healthCheckNodePort ${hcPort} fails on this node (no local endpoint as kube-proxy sees it, or kube-proxy down)`;
  return WHY[reason];
}

function latestEvent(s: Snapshot, ns: string, name: string, reasons: readonly string[]): string | undefined {
  const evs = s.events
    .filter((e) => {
      const r = e.regarding ?? e.involvedObject;
      return r?.namespace === ns && r.name === name && reasons.includes(e.reason ?? '');
    })
    .map((e) => ({
      t: e.series?.lastObservedTime ?? e.eventTime ?? e.lastTimestamp ?? e.metadata?.creationTimestamp ?? '',
      text: `${e.reason}: ${e.note ?? e.message ?? ''}`,
    }))
    .sort((a, b) => a.t.localeCompare(b.t));
  return evs[evs.length - 1]?.text;
}

function l2AdvVerdicts(
  config: Config,
  pool: string | undefined,
  labels: Readonly<Record<string, string>>,
  selectors: ReturnType<typeof serviceSelectorsOf>,
): AdvertisementVerdict[] {
  return config.l2Advertisements.map((a: L2Advertisement) => {
    if (!pool || !a.pools.includes(pool))
      return {
        kind: 'L2Advertisement',
        name: a.name,
        applies: false,
        reason: `covers pools [${a.pools.join(', ')}], not ${pool ?? 'the Service’s pool'}`,
      };
    if (!anyMatches(selectors.get(a.name) ?? [], labels))
      return {
        kind: 'L2Advertisement',
        name: a.name,
        applies: false,
        reason: "its serviceSelectors do not match the Service's labels",
      };
    return {
      kind: 'L2Advertisement',
      name: a.name,
      applies: true,
      reason: `covers pool ${pool}${a.nodeSelectors.length ? `, on nodes matching ${a.nodeSelectors.map((x) => x.toString()).join(' | ')}` : ', on every node'}${a.interfaces.length ? `, interfaces ${a.interfaces.join(', ')}` : ''}`,
    };
  });
}

export function explainService(s: Snapshot, ref: string): ServiceExplanation {
  return withConflicts(explainServiceChain(s, ref), findService(s, ref));
}

function explainServiceChain(s: Snapshot, ref: string): ServiceExplanation {
  const svc = findService(s, ref);
  if (!svc) throw new ExplainError(`Service ${ref}`, 'not found');
  const key = serviceKey(svc);
  const ns = svc.metadata.namespace ?? '';
  const problems: string[] = [];
  const cfg = configFacts(s);
  const controllerState = s.configStates.find((c) => c.metadata?.name === 'controller')?.status;
  const speakers = s.speakers.map((x) => ({
    endpoint: x.endpoint,
    ...(x.node ? { node: x.node } : {}),
    reachable: x.reachable,
    ...(x.error ? { error: x.error } : {}),
  }));
  const ips = statusIPs(svc);
  const annotatedPool = svc.metadata.annotations?.[ANN_ALLOCATED_FROM];
  const base = {
    service: key,
    config: {
      valid: cfg.ok,
      errors: cfg.errors,
      ...(controllerState?.result ? { controllerState: controllerState.result } : {}),
    },
    ips,
    speakers,
  };

  if (!isOurs(svc, s.lbClass || undefined)) {
    const why =
      svc.spec?.type !== 'LoadBalancer'
        ? `it is of type ${svc.spec?.type ?? 'ClusterIP'}, not LoadBalancer`
        : `its loadBalancerClass "${svc.spec.loadBalancerClass ?? ''}" is not the one Bollard handles (${s.lbClass ? `"${s.lbClass}"` : 'none: only Services without a loadBalancerClass'})`;
    return {
      ...base,
      handled: false,
      verdict: 'not-handled',
      problems: [`Bollard does not handle this Service: ${why}`],
      allocation: { ok: false, reason: why },
      pools: [],
      advertisements: [],
    };
  }
  if (!cfg.ok)
    problems.push(
      `the metallb.io configuration is invalid (${cfg.errors.length} error${cfg.errors.length > 1 ? 's' : ''}); the controller and speakers keep the last valid one: ${cfg.errors.join('; ')}`,
    );
  const config = cfg.config;
  const rr = serviceRequest(svc, s.namespaceLabels.get(ns) ?? {});
  const lastEvent = latestEvent(s, ns, svc.metadata.name, [
    'AllocationFailed',
    'IPAllocated',
    'LoadBalancerFailed',
    'ClearAssignment',
  ]);
  if (!rr.ok) {
    problems.unshift(`the Service's request is invalid: ${rr.reason}`);
    return {
      ...base,
      handled: true,
      verdict: ips.length ? 'not-announced' : 'pending',
      problems,
      allocation: { ok: false, reason: rr.reason, ...(lastEvent ? { lastEvent } : {}) },
      pools: [],
      advertisements: [],
    };
  }
  const req = rr.request;
  const request = {
    families: req.families.map((f) => (f === 4 ? 'IPv4' : 'IPv6')),
    policy: req.policy,
    requestedIPs: req.requestedIPs,
    ...(req.pool ? { pool: req.pool } : {}),
    ...(req.sharingKey ? { sharingKey: req.sharingKey } : {}),
    externalTrafficPolicy: req.etpLocal ? ('Local' as const) : ('Cluster' as const),
  };
  if (!config)
    return {
      ...base,
      handled: true,
      verdict: ips.length ? 'not-announced' : 'pending',
      problems,
      request,
      allocation: {
        ok: ips.length > 0,
        reason: 'cannot evaluate pools while the configuration is invalid',
        ...(lastEvent ? { lastEvent } : {}),
      },
      pools: [],
      advertisements: [],
    };

  // --- allocation: the allocator as the controller holds it, with this Service's own IPs claimed ---
  const alloc = rebuildAllocator(s, config, key);
  let allocation: ServiceExplanation['allocation'];
  if (ips.length > 0) {
    const c = alloc.claim(req, ips);
    allocation = c.ok
      ? {
          ok: true,
          reason: `${ips.join(', ')} from pool ${c.assignment.pool}`,
          ...(lastEvent ? { lastEvent } : {}),
        }
      : {
          ok: false,
          reason: `holds ${ips.join(', ')}, but ${c.reason}`,
          ...(lastEvent ? { lastEvent } : {}),
        };
    if (!c.ok) problems.push(`the Service's IP no longer fits: ${c.reason}`);
  } else {
    const pools = alloc.explainPools(req);
    const e = alloc.ensure(req);
    allocation = e.ok
      ? {
          ok: false,
          reason: `no IP yet, but the allocator would give it ${e.assignment.ips.join(', ')} from pool ${e.assignment.pool} now: is the controller running and leading? (ConfigurationState controller: ${controllerState?.result ?? 'missing'})`,
          ...(lastEvent ? { lastEvent } : {}),
        }
      : { ok: false, reason: e.reason, ...(lastEvent ? { lastEvent } : {}) };
    problems.unshift(`EXTERNAL-IP pending: ${allocation.reason}`);
    const created = new Map(
      s.services.map((x) => [serviceKey(x), x.metadata?.creationTimestamp ?? ''] as [string, string]),
    );
    const alternatives = e.ok
      ? []
      : pools
          .map((p) => p.pool)
          .filter((name) => name !== req.pool)
          .filter((name) =>
            alloc.explainPools({ ...req, pool: name }).some((v) => v.pool === name && v.usable),
          );
    const exhausted = e.ok
      ? []
      : exhaustedPools(pools, alloc.allAssignments(), created, req.sharingKey, alternatives);
    return {
      ...base,
      handled: true,
      verdict: 'pending',
      problems,
      request,
      allocation,
      pools,
      ...(exhausted.length > 0 ? { exhausted } : {}),
      advertisements: [],
    };
  }
  const pools = alloc.explainPools(req);
  const pool = poolOfService(config, {
    namespace: ns,
    labels: req.labels,
    ips,
    ...(annotatedPool ? { pool: annotatedPool } : {}),
  });

  // --- advertisements ---
  const l2Sel = serviceSelectorsOf(s.config.l2Advertisements);
  const bgpSel = serviceSelectorsOf(s.config.bgpAdvertisements);
  const advertisements: AdvertisementVerdict[] = [
    ...l2AdvVerdicts(config, pool, req.labels, l2Sel),
    ...config.bgpAdvertisements.map((a): AdvertisementVerdict => {
      if (!pool || !a.pools.includes(pool))
        return {
          kind: 'BGPAdvertisement',
          name: a.name,
          applies: false,
          reason: `covers pools [${a.pools.join(', ')}], not ${pool ?? 'the Service’s pool'}`,
        };
      if (!anyMatches(bgpSel.get(a.name) ?? [], req.labels))
        return {
          kind: 'BGPAdvertisement',
          name: a.name,
          applies: false,
          reason: "its serviceSelectors do not match the Service's labels",
        };
      return {
        kind: 'BGPAdvertisement',
        name: a.name,
        applies: true,
        reason: `covers pool ${pool}; peers ${a.peers.length ? a.peers.join(', ') : 'all'}; /${a.aggregationLength}${a.localPref !== undefined ? `; localPref ${a.localPref}` : ''}${a.communities.length ? `; communities ${a.communities.map((c) => c.text).join(', ')}` : ''}${a.nodeSelectors.length ? `; nodes matching ${a.nodeSelectors.map((x) => x.toString()).join(' | ')}` : ''}`,
      };
    }),
  ];
  const l2Advs = advertisementsFor(config, {
    namespace: ns,
    labels: req.labels,
    ips,
    ...(pool ? { pool } : {}),
    ...(req.sharingKey ? { allowSharedIP: true } : {}),
  });
  if (req.sharingKey && l2Advs.length === 0 && pool !== undefined) {
    const bySelector = config.l2Advertisements.filter(
      (a) =>
        a.pools.includes(pool) && a.serviceSelectors.length > 0 && anyMatches(a.serviceSelectors, req.labels),
    );
    if (bySelector.length > 0)
      problems.push(
        `not announced in layer 2: a Service with allow-shared-ip is not announced through an L2Advertisement with serviceSelectors (${bySelector.map((a) => a.name).join(', ')}), as in MetalLB; use an L2Advertisement without serviceSelectors for this pool, or drop allow-shared-ip`,
      );
  }
  const bgpAdvs = config.bgpAdvertisements.filter(
    (a) => pool !== undefined && a.pools.includes(pool) && anyMatches(bgpSel.get(a.name) ?? [], req.labels),
  );
  if (l2Advs.length === 0 && bgpAdvs.length === 0)
    problems.push(
      `no L2Advertisement or BGPAdvertisement covers pool ${pool ?? '?'} for this Service: the IP is assigned but nobody announces it`,
    );

  // --- nodes ---
  const { facts, live } = nodeFacts(s);
  const endpoints = endpointsOf(s, key);
  const hcPort = svc.spec?.healthCheckNodePort;
  const svcFacts = {
    externalTrafficPolicy: req.etpLocal ? ('Local' as const) : ('Cluster' as const),
    ...(req.etpLocal && hcPort ? { healthCheckNodePort: hcPort } : {}),
  };
  const membershipOn = s.speakers.some((x) =>
    x.samples.some((y) => y.name === 'bollard_speaker_member_alive'),
  );
  const unreachable = s.speakers.filter((x) => !x.reachable);
  for (const u of unreachable)
    problems.push(
      `the speaker metrics at ${u.endpoint}${u.node ? ` (${u.node})` : ''} are unreachable (${u.error ?? 'no answer'})`,
    );

  let layer2: ServiceExplanation['layer2'];
  if (l2Advs.length > 0) {
    const selected = selectedNodes(l2Advs, facts);
    const el = eligibleNodes({
      service: svcFacts,
      endpoints,
      nodes: facts,
      selected,
      health: (n) => healthOf(s, n, key),
      unknownHealth: membershipOn ? 'ineligible' : 'eligible',
    });
    const nodes: NodeVerdict[] = facts.map((n) => {
      const r = el.ineligible.get(n.name);
      if (!r) {
        const ifs = el.eligible.get(n.name) ?? [];
        return {
          node: n.name,
          eligible: true,
          detail: `eligible${ifs.length ? ` (interfaces ${ifs.join(', ')})` : ''}`,
        };
      }
      return {
        node: n.name,
        eligible: false,
        reason: r,
        detail: nodeDetail(
          r,
          live.get(n.name),
          l2Advs.map((a) => a.name),
          hcPort,
        ),
      };
    });
    const order = electionOrder(
      el.eligible.keys(),
      ips[0] as string,
      undefined,
      preferenceScores(l2Advs, facts),
    );
    const expectedOwner = order[0];
    const statusNodes = s.l2Statuses
      .filter((o) => o.status?.serviceName === svc.metadata.name && o.status.serviceNamespace === ns)
      .map((o) => o.status?.node ?? o.metadata?.labels?.['metallb.io/node'] ?? '');
    const announcing = [...new Set([...statusNodes, ...announcedBy(s, key, 'layer2')])]
      .filter(Boolean)
      .sort();
    const verification = verificationOf(svc);
    layer2 = { nodes, ...(expectedOwner ? { expectedOwner } : {}), announcing, verification };
    problems.push(...verificationProblems(verification));
    if (!expectedOwner)
      problems.push(
        `no node is eligible to answer ARP/NDP for ${ips.join(', ')}: ${nodes.map((n) => `${n.node}: ${n.detail}`).join('; ')}`,
      );
    if (announcing.length > 1)
      problems.push(
        `${announcing.length} nodes announce ${ips.join(', ')} in layer 2 (${announcing.join(', ')}): more than one answers ARP/NDP (membership split?)`,
      );
    else if (expectedOwner && announcing.length === 1 && announcing[0] !== expectedOwner)
      problems.push(
        `${announcing[0]} announces, but the election picks ${expectedOwner}: the speakers disagree (membership views differ, or a change is in flight)`,
      );
    else if (expectedOwner && announcing.length === 0)
      problems.push(
        `${expectedOwner} should answer ARP/NDP, but no speaker reports announcing ${ips.join(', ')}`,
      );
  }

  let bgp: ServiceExplanation['bgp'];
  if (bgpAdvs.length > 0) {
    const selected = new Map<string, readonly string[]>();
    for (const n of facts)
      if (bgpAdvs.some((a) => a.nodeSelectors.length === 0 || anyMatches(a.nodeSelectors, n.labels)))
        selected.set(n.name, []);
    // In BGP every node decides for itself: liveness is not a criterion (a dead speaker simply has no session).
    const el = eligibleNodes({
      service: svcFacts,
      endpoints,
      nodes: facts.map((f) => ({ ...f, alive: true })),
      selected,
      health: (n) => healthOf(s, n, key),
      unknownHealth: membershipOn ? 'ineligible' : 'eligible',
    });
    const nodes = facts.map((n) => {
      const r = el.ineligible.get(n.name);
      const sessions = sessionsOf(s, n.name);
      const reachable = speakerOf(s, n.name)?.reachable ?? false;
      const advPeers = new Set<string>();
      for (const a of bgpAdvs) {
        if (a.nodeSelectors.length > 0 && !anyMatches(a.nodeSelectors, n.labels)) continue;
        for (const p of peersForNode(config.peers, n))
          if (a.peers.length === 0 || a.peers.includes(p.name)) advPeers.add(p.name);
      }
      const peers: PeerVerdict[] = peersForNode(config.peers, n).map((p) => {
        const up = reachable ? (sessionUp(sessions, p) ?? false) : undefined;
        // The session carries only the families it offers (its transport's, both with dualStackAddressFamily).
        const offered = p.peerAddress ? offeredFamilies(p.peerAddress, p.dualStackAddressFamily) : undefined;
        const fits = (ip: string): boolean =>
          !offered ||
          offered.some((f) => f.afi === familyOfPrefix(`${ip}/${ip.includes(':') ? 128 : 32}`).afi);
        const familyOk = ips.some(fits);
        const wanted = advPeers.has(p.name) && familyOk;
        const carries = !r && wanted && up === true;
        const detail = !familyOk
          ? `the session to ${p.peerAddress ?? '?'} carries only ${p.peerAddress?.includes(':') ? 'IPv6' : 'IPv4'} routes (dualStackAddressFamily is false), not ${ips.join(', ')}`
          : !wanted
            ? 'the advertisement does not send this Service to this peer'
            : up === undefined
              ? "session state unknown (the node's speaker metrics are unreachable)"
              : !up
                ? `session down (metallb_bgp_session_up 0) to ${p.peerAddress ?? p.interface ?? '?'} AS ${p.peerASN ?? p.dynamicASN ?? '?'}`
                : r
                  ? 'session up, but this node does not announce the Service'
                  : 'session up; the route is announced';
        return { peer: p.name, sessionUp: up, carries, detail };
      });
      const statusPeers = s.bgpStatuses
        .filter(
          (o) =>
            o.status?.serviceName === svc.metadata.name &&
            o.status.serviceNamespace === ns &&
            o.status.node === n.name,
        )
        .flatMap((o) => o.status?.peers ?? []);
      const v: NodeVerdict = r
        ? {
            node: n.name,
            eligible: false,
            reason: r,
            detail: nodeDetail(
              r,
              live.get(n.name),
              bgpAdvs.map((a) => a.name),
              hcPort,
            ),
          }
        : {
            node: n.name,
            eligible: true,
            detail: peers.length ? 'announces the Service' : 'eligible, but no BGPPeer applies to this node',
          };
      return { ...v, peers, statusPeers };
    });
    bgp = { nodes };
    const carrying = nodes.filter((n) => n.peers.some((p) => p.carries));
    if (carrying.length === 0)
      problems.push(
        `no BGP session carries a route for ${ips.join(', ')}: ${nodes.map((n) => `${n.node}: ${n.eligible ? n.peers.map((p) => `${p.peer} ${p.detail}`).join(', ') || n.detail : n.detail}`).join('; ')}`,
      );
    for (const n of nodes)
      for (const p of n.peers)
        if (p.sessionUp === false && !n.reason) problems.push(`${n.node}: BGP session to ${p.peer} is down`);
  }

  const announced =
    (layer2 !== undefined && layer2.announcing.length > 0) ||
    (bgp !== undefined && bgp.nodes.some((n) => n.peers.some((p) => p.carries)));
  return {
    ...base,
    handled: true,
    verdict: announced ? 'announced' : 'not-announced',
    problems,
    request,
    ...(pool ? { pool } : {}),
    allocation,
    pools,
    advertisements,
    ...(layer2 ? { layer2 } : {}),
    ...(bgp ? { bgp } : {}),
  };
}
