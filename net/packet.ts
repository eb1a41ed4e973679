// Raw Ethernet frames on one interface through an AF_PACKET socket (the native addon in net/addon/).
// The kernel filters with classic BPF so only ARP and ICMPv6 Neighbor Solicitation/Advertisement
// frames reach JavaScript (or, with the "bfd-echo" filter, IPv4 UDP to port 3785); receive is
// event-driven (libuv poll on a non-blocking fd).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a received frame came from (the kernel's sll_pkttype). */
export const PacketType = { host: 0, broadcast: 1, multicast: 2, otherHost: 3, outgoing: 4 } as const;

export class PacketSocketError extends Error {
  constructor(
    readonly ifname: string,
    readonly op: string,
    readonly reason: string,
    readonly code?: string,
  ) {
    super(`${ifname}: ${op}: ${reason}`);
    this.name = 'PacketSocketError';
  }
}

interface NativeHandle {
  readonly __brand?: 'packet-handle';
}

/** Which frames the kernel passes up: ARP + NDP (the layer 2 speaker), or IPv4 UDP to 3785 (BFD echo). */
export type PacketFilter = 'arp-ndp' | 'bfd-echo';

interface NativeAddon {
  open(
    ifindex: number,
    onFrame: (frame: Buffer, pktType: number) => void,
    filter?: PacketFilter,
  ): NativeHandle;
  /** Absent in builds from before the filter argument. */
  readonly filters?: readonly string[];
  send(handle: NativeHandle, frame: Uint8Array): number;
  addMembership(handle: NativeHandle, mac: Buffer): void;
  dropMembership(handle: NativeHandle, mac: Buffer): void;
  stats(handle: NativeHandle): { received: number; dropped: number };
  close(handle: NativeHandle): void;
}

let addon: NativeAddon | undefined;

function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'net', 'addon', 'build', 'Release', 'bollard_packet.node');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new PacketSocketError(
    '-',
    'load',
    'net/addon/build/Release/bollard_packet.node not found; run `npm run build:addon`',
  );
}

/** Whether the built addon knows `filter` (an addon built before it existed does not: rebuild it). */
export function packetFilterAvailable(filter: PacketFilter): boolean {
  try {
    return loadAddon().filters?.includes(filter) === true;
  } catch {
    return false;
  }
}

/** Loads the native addon (once). Throws PacketSocketError if it was not built. */
export function loadAddon(): NativeAddon {
  if (!addon) {
    const require = createRequire(import.meta.url);
    addon = require(findAddon()) as NativeAddon;
  }
  return addon;
}

function wrapErr(ifname: string, op: string, err: unknown): PacketSocketError {
  const e = err as { message?: string; code?: string };
  return new PacketSocketError(ifname, op, e.message ?? String(err), e.code);
}

export type FrameHandler = (frame: Buffer, pktType: number) => void;

/** An open packet socket bound to one interface. */
export class PacketSocket {
  private handle: NativeHandle | undefined;
  private readonly groups = new Set<string>();

  private constructor(
    readonly ifname: string,
    readonly ifindex: number,
    handle: NativeHandle,
  ) {
    this.handle = handle;
  }

  /**
   * Opens a socket on `ifindex`; `onFrame` gets every frame the filter passes (default: ARP / NS / NA),
   * incoming and our own outgoing (see pktType).
   */
  static open(ifname: string, ifindex: number, onFrame: FrameHandler, filter?: PacketFilter): PacketSocket {
    const native = loadAddon();
    if (filter !== undefined && filter !== 'arp-ndp' && native.filters?.includes(filter) !== true)
      throw new PacketSocketError(
        ifname,
        'open',
        `the built addon has no "${filter}" filter; run \`npm run build:addon\``,
      );
    try {
      const h = native.open(
        ifindex,
        (frame, pktType) => {
          try {
            onFrame(frame, pktType);
          } catch {
            // A handler must not take the socket down; handlers report their own errors.
          }
        },
        filter,
      );
      return new PacketSocket(ifname, ifindex, h);
    } catch (err) {
      throw wrapErr(ifname, 'open', err);
    }
  }

  get open(): boolean {
    return this.handle !== undefined;
  }

  /** Sends one complete Ethernet frame; throws PacketSocketError (e.g. ENETDOWN) on failure. */
  send(frame: Uint8Array): void {
    if (!this.handle) throw new PacketSocketError(this.ifname, 'send', 'socket closed');
    try {
      loadAddon().send(this.handle, frame);
    } catch (err) {
      throw wrapErr(this.ifname, 'send', err);
    }
  }

  /** Makes the interface accept frames to a multicast MAC (e.g. a solicited-node group 33:33:ff:…). */
  joinMulticast(mac: Uint8Array): void {
    const key = Buffer.from(mac).toString('hex');
    if (!this.handle || this.groups.has(key)) return;
    try {
      loadAddon().addMembership(this.handle, Buffer.from(mac));
      this.groups.add(key);
    } catch (err) {
      throw wrapErr(this.ifname, 'join', err);
    }
  }

  leaveMulticast(mac: Uint8Array): void {
    const key = Buffer.from(mac).toString('hex');
    if (!this.handle || !this.groups.has(key)) return;
    this.groups.delete(key);
    try {
      loadAddon().dropMembership(this.handle, Buffer.from(mac));
    } catch (err) {
      throw wrapErr(this.ifname, 'leave', err);
    }
  }

  get multicastGroups(): number {
    return this.groups.size;
  }

  /** Kernel counters since the last call: frames that passed the filter, and frames dropped for lack of room. */
  stats(): { received: number; dropped: number } {
    if (!this.handle) return { received: 0, dropped: 0 };
    return loadAddon().stats(this.handle);
  }

  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = undefined;
    loadAddon().close(h);
  }
}
