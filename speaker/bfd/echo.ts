// The sockets of the BFD Echo function (RFC 5881 §4, IPv4 single-hop), one AF_PACKET socket
// (net/packet.ts, filter "bfd-echo") per session on the interface the peer is reached through (the
// one its ARP entry is on: the control packets put it there).
// Sending: an echo is addressed to ourselves, so a UDP socket would hand it to our own loopback;
// instead it leaves as an Ethernet frame to the peer's MAC with our address as both IP source and
// destination, and the peer's forwarding plane routes it back.
// Receiving: what comes back has our own address as its source, which the kernel's IP input drops as
// a martian (unless accept_local), so it is read from the same packet socket: an incoming frame, TTL
// 254 (exactly the peer's one hop), source = destination = our address, our discriminator inside.
// Looping the peer's echoes is not done here: they are addressed to the peer itself, and the node's
// kernel routes them back when IPv4 forwarding is on (as on every Kubernetes node).
import type dgram from 'node:dgram';
import {
  BFD_ECHO_PORT,
  decodeBfdEchoFrame,
  encodeBfdEchoFrame,
  type BfdEchoPayload,
} from '../../proto/bfd.js';
import { bindUdp } from '../../net/tcp/index.js';
import { PacketSocket, PacketType, packetFilterAvailable } from '../../net/packet.js';
import { scanInterfaces } from '../../net/interfaces.js';
import { arpLookup } from '../../net/neighbors.js';

/** The local address the kernel picks toward `peer` (a connected UDP socket's name). */
export async function localAddressToward(peer: string, device?: string): Promise<string> {
  const s: dgram.Socket = await bindUdp('0.0.0.0', 0, device ? { device } : {});
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(BFD_ECHO_PORT, peer, () => {
        s.off('error', reject);
        resolve();
      });
    });
    return s.address().address;
  } finally {
    s.close();
  }
}

/** Whether this build can run the echo function (the addon knows the "bfd-echo" filter). */
export function echoSupported(): boolean {
  return packetFilterAvailable('bfd-echo');
}

/** Why an echo was not sent. */
export type EchoSendResult = 'sent' | 'no-local-address' | 'no-peer-mac' | 'no-interface' | 'send-failed';

/** One session's echo frames toward one peer, and the ones that come back. */
export class EchoPort {
  private socket: PacketSocket | undefined;
  private ifc: { name: string; mac: string } | undefined;
  private id = Math.floor(Math.random() * 0x10000);
  private localAddress: string | undefined;
  lastError: string | undefined;

  constructor(
    private readonly peerAddress: string,
    private readonly discriminator: number,
    private readonly onEcho: (p: BfdEchoPayload) => void,
    localAddress?: string,
  ) {
    this.localAddress = localAddress;
  }

  setLocalAddress(a: string): void {
    this.localAddress = a;
  }

  get local(): string | undefined {
    return this.localAddress;
  }

  private onFrame(frame: Buffer, pktType: number): void {
    if (pktType === PacketType.outgoing) return;
    let r;
    try {
      r = decodeBfdEchoFrame(new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
    } catch {
      return; // a peer's echo passing through, or not BFD at all
    }
    if (r.ttl !== 254 || r.source !== this.localAddress || r.destination !== this.localAddress) return;
    if (r.echo.discriminator !== this.discriminator) return;
    this.onEcho(r.echo);
  }

  send(payload: Uint8Array): EchoSendResult {
    if (!this.localAddress) return 'no-local-address';
    // Every echo asks the ARP table: the peer (a router pair's virtual MAC, a replaced box) may move.
    const arp = arpLookup(this.peerAddress);
    if (!arp) return 'no-peer-mac';
    if (!this.socket || !this.ifc || this.ifc.name !== arp.device) {
      this.close();
      const i = scanInterfaces().find((x) => x.name === arp.device);
      if (!i || !i.mac) return 'no-interface';
      try {
        this.socket = PacketSocket.open(i.name, i.index, (f, t) => this.onFrame(f, t), 'bfd-echo');
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
        return 'no-interface';
      }
      this.ifc = { name: i.name, mac: i.mac };
    }
    this.id = (this.id + 1) & 0xffff;
    try {
      this.socket.send(
        encodeBfdEchoFrame({
          sourceMac: this.ifc.mac,
          peerMac: arp.mac,
          localAddress: this.localAddress,
          id: this.id,
          payload,
        }),
      );
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      return 'send-failed';
    }
    return 'sent';
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
    this.ifc = undefined;
  }
}
