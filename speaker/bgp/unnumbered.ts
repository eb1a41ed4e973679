// Unnumbered BGP (BGPPeer.interface): the peer has no configured address; the session runs between
// the IPv6 link-local addresses of the two ends of one interface. For each such interface this:
//  - sends our own Router Advertisements (router lifetime 0: never a default router, no prefixes),
//    because a router configured like FRR's `neighbor IFACE interface` learns its peer's address from
//    the RAs it receives; and one Router Solicitation at start, so such a router answers with its own;
//  - learns the peer's link-local address from the NDP it sends us (the packet socket delivers
//    Neighbor Solicitations/Advertisements: the router resolves us before it connects) and from the
//    kernel's neighbour table of the interface (`ip -j -6 neigh`), routers first
//    (proto/ndp-router.ts choosePeerLinkLocal);
//  - tells the caller (onChange) when the peer address of an interface changes, so the controller
//    builds the session to `fe80::…%IFACE`.
import { scanInterfaces, type InterfaceInfo } from '../../net/interfaces.js';
import { readIpv6Neighbours } from '../../net/neighbors.js';
import { PacketSocket } from '../../net/packet.js';
import { decodeEthernet, EtherType } from '../../proto/ethernet.js';
import { ipv6Frame } from '../../proto/ndp.js';
import {
  ALL_NODES,
  candidateFromPacket,
  candidatesFromIpNeigh,
  choosePeerLinkLocal,
  encodeRouterAdvertisement,
  encodeRouterSolicitation,
  type LinkLocalCandidate,
} from '../../proto/ndp-router.js';
import { background } from '../../k8s/background.js';
import { monotonicClock as systemClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import { silentLog, type Log } from './types.js';

/** What the discovery needs from a packet socket (PacketSocket; a fake in tests). */
export interface FrameSink {
  send(frame: Uint8Array): void;
  close(): void;
}

export interface UnnumberedOptions {
  readonly log?: Log;
  readonly clock?: Clock;
  /** The peer address of an interface changed (found, moved or lost). */
  readonly onChange: () => void;
  /** Between our RAs and neighbour-table reads once the peer is known (default 10 s; 1 s before). */
  readonly intervalMs?: number;
  /** Candidates learned from packets are forgotten when not seen for this long (default 60 s). */
  readonly forgetMs?: number;
  readonly interfaces?: () => readonly InterfaceInfo[];
  readonly openSocket?: (
    iface: InterfaceInfo,
    onFrame: (frame: Uint8Array, outgoing: boolean) => void,
  ) => FrameSink;
  readonly readNeighbours?: (ifname: string) => Promise<string>;
}

interface Watch {
  readonly name: string;
  iface?: InterfaceInfo;
  socket?: FrameSink;
  timer?: TimerHandle;
  /** Learned from packets, by address. */
  readonly heard: Map<string, LinkLocalCandidate>;
  /** The last read of the neighbour table. */
  table: LinkLocalCandidate[];
  peer?: string;
  sent: number;
  problem?: string;
}

/** Next hops we give for routes on an unnumbered session over `ifname`: its link-local, and its global IPv6 if any. */
export function unnumberedNextHops(
  ifname: string,
  interfaces: () => readonly InterfaceInfo[] = scanInterfaces,
): { ipv6?: string; ipv6LinkLocal?: string } {
  const i = interfaces().find((x) => x.name === ifname);
  if (!i) return {};
  return {
    ...(i.ipv6[0] ? { ipv6: i.ipv6[0] } : {}),
    ...(i.linkLocal6[0] ? { ipv6LinkLocal: i.linkLocal6[0] } : {}),
  };
}

export class UnnumberedDiscovery {
  private readonly watches = new Map<string, Watch>();
  private readonly clock: Clock;
  private readonly log: Log;
  private stopped = false;

  constructor(private readonly o: UnnumberedOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? silentLog;
  }

  /** The peer's address on `ifname` with its zone (`fe80::1%eth0`), once learned. */
  peerAddress(ifname: string): string | undefined {
    const p = this.watches.get(ifname)?.peer;
    return p ? `${p}%${ifname}` : undefined;
  }

  /** Watches exactly these interfaces (the interface peers that apply to this node). */
  setInterfaces(names: readonly string[]): void {
    if (this.stopped) return;
    const want = new Set(names);
    for (const [name, w] of this.watches) {
      if (want.has(name)) continue;
      this.close(w);
      this.watches.delete(name);
    }
    for (const name of want) {
      if (this.watches.has(name)) continue;
      const w: Watch = { name, heard: new Map(), table: [], sent: 0 };
      this.watches.set(name, w);
      this.tick(w);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches.values()) this.close(w);
    this.watches.clear();
  }

  private close(w: Watch): void {
    if (w.timer !== undefined) this.clock.clearTimer(w.timer);
    w.timer = undefined;
    try {
      w.socket?.close();
    } catch {
      // already closed
    }
    w.socket = undefined;
  }

  private problem(w: Watch, problem: string | undefined, fields: Record<string, unknown> = {}): void {
    if (problem === w.problem) return;
    w.problem = problem;
    if (problem) this.log.warn({ interface: w.name, ...fields }, problem);
  }

  /** One round: (re)open the socket if needed, send an RA, read the neighbour table, schedule the next. */
  private tick(w: Watch): void {
    w.timer = undefined;
    if (this.stopped || this.watches.get(w.name) !== w) return;
    const iface = (this.o.interfaces ?? scanInterfaces)().find((i) => i.name === w.name);
    const ll = iface?.linkLocal6[0];
    if (!iface || !iface.up || !ll) {
      this.problem(
        w,
        !iface
          ? 'unnumbered BGP interface not found; waiting for it'
          : 'unnumbered BGP interface is down or has no IPv6 link-local address; waiting',
      );
      this.close(w);
      w.iface = undefined;
      this.schedule(w);
      return;
    }
    if (!w.socket || w.iface?.index !== iface.index || w.iface.mac !== iface.mac) {
      this.close(w);
      try {
        const open =
          this.o.openSocket ??
          ((i: InterfaceInfo, cb: (f: Uint8Array, out: boolean) => void): FrameSink =>
            PacketSocket.open(i.name, i.index, (frame, pktType) => cb(frame, pktType === 4)));
        w.socket = open(iface, (frame, outgoing) => {
          if (!outgoing) this.onFrame(w, frame);
        });
      } catch (e) {
        this.problem(w, 'cannot open a packet socket for unnumbered BGP; retrying', {
          err: e instanceof Error ? e.message : String(e),
        });
        this.schedule(w);
        return;
      }
      w.iface = iface;
      w.sent = 0;
    }
    this.problem(w, undefined);
    this.send(w, iface, ll);
    background(this.log, 'read the IPv6 neighbour table', this.readTable(w), { interface: w.name });
    this.schedule(w);
  }

  private schedule(w: Watch): void {
    if (this.stopped) return;
    // Fast until the peer is known (and for the first few RAs, RFC 4861 §6.2.4 style), then slow.
    const slow = this.o.intervalMs ?? 10_000;
    const ms = w.peer === undefined || w.sent < 3 ? Math.min(1000, slow) : slow;
    w.timer = this.clock.setTimer(() => this.tick(w), ms);
  }

  private send(w: Watch, iface: InterfaceInfo, ll: string): void {
    const s = w.socket;
    if (!s) return;
    try {
      if (w.sent === 0) {
        const rs = encodeRouterSolicitation({ source: ll, sourceMac: iface.mac });
        s.send(ipv6Frame(rs, iface.mac, 'ff02::2'));
      }
      const ra = encodeRouterAdvertisement({ source: ll, sourceMac: iface.mac });
      s.send(ipv6Frame(ra, iface.mac, ALL_NODES));
      w.sent++;
    } catch (e) {
      this.problem(w, 'cannot send a router advertisement for unnumbered BGP', {
        err: e instanceof Error ? e.message : String(e),
      });
    }
  }

  private onFrame(w: Watch, frame: Uint8Array): void {
    let payload: Uint8Array;
    try {
      const eth = decodeEthernet(frame);
      if (eth.etherType !== EtherType.IPV6) return;
      payload = eth.payload;
    } catch {
      return;
    }
    const own = new Set(w.iface?.linkLocal6 ?? []);
    const c = candidateFromPacket(payload, own, this.clock.now());
    if (!c) return;
    const prev = w.heard.get(c.address);
    // an NS from a router we heard as one keeps its router flag
    w.heard.set(c.address, prev?.router && !c.router ? { ...c, router: true } : c);
    this.choose(w);
  }

  private async readTable(w: Watch): Promise<void> {
    let json: string;
    try {
      json = await (this.o.readNeighbours ?? readIpv6Neighbours)(w.name);
    } catch (e) {
      this.log.debug(
        { interface: w.name, err: e instanceof Error ? e.message : String(e) },
        'cannot read the IPv6 neighbour table',
      );
      return;
    }
    if (this.watches.get(w.name) !== w) return;
    const own = new Set(w.iface?.linkLocal6 ?? []);
    w.table = candidatesFromIpNeigh(json, this.clock.now()).filter((c) => !own.has(c.address));
    this.choose(w);
  }

  private choose(w: Watch): void {
    const now = this.clock.now();
    const forget = this.o.forgetMs ?? 60_000;
    for (const [a, c] of w.heard) if (now - c.seenAt > forget) w.heard.delete(a);
    const all = [...w.heard.values(), ...w.table];
    // Sticky: a peer we chose stays while it is still seen and no router appears beside a non-router.
    const current = w.peer !== undefined ? all.filter((c) => c.address === w.peer) : [];
    const best = choosePeerLinkLocal(all);
    const keep =
      current.length > 0 &&
      (current.some((c) => c.router) || !all.some((c) => c.router && c.address !== w.peer));
    const next = keep ? w.peer : best;
    if (next === w.peer) return;
    this.log.info(
      { interface: w.name, peer: next, previous: w.peer },
      next ? 'unnumbered BGP peer found' : 'unnumbered BGP peer lost',
    );
    w.peer = next;
    this.o.onChange();
  }
}
