// kube-proxy in IPVS mode without strictARP: kube-proxy binds every Service IP, LoadBalancer VIPs
// included, to its `kube-ipvs0` device on every node, and with the kernel's default ARP settings
// (arp_ignore=0) every node then answers ARP for every VIP on its LAN interface: the LAN's view of who
// holds a VIP flips between nodes. strictARP makes kube-proxy set arp_ignore=1 and arp_announce=2.
//
// The speaker checks its own node (the kube-ipvs0 device, the effective arp_ignore/arp_announce of
// `all` and of the interfaces it answers on: the kernel uses the larger of the two) and marks the layer 2
// Services it announces with the bollard.io/KubeProxyConflict condition (reason IPVSWithoutStrictARP),
// a Warning Event on each transition into the conflict, and bollard_conflicts{kind="ipvs_without_strict_arp"}.
// `ipvsArpVerdict` and `kubeProxyConditionFor` are the pure part; `readNodeArpState` and
// `KubeProxyConflicts` the I/O.
import { Rerun } from '../k8s/rerun.js';
import { existsSync, readFileSync } from 'node:fs';
import { background } from '../k8s/background.js';
import type { KubeClient } from '../k8s/client.js';
import type { EventRecorder } from '../k8s/events.js';
import { objRef, type Logger } from '../k8s/logger.js';
import {
  ConditionsInFlight,
  conditionOf,
  nextCondition,
  patchServiceCondition,
  SPEAKER_FIELD_MANAGER,
  type ServedCondition,
  type WantedCondition,
} from '../k8s/service-conditions.js';
import { wallClock, type Clock } from '../proto/clock.js';

export const KUBE_PROXY_CONFLICT = 'bollard.io/KubeProxyConflict';
export const REASON_IPVS_WITHOUT_STRICT_ARP = 'IPVSWithoutStrictARP';
export const IPVS_DEVICE = 'kube-ipvs0';

export interface ArpSysctls {
  arpIgnore: number | undefined;
  arpAnnounce: number | undefined;
}

/** What the speaker reads of its node. */
export interface NodeArpState {
  /** kube-proxy's IPVS dummy device exists. */
  ipvsDevice: boolean;
  all: ArpSysctls;
  /** The interfaces the speaker answers ARP on. */
  interfaces: ReadonlyMap<string, ArpSysctls>;
}

export interface ArpVerdict {
  conflict: boolean;
  /** Why, naming the interfaces and values (empty when there is no conflict). */
  message: string;
}

/**
 * Whether this node answers ARP for VIPs kube-proxy put on kube-ipvs0: with kube-ipvs0 present, each
 * interface whose effective arp_ignore is below 1 (or arp_announce below 2) does. An unreadable value
 * counts as the kernel's default, 0.
 */
export function ipvsArpVerdict(state: NodeArpState): ArpVerdict {
  if (!state.ipvsDevice) return { conflict: false, message: '' };
  const bad: string[] = [];
  const names = state.interfaces.size ? [...state.interfaces.keys()].sort() : [];
  const eff = (a: number | undefined, b: number | undefined) => Math.max(a ?? 0, b ?? 0);
  const check = (label: string, own: ArpSysctls | undefined) => {
    const ignore = eff(state.all.arpIgnore, own?.arpIgnore);
    const announce = eff(state.all.arpAnnounce, own?.arpAnnounce);
    if (ignore < 1 || announce < 2) bad.push(`${label}: arp_ignore=${ignore} arp_announce=${announce}`);
  };
  if (names.length === 0) check('all', undefined);
  for (const n of names) check(n, state.interfaces.get(n));
  if (bad.length === 0) return { conflict: false, message: '' };
  return {
    conflict: true,
    message:
      `kube-proxy runs in IPVS mode without strictARP on this node (${IPVS_DEVICE} holds every Service IP; ` +
      `${bad.join('; ')}): every such node answers ARP for the VIP too. Set strictARP: true in kube-proxy's ` +
      `configuration (it sets arp_ignore=1 and arp_announce=2)`,
  };
}

/** The condition a Service announced from `node` should carry; undefined = no conflict. */
export function kubeProxyConditionFor(node: string, verdict: ArpVerdict): WantedCondition | undefined {
  if (!verdict.conflict) return undefined;
  return {
    status: 'True',
    reason: REASON_IPVS_WITHOUT_STRICT_ARP,
    message: `node ${node}: ${verdict.message}`,
  };
}

export const NO_KUBE_PROXY_CONFLICT = {
  reason: 'NoConflict',
  message: 'the announcing node does not answer ARP for kube-proxy IPVS addresses',
};

