// The layer 2 responder: answers ARP who-has and NDP Neighbor Solicitations for the VIPs this node
// owns, on the interfaces the advertisement selects, with that interface's MAC; announces gained VIPs
// with gratuitous ARP (request and reply forms) and unsolicited NA (Override, to ff02::1) on
// MetalLB's schedule; stops answering a lost VIP at once. One packet socket per usable interface,
// rescanned periodically. Frames from the wire never throw out of here.
//
// While a VIP is handed over (handover.ts) it answers for it with the next owner's MAC instead of its
// own (setProxies): the ARP sender / NA target link-layer address is that MAC, the Ethernet source stays
// this interface's (so no switch learns the next owner's MAC on this port). No gratuitous announcement
// goes out for a handed-over VIP: the next owner sends its own.
import { decodeEthernet, EtherType } from '../../proto/ethernet.js';
import {
  answerArpRequest,
  arpFrame,
  arpRequest,
  decodeArp,
  gratuitousArpReply,
  gratuitousArpRequest,
} from '../../proto/arp.js';
import {
  answerNeighborSolicitation,
  decodeNdp,
  encodeNdp,
  ipv6Frame,
  neighborSolicitation,
  unsolicitedNeighborAdvertisement,
} from '../../proto/ndp.js';
import { multicastMac, solicitedNodeMulticast } from '../../proto/ipv6.js';
import { monotonicClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import { canonicalIp, isIpv4, macToBytes } from '../../proto/address.js';
import { PacketSocket, PacketType, type FrameHandler } from '../../net/packet.js';
import {
  DEFAULT_INTERFACE_EXCLUDES,
  compileExcludes,
  interfaceFingerprint,
  scanInterfaces,
  usableInterfaces,
  type InterfaceInfo,
} from '../../net/interfaces.js';
import { DEFAULT_GRATUITOUS, GratuitousSchedule, type GratuitousOptions } from './gratuitous.js';

/** What this node announces: VIP -> the interfaces selected for it (empty list = every usable interface). */
export type Announcements = ReadonlyMap<string, { readonly interfaces: readonly string[] }>;

/**
 * VIPs answered for another node: VIP -> the interfaces ([] = all) and that node's MACs. On each
 * interface the answer carries its only MAC, or, when it has several, the one seen on that interface.
 */
export type Proxies = ReadonlyMap<
  string,
  { readonly interfaces: readonly string[]; readonly macs: readonly string[] }
>;

export interface ResponderCounters {
  request(ip: string): void;
  response(ip: string): void;
  gratuitous(ip: string): void;
}

export interface ResponderLog {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

/** The packet socket as the responder uses it (a fake can stand in for unit tests). */
export interface FrameSocket {
  send(frame: Uint8Array): void;
  joinMulticast(mac: Uint8Array): void;
  leaveMulticast(mac: Uint8Array): void;
  close(): void;
}

export interface ResponderOptions {
  excludes?: readonly string[];
  rescanMs?: number;
  gratuitous?: GratuitousOptions;
  counters?: ResponderCounters;
  log?: ResponderLog;
  openSocket?: (iface: InterfaceInfo, onFrame: FrameHandler) => FrameSocket;
  scan?: () => InterfaceInfo[];
  /** Drives the gratuitous schedule (default monotonicClock). */
  clock?: Clock;
  /**
   * Every claim for an address seen on the wire from another host: an ARP packet's sender (IP, MAC) —
   * gratuitous ARP, replies (to our probes too), requests — and an NA's target with its MAC.
   */
  onClaim?: (ip: string, mac: string, iface: string) => void;
}

interface IfaceState {
  info: InterfaceInfo;
  fingerprint: string;
  socket: FrameSocket;
  owned4: Set<string>;
  owned6: Set<string>;
  /** Solicited-node multicast MAC (hex) -> how many owned or proxied VIPs need it. */
  groups: Map<string, number>;
  /** VIPs answered with another node's MAC (handover): VIP -> that MAC. */
  proxied: Map<string, string>;
  /** Source MACs of ARP/NDP frames seen on this interface (which of a node's MACs is on this LAN). */
  seen: Set<string>;
}

const noopCounters: ResponderCounters = {
  request: () => undefined,
  response: () => undefined,
  gratuitous: () => undefined,
};
const noopLog: ResponderLog = { info: () => undefined, warn: () => undefined, debug: () => undefined };

export class Layer2Responder {
  private readonly ifaces = new Map<string, IfaceState>();
  private announcements: Announcements = new Map();
  private proxies: Proxies = new Map();
  private readonly schedule: GratuitousSchedule;
  private readonly excludes: RegExp[];
  private readonly counters: ResponderCounters;
  private readonly log: ResponderLog;
  private readonly openSocket: (iface: InterfaceInfo, onFrame: FrameHandler) => FrameSocket;
  private readonly scan: () => InterfaceInfo[];
  private readonly clock: Clock;
  private readonly onClaim: ((ip: string, mac: string, iface: string) => void) | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private gratuitousTimer: TimerHandle | undefined;
  private stopped = false;
  /** Frames that failed to decode or to send (never fatal). */
  errors = 0;

  constructor(opts: ResponderOptions = {}) {
    this.excludes = compileExcludes(opts.excludes ?? DEFAULT_INTERFACE_EXCLUDES);
    this.schedule = new GratuitousSchedule(opts.gratuitous ?? DEFAULT_GRATUITOUS);
    this.counters = opts.counters ?? noopCounters;
    this.log = opts.log ?? noopLog;
    this.openSocket = opts.openSocket ?? ((i, onFrame) => PacketSocket.open(i.name, i.index, onFrame));
    this.scan = opts.scan ?? (() => scanInterfaces());
    this.clock = opts.clock ?? monotonicClock;
    this.onClaim = opts.onClaim;
    this.rescan();
    const rescanMs = opts.rescanMs ?? 10_000;
    if (rescanMs > 0) {
      this.rescanTimer = setInterval(() => this.rescan(), rescanMs);
      this.rescanTimer.unref();
    }
  }

  /** The interfaces currently answering, with their MACs. */
  interfaces(): { name: string; mac: string; ipv4: number; ipv6: number }[] {
    return [...this.ifaces.values()].map((s) => ({
      name: s.info.name,
      mac: s.info.mac,
      ipv4: s.owned4.size,
      ipv6: s.owned6.size,
    }));
  }

  /** The interfaces answering for `ip` right now. */
  interfacesFor(ip: string): string[] {
    const c = canonicalIp(ip);
    return [...this.ifaces.values()]
      .filter((s) => s.owned4.has(c) || s.owned6.has(c))
      .map((s) => s.info.name);
  }

  /** The MACs of the interfaces answering (what other speakers expect our answers to carry). */
  macs(): string[] {
    return [...new Set([...this.ifaces.values()].map((s) => s.info.mac))].sort();
  }

  /**
   * Asks the wire who has `ip` (ARP who-has from the interface's first IPv4 address, or 0.0.0.0 without
   * one; NDP NS from its link-local address), on `interfaces` ([] = every usable one). The answers come
   * back through onClaim. Returns how many requests went out.
   */
  probe(ip: string, interfaces: readonly string[]): number {
    let sent = 0;
    let c: string;
    try {
      c = canonicalIp(ip);
    } catch {
      return 0;
    }
    for (const s of this.ifaces.values()) {
      if (interfaces.length > 0 && !interfaces.includes(s.info.name)) continue;
      const mac = s.info.mac;
      try {
        if (isIpv4(c)) {
          s.socket.send(arpFrame(arpRequest(mac, s.info.ipv4[0] ?? '0.0.0.0', c), mac));
        } else {
          const source = s.info.linkLocal6[0];
          if (source === undefined) continue;
          const ns = neighborSolicitation(source, c, mac);
          s.socket.send(ipv6Frame(encodeNdp({ source, ...ns }), mac, ns.destination));
        }
        sent++;
      } catch (err) {
        this.errors++;
        this.log.debug({ interface: s.info.name, ip: c, err: (err as Error).message }, 'probe not sent');
      }
    }
    return sent;
  }

  /** Replaces what this node announces. Gained (VIP, interface) pairs are announced gratuitously at once. */
  setAnnouncements(next: Announcements): void {
    const canon = new Map<string, { interfaces: readonly string[] }>();
    for (const [ip, a] of next) {
      try {
        canon.set(canonicalIp(ip), a);
      } catch {
        this.log.warn({ ip }, 'not an IP address; ignored');
      }
    }
    this.announcements = canon;
    this.apply();
  }

  /** Replaces the VIPs answered with another node's MAC (handovers). An owned VIP is never proxied. */
  setProxies(next: Proxies): void {
    const canon = new Map<string, { interfaces: readonly string[]; macs: readonly string[] }>();
    for (const [ip, p] of next) {
      try {
        canon.set(canonicalIp(ip), p);
      } catch {
        this.log.warn({ ip }, 'not an IP address; ignored');
      }
    }
    this.proxies = canon;
    this.applyProxies();
  }

  /** The VIPs answered with another node's MAC now: VIP -> interface -> MAC. */
  proxied(): Map<string, Map<string, string>> {
    const out = new Map<string, Map<string, string>>();
    for (const s of this.ifaces.values())
      for (const [ip, mac] of s.proxied) {
        const m = out.get(ip) ?? new Map<string, string>();
        m.set(s.info.name, mac);
        out.set(ip, m);
      }
    return out;
  }

  /** Announces every owned VIP again (e.g. after a membership change, as MetalLB does on any trigger). */
  reannounce(): void {
    const now = this.clock.now();
    for (const s of this.ifaces.values())
      for (const ip of [...s.owned4, ...s.owned6]) this.schedule.trigger(`${s.info.name}|${ip}`, now);
    this.pump();
  }

  /** Re-reads the interfaces: opens sockets on new usable ones, closes vanished or changed ones. */
  rescan(): void {
    if (this.stopped) return;
    let usable: InterfaceInfo[];
    try {
      usable = usableInterfaces(this.scan(), { excludes: this.excludes });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'interface scan failed');
      return;
    }
    const seen = new Set<string>();
    for (const info of usable) {
      seen.add(info.name);
      const fp = interfaceFingerprint(info);
      const cur = this.ifaces.get(info.name);
      if (cur && cur.fingerprint === fp) {
        cur.info = info;
        continue;
      }
      if (cur) this.closeIface(cur);
      try {
        const state: IfaceState = {
          info,
          fingerprint: fp,
          socket: undefined as unknown as FrameSocket,
          owned4: new Set(),
          owned6: new Set(),
          groups: new Map(),
          proxied: new Map(),
          seen: new Set(),
        };
        state.socket = this.openSocket(info, (frame, pktType) => this.onFrame(state, frame, pktType));
        this.ifaces.set(info.name, state);
        this.log.info({ interface: info.name, mac: info.mac }, 'answering ARP/NDP on interface');
      } catch (err) {
        this.ifaces.delete(info.name);
        this.log.warn({ interface: info.name, err: (err as Error).message }, 'cannot open a packet socket');
      }
    }
    for (const [name, s] of [...this.ifaces]) if (!seen.has(name)) this.closeIface(s);
    this.apply();
  }

  stop(): void {
    this.stopped = true;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.gratuitousTimer) this.clock.clearTimer(this.gratuitousTimer);
    for (const s of [...this.ifaces.values()]) this.closeIface(s);
  }

  private closeIface(s: IfaceState): void {
    try {
      s.socket.close();
    } catch {
      // already closed
    }
    this.ifaces.delete(s.info.name);
    this.schedule.cancelWhere((k) => k.startsWith(`${s.info.name}|`));
  }

  /** Brings every interface's owned sets in line with the announcements. */
  private apply(): void {
    const now = this.clock.now();
    for (const s of this.ifaces.values()) {
      const want4 = new Set<string>();
      const want6 = new Set<string>();
      for (const [ip, a] of this.announcements) {
        if (a.interfaces.length > 0 && !a.interfaces.includes(s.info.name)) continue;
        if (isIpv4(ip)) want4.add(ip);
        // NDP needs a link-local address on the interface (MetalLB's rule).
        else if (s.info.linkLocal6.length > 0) want6.add(ip);
      }
      for (const ip of s.owned4) if (!want4.has(ip)) this.lose(s, ip);
      for (const ip of s.owned6) if (!want6.has(ip)) this.lose(s, ip);
      for (const ip of want4) if (!s.owned4.has(ip)) this.gain(s, ip, now);
      for (const ip of want6) if (!s.owned6.has(ip)) this.gain(s, ip, now);
    }
    this.applyProxies();
    this.pump();
  }

  /** Brings every interface's proxied VIPs in line with the proxies (after the owned ones). */
  private applyProxies(): void {
    for (const s of this.ifaces.values()) {
      const want = new Map<string, string>();
      for (const [ip, p] of this.proxies) {
        if (p.interfaces.length > 0 && !p.interfaces.includes(s.info.name)) continue;
        if (s.owned4.has(ip) || s.owned6.has(ip)) continue;
        if (!isIpv4(ip) && s.info.linkLocal6.length === 0) continue;
        const macs = p.macs.map((m) => m.toLowerCase());
        const mac = macs.length === 1 ? macs[0] : macs.find((m) => s.seen.has(m));
        if (mac !== undefined && mac !== s.info.mac.toLowerCase()) want.set(ip, mac);
      }
      for (const ip of [...s.proxied.keys()])
        if (!want.has(ip)) {
          s.proxied.delete(ip);
          if (!isIpv4(ip)) this.leaveGroup(s, ip);
        }
      for (const [ip, mac] of want) {
        if (!s.proxied.has(ip) && !isIpv4(ip)) this.joinGroup(s, ip);
        s.proxied.set(ip, mac);
      }
    }
  }

  private joinGroup(s: IfaceState, ip: string): void {
    const mac = multicastMac(solicitedNodeMulticast(ip));
    const n = s.groups.get(mac) ?? 0;
    if (n === 0) {
      try {
        s.socket.joinMulticast(macToBytes(mac));
      } catch (err) {
        this.log.warn(
          { interface: s.info.name, ip, err: (err as Error).message },
          'cannot join the solicited-node group',
        );
      }
    }
    s.groups.set(mac, n + 1);
  }

  private leaveGroup(s: IfaceState, ip: string): void {
    const mac = multicastMac(solicitedNodeMulticast(ip));
    const n = (s.groups.get(mac) ?? 1) - 1;
    if (n <= 0) {
      s.groups.delete(mac);
      try {
        s.socket.leaveMulticast(macToBytes(mac));
      } catch {
        // the interface may be gone
      }
    } else s.groups.set(mac, n);
  }

  private gain(s: IfaceState, ip: string, now: number): void {
    if (isIpv4(ip)) s.owned4.add(ip);
    else {
      s.owned6.add(ip);
      this.joinGroup(s, ip);
    }
    this.log.debug({ interface: s.info.name, ip }, 'answering for VIP');
    this.schedule.trigger(`${s.info.name}|${ip}`, now);
  }

  private lose(s: IfaceState, ip: string): void {
    this.schedule.cancel(`${s.info.name}|${ip}`);
    if (s.owned4.delete(ip)) return;
    if (!s.owned6.delete(ip)) return;
    this.leaveGroup(s, ip);
  }

  /** Sends what the gratuitous schedule says is due and arms the timer for the next deadline. */
  private pump(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    for (const key of this.schedule.due(now)) {
      const bar = key.indexOf('|');
      const s = this.ifaces.get(key.slice(0, bar));
      const ip = key.slice(bar + 1);
      if (!s || !(s.owned4.has(ip) || s.owned6.has(ip))) continue;
      this.sendGratuitous(s, ip);
    }
    if (this.gratuitousTimer) this.clock.clearTimer(this.gratuitousTimer);
    this.gratuitousTimer = undefined;
    const next = this.schedule.nextDeadline();
    if (next !== undefined) {
      this.gratuitousTimer = this.clock.setTimer(() => this.pump(), next - this.clock.now());
    }
  }

  private sendGratuitous(s: IfaceState, ip: string): void {
    const mac = s.info.mac;
    try {
      if (isIpv4(ip)) {
        s.socket.send(arpFrame(gratuitousArpRequest(mac, ip), mac));
        s.socket.send(arpFrame(gratuitousArpReply(mac, ip), mac));
        this.counters.gratuitous(ip);
        this.counters.gratuitous(ip);
      } else {
        const na = unsolicitedNeighborAdvertisement(ip, mac);
        s.socket.send(ipv6Frame(encodeNdp(na), mac, na.destination));
        this.counters.gratuitous(ip);
      }
    } catch (err) {
      this.errors++;
      this.log.debug(
        { interface: s.info.name, ip, err: (err as Error).message },
        'gratuitous announcement not sent',
      );
    }
  }

  private onFrame(s: IfaceState, frame: Buffer, pktType: number): void {
    // Our own frames, and frames for another host's MAC seen only because the NIC is promiscuous.
    if (pktType === PacketType.outgoing || pktType === PacketType.otherHost || this.stopped) return;
    try {
      const eth = decodeEthernet(frame);
      if (eth.vlans.length > 0 || eth.source === s.info.mac) return;
      const src = eth.source.toLowerCase();
      if ((eth.etherType === EtherType.ARP || eth.etherType === EtherType.IPV6) && !s.seen.has(src)) {
        if (s.seen.size >= 4096) s.seen.clear();
        s.seen.add(src);
        // a next owner with several MACs may be answered for here now
        if (this.proxies.size > 0) this.applyProxies();
      }
      if (eth.etherType === EtherType.ARP) this.onArp(s, eth.payload);
      else if (eth.etherType === EtherType.IPV6) this.onNdp(s, eth.payload, eth.source);
    } catch {
      // Malformed or foreign frames are dropped; they are counted, never fatal.
      this.errors++;
    }
  }

  private onArp(s: IfaceState, payload: Uint8Array): void {
    const req = decodeArp(payload);
    if (this.onClaim && req.senderIp !== '0.0.0.0') this.onClaim(req.senderIp, req.senderMac, s.info.name);
    if (req.operation !== 'request') return;
    const proxyMac = s.owned4.has(req.targetIp) ? undefined : s.proxied.get(req.targetIp);
    if (!s.owned4.has(req.targetIp) && proxyMac === undefined) return;
    this.counters.request(req.targetIp);
    // Gratuitous requests (sender = target) from another node are not questions.
    if (req.senderIp === req.targetIp) return;
    const reply =
      proxyMac === undefined
        ? answerArpRequest(req, s.info.mac, s.owned4)
        : answerArpRequest(req, proxyMac, new Set([req.targetIp]));
    if (!reply) return;
    s.socket.send(arpFrame(reply, s.info.mac, req.senderMac));
    this.counters.response(req.targetIp);
  }

  private onNdp(s: IfaceState, payload: Uint8Array, srcMac: string): void {
    if (s.owned6.size === 0 && s.proxied.size === 0 && !this.onClaim) return;
    const pkt = decodeNdp(payload);
    if (pkt.message.type === 'neighborAdvertisement') {
      const tll = pkt.message.options.find((o) => o.type === 'targetLinkLayerAddress');
      const mac = tll && tll.type === 'targetLinkLayerAddress' ? tll.mac : srcMac;
      this.onClaim?.(pkt.message.target, mac, s.info.name);
      return;
    }
    if (pkt.message.type !== 'neighborSolicitation') return;
    const target = pkt.message.target;
    const proxyMac = s.owned6.has(target) ? undefined : s.proxied.get(target);
    if (!s.owned6.has(target) && proxyMac === undefined) return;
    this.counters.request(target);
    const na =
      proxyMac === undefined
        ? answerNeighborSolicitation(pkt, s.info.mac, s.owned6)
        : answerNeighborSolicitation(pkt, proxyMac, new Set([target]));
    if (!na) return;
    const sll = pkt.message.options.find((o) => o.type === 'sourceLinkLayerAddress');
    const dstMac = sll && sll.type === 'sourceLinkLayerAddress' ? sll.mac : srcMac;
    s.socket.send(ipv6Frame(encodeNdp(na), s.info.mac, na.destination, dstMac));
    this.counters.response(target);
  }
}
