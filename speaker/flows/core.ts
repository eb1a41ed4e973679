// Flow handover, pure: which VIPs' stray TCP packets this node sends to which other nodes, and until
// when. A stray is a packet of a connection this node's conntrack does not know (not a SYN, ctstate
// NEW): after a planned move of a VIP (layer 2 ownership, the router's ECMP set) the packets of the
// connections in flight at that instant arrive here, and kube-proxy would answer them with a reset.
// During a window this node sends them instead to the nodes that may know the connection (the old
// owner in layer 2; every other speaker in BGP, whose copies of flows they do not know they drop),
// whose conntrack still DNATs them as before. docs/layer2.md and docs/bgp.md, "Flow handover".
//
// Plain data and a clock value in, plain data out; speaker/flows/handover.ts does the I/O.

/** The membership fact a speaker publishes when it is told to stop (SIGTERM): a planned stop. */
export const DRAINING_FACT = 'flows:draining';

/** How long strays are handed over after a move when nothing else is configured (the drain time). */
export const DEFAULT_FLOW_WINDOW_MS = 5000;

/**
 * How long a speaker told to stop serving waits, after telling the others, before its VIPs move
 * (the BGP graceful shutdown starts, the exclusion takes effect): the others' handover rules are
 * then in place before the first packet moves.
 */
export const FLOW_LEAD_MS = 1000;

export interface FlowState {
  /** VIP -> target node -> the window's end (ms, the caller's clock). */
  readonly windows: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Service key -> its layer 2 owner as last seen (this node's last view of the election). */
  readonly owners: ReadonlyMap<string, string>;
  /** The membership and Node facts the BGP windows open on, as of the last pass. */
  readonly bgpSignature: string | undefined;
  /** Nodes that announced a planned stop: targets while their speaker is gone (the node is not). */
  readonly planned: ReadonlySet<string>;
}

export const INITIAL_FLOWS: FlowState = {
  windows: new Map(),
  owners: new Map(),
  bgpSignature: undefined,
  planned: new Set(),
};

/** What every pass tells the core about the other speakers. */
export interface PeersView {
  readonly self: string;
  /** Nodes whose speaker is alive (membership; Node Ready when membership is off). */
  readonly live: ReadonlySet<string>;
  /** Live nodes that published DRAINING_FACT. */
  readonly draining: ReadonlySet<string>;
  /** Nodes labelled node.kubernetes.io/exclude-from-external-load-balancers. */
  readonly excluded: ReadonlySet<string>;
}

function open(
  windows: Map<string, Map<string, number>>,
  vips: Iterable<string>,
  targets: Iterable<string>,
  until: number,
): void {
  const ts = [...targets];
  if (ts.length === 0) return;
  for (const vip of vips) {
    let w = windows.get(vip);
    if (!w) windows.set(vip, (w = new Map()));
    for (const t of ts) w.set(t, Math.max(w.get(t) ?? 0, until));
  }
}

function copy(windows: FlowState['windows']): Map<string, Map<string, number>> {
  return new Map([...windows].map(([v, w]) => [v, new Map(w)]));
}

/** The nodes a window may target: live speakers, and the nodes whose speaker stopped as planned. */
function reachable(state: FlowState, peers: PeersView): Set<string> {
  const out = new Set([...peers.live, ...state.planned]);
  out.delete(peers.self);
  return out;
}

/**
 * One pass's view of the other speakers. A node that publishes DRAINING_FACT is remembered as a
 * planned stop until it is live again without it; a window whose target is neither live nor a planned
 * stop ends (forwarding to a node that died would turn a reset into a hang); windows that ended go.
 * BGP: when the set of nodes that may carry the VIPs changes (a speaker lives or dies, a node is
 * labelled excluded or unlabelled, a speaker starts draining) or at this speaker's first pass (it
 * joins the routers' ECMP sets), the router may move flows between any two carriers: every BGP VIP
 * gets a window to every other reachable speaker.
 */
export function observePeers(
  state: FlowState,
  peers: PeersView,
  bgpVips: () => readonly string[],
  now: number,
  windowMs: number,
): FlowState {
  const planned = new Set(state.planned);
  for (const n of peers.draining) planned.add(n);
  for (const n of planned) if (peers.live.has(n) && !peers.draining.has(n)) planned.delete(n);
  const signature = JSON.stringify([
    [...peers.live].sort(),
    [...peers.excluded].sort(),
    [...peers.draining].sort(),
  ]);
  const next: FlowState = { ...state, planned, bgpSignature: signature };
  if (signature === state.bgpSignature) return prune(next, peers, now);
  const windows = copy(state.windows);
  open(windows, bgpVips(), reachable(next, peers), now + windowMs);
  return prune({ ...next, windows }, peers, now);
}

/** Windows past their end, and targets that are neither live nor a planned stop, removed. */
export function prune(state: FlowState, peers: PeersView, now: number): FlowState {
  const ok = reachable(state, peers);
  let changed = false;
  const windows = new Map<string, ReadonlyMap<string, number>>();
  for (const [vip, w] of state.windows) {
    const kept = new Map([...w].filter(([t, end]) => end > now && ok.has(t)));
    if (kept.size !== w.size) changed = true;
    if (kept.size > 0) windows.set(vip, kept);
  }
  return changed ? { ...state, windows } : state;
}

/** A layer 2 decision as the core needs it. */
export interface L2Owner {
  readonly owner: string | undefined;
  readonly service: { readonly ips: readonly string[] };
}

/**
 * Layer 2: the decisions of the Services in `keys` (all of `decided` when undefined). A Service this
 * node gains from another node opens a window for its VIPs to that node (this node's last view of the
 * election); one gained with no previous owner known (this speaker just started) to every other
 * reachable speaker, since any of them may have owned it.
 */
export function observeLayer2(
  state: FlowState,
  peers: PeersView,
  decided: ReadonlyMap<string, L2Owner>,
  keys: Iterable<string> | undefined,
  now: number,
  windowMs: number,
): FlowState {
  // (the maps are copied only when an owner changed: most passes change none)
  const changed: [string, L2Owner | undefined][] = [];
  for (const k of keys ?? decided.keys()) {
    const d = decided.get(k);
    if (d ? d.owner !== undefined && d.owner !== state.owners.get(k) : state.owners.has(k))
      changed.push([k, d]);
  }
  if (changed.length === 0) return state;
  const owners = new Map(state.owners);
  const windows = copy(state.windows);
  const ok = reachable(state, peers);
  for (const [k, d] of changed) {
    if (!d?.owner) {
      owners.delete(k);
      continue;
    }
    const before = owners.get(k);
    if (d.owner === peers.self) {
      const targets = before === undefined ? [...ok] : ok.has(before) ? [before] : [];
      open(windows, d.service.ips, targets, now + windowMs);
    }
    owners.set(k, d.owner);
  }
  return { ...state, owners, windows };
}

/** The handover rules: VIP -> the nodes its strays go to (sorted), for the VIPs with a window. */
export function rulesOf(state: FlowState): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [vip, w] of [...state.windows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    out.set(vip, [...w.keys()].sort());
  return out;
}

/** When the next window ends (undefined: none open). */
export function nextEnd(state: FlowState): number | undefined {
  let min: number | undefined;
  for (const w of state.windows.values())
    for (const end of w.values()) if (min === undefined || end < min) min = end;
  return min;
}