function readInt(path: string): number | undefined {
  try {
    const v = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function sysctls(conf: string, iface: string): ArpSysctls {
  return {
    arpIgnore: readInt(`${conf}/${iface}/arp_ignore`),
    arpAnnounce: readInt(`${conf}/${iface}/arp_announce`),
  };
}

/**
 * Reads the state of the network namespace the speaker runs in from /proc/sys/net/ipv4/conf (one folder
 * per device, kube-ipvs0 included). Not /sys/class/net: sysfs shows the namespace that mounted it.
 */
export function readNodeArpState(
  interfaces: readonly string[],
  procConf = '/proc/sys/net/ipv4/conf',
): NodeArpState {
  const root = { procConf };
  return {
    ipvsDevice: existsSync(`${procConf}/${IPVS_DEVICE}`),
    all: sysctls(root.procConf, 'all'),
    interfaces: new Map(interfaces.map((i) => [i, sysctls(root.procConf, i)])),
  };
}

/** A Service this node announces in layer 2. */
export interface AnnouncedService {
  namespace: string;
  name: string;
  /** Its conditions as served (the speaker's Service cache). */
  conditions: readonly ServedCondition[] | undefined;
  generation?: number;
  /** Tells a re-created Service apart (what is in flight for the old one does not apply). */
  uid?: string;
}

export interface KubeProxyConflictsOptions {
  client: KubeClient;
  node: string;
  log: Logger;
  /** Records an Event without waiting. */
  recordEvent: (...args: Parameters<EventRecorder['emit']>) => void;
  /** The interfaces the speaker answers ARP on now. */
  interfaces: () => string[];
  /** The layer 2 Services this node announces now. */
  announced: () => AnnouncedService[];
  /** Sets bollard_conflicts{kind="ipvs_without_strict_arp"}. */
  setGauge: (n: number) => void;
  /** Something changed that the Services' conditions depend on: ask for a pass. */
  onChange: () => void;
  /** How often the node state is read (default 1 s: a few small file reads). */
  intervalMs?: number;
  read?: (interfaces: readonly string[]) => NodeArpState;
  clock?: Clock;
  wall?: Clock;
}

/** The node check on a timer, and the conditions written after each pass (changes only). */
export class KubeProxyConflicts {
  private verdict: ArpVerdict = { conflict: false, message: '' };
  private timer: ReturnType<Clock['setTimer']> | undefined;
  private readonly writes = new Rerun(
    () => this.syncOnce(),
    () => this.stopped,
  );
  private stopped = false;
  private readonly clock: Clock;
  private readonly wall: Clock;
  private readonly inFlight = new ConditionsInFlight();

  constructor(private readonly o: KubeProxyConflictsOptions) {
    this.clock = o.clock ?? wallClock;
    this.wall = o.wall ?? wallClock;
  }

  start(): void {
    this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  get current(): ArpVerdict {
    return this.verdict;
  }

  /** Reads the node now; a changed verdict asks for a pass. */
  check(): void {
    if (this.stopped) return;
    try {
      const v = ipvsArpVerdict((this.o.read ?? readNodeArpState)(this.o.interfaces()));
      if (v.conflict !== this.verdict.conflict || v.message !== this.verdict.message) {
        this.verdict = v;
        if (v.conflict) this.o.log.warn({ node: this.o.node }, v.message);
        else this.o.log.info({ node: this.o.node }, 'no kube-proxy IPVS ARP conflict on this node');
        this.o.onChange();
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'could not read the node ARP settings');
    }
    this.timer = this.clock.setTimer(() => this.check(), this.o.intervalMs ?? 1000);
  }

  /** After a pass: the conditions of the Services this node announces, written where they changed. */
  syncLater(): void {
    background(this.o.log, 'write KubeProxyConflict conditions', this.writes.run());
  }

  private async syncOnce(): Promise<void> {
    const announced = this.o.announced();
    const want = kubeProxyConditionFor(this.o.node, this.verdict);
    this.o.setGauge(want ? announced.length : 0);
    this.inFlight.retain(new Set(announced.map((s) => `${s.namespace}/${s.name}`)));
    for (const s of announced) {
      const key = `${s.namespace}/${s.name}`;
      const served = conditionOf(s.conditions, KUBE_PROXY_CONFLICT);
      const change = nextCondition(
        KUBE_PROXY_CONFLICT,
        served,
        want,
        this.wall.now(),
        s.generation,
        NO_KUBE_PROXY_CONFLICT,
      );
      if (!change.write || this.stopped || !this.inFlight.needed(key, s.uid, served, change.write)) continue;
      const c = change.write;
      try {
        if (!(await patchServiceCondition(this.o.client, s.namespace, s.name, c, SPEAKER_FIELD_MANAGER)))
          continue;
        this.inFlight.wrote(key, s.uid, c);
      } catch (err) {
        this.o.log.warn(
          { err: (err as Error).message, ...objRef('Service', s.namespace, s.name) },
          'could not write the KubeProxyConflict condition; the next pass retries',
        );
        continue;
      }
      if (change.raised) {
        this.o.recordEvent(
          { apiVersion: 'v1', kind: 'Service', namespace: s.namespace, name: s.name },
          'Warning',
          REASON_IPVS_WITHOUT_STRICT_ARP,
          c.message,
        );
        this.o.log.warn({ ...objRef('Service', s.namespace, s.name) }, c.message);
      } else if (change.cleared)
        this.o.log.info({ ...objRef('Service', s.namespace, s.name) }, 'kube-proxy conflict cleared');
    }
  }
}
