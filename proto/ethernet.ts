/** Ethernet II frames with IEEE 802.1Q / 802.1ad VLAN tags (read and written). */
import { formatMac, macToBytes } from './address.js';
import { ByteWriter, copyBytes, readU16 } from './bytes.js';
import { EncodeError, PacketDecodeError } from './errors.js';

export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd } as const;

const TAG_TPIDS = new Set<number>([0x8100, 0x88a8, 0x9100]);

export interface VlanTag {
  /** 0x8100 (802.1Q), 0x88a8 (802.1ad S-tag) or 0x9100. */
  readonly tpid: number;
  readonly pcp: number;
  readonly dei: boolean;
  readonly vid: number;
}

export interface EthernetFrame {
  readonly destination: string;
  readonly source: string;
  /** Outermost first. */
  readonly vlans: readonly VlanTag[];
  readonly etherType: number;
  /** Everything after the EtherType, including any padding to the 60-octet minimum. */
  readonly payload: Uint8Array;
}

/** At most this many stacked tags are read (a frame of nothing but tags is rejected, not looped over). */
const MAX_TAGS = 8;

export function decodeEthernet(b: Uint8Array): EthernetFrame {
  if (b.length < 14) throw new PacketDecodeError('ethernet', `frame of ${b.length} octets`);
  const vlans: VlanTag[] = [];
  let off = 12;
  let type = readU16(b, off);
  while (TAG_TPIDS.has(type)) {
    if (vlans.length === MAX_TAGS) throw new PacketDecodeError('ethernet', 'too many VLAN tags');
    if (b.length < off + 6) throw new PacketDecodeError('ethernet', 'VLAN tag truncated');
    const tci = readU16(b, off + 2);
    vlans.push({ tpid: type, pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff });
    off += 4;
    type = readU16(b, off);
  }
  if (type < 0x0600) throw new PacketDecodeError('ethernet', `802.3 length field ${type}, not an EtherType`);
  return {
    destination: formatMac(b, 0),
    source: formatMac(b, 6),
    vlans,
    etherType: type,
    payload: copyBytes(b, off + 2, b.length),
  };
}

/** Encodes a frame (no FCS). `minLength` pads with zeros, e.g. 60 for the Ethernet minimum. */
export function encodeEthernet(f: EthernetFrame, minLength = 0): Uint8Array {
  const w = new ByteWriter(14 + 4 * f.vlans.length + f.payload.length);
  w.bytes(macToBytes(f.destination)).bytes(macToBytes(f.source));
  for (const t of f.vlans) {
    if (t.vid < 0 || t.vid > 4095 || t.pcp < 0 || t.pcp > 7)
      throw new EncodeError('ethernet', 'VLAN tag out of range');
    w.u16(t.tpid).u16((t.pcp << 13) | (t.dei ? 0x1000 : 0) | t.vid);
  }
  w.u16(f.etherType).bytes(f.payload);
  if (w.length < minLength) w.zeros(minLength - w.length);
  return w.finish();
}
