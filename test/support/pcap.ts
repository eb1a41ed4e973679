/**
 * A small reader for classic pcap files (as `tcpdump -w` writes them) and a TCP reassembler, used to
 * turn captures of real routers into BGP message fixtures. Supports link types Ethernet (1), Linux
 * cooked v1 (113) and v2 (276); IPv4 and IPv6; TCP. Test/tooling code, not part of proto/.
 */
import { bytesToIpv4, bytesToIpv6 } from '../../proto/address.js';

export interface PcapRecord {
  /** Microseconds since the epoch. */
  readonly timestampUs: number;
  readonly linkType: number;
  readonly data: Uint8Array;
}

export class PcapFormatError extends Error {
  override readonly name = 'PcapFormatError';
}

/** All records of a classic pcap file (either byte order, micro- or nanosecond timestamps). */
export function readPcap(file: Uint8Array): PcapRecord[] {
  if (file.length < 24) throw new PcapFormatError('shorter than a pcap header');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicBE = dv.getUint32(0, false);
  let little: boolean;
  let nano: boolean;
  if (magicBE === 0xa1b2c3d4 || magicBE === 0xa1b23c4d) {
    little = false;
    nano = magicBE === 0xa1b23c4d;
  } else if (magicBE === 0xd4c3b2a1 || magicBE === 0x4d3cb2a1) {
    little = true;
    nano = magicBE === 0x4d3cb2a1;
  } else {
    throw new PcapFormatError(`not a classic pcap file (magic 0x${magicBE.toString(16)})`);
  }
  const linkType = dv.getUint32(20, little) & 0x0fffffff;
  const out: PcapRecord[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const sec = dv.getUint32(off, little);
    const frac = dv.getUint32(off + 4, little);
    const incl = dv.getUint32(off + 8, little);
    off += 16;
    if (off + incl > file.length) throw new PcapFormatError('record overruns the file');
    out.push({
      timestampUs: sec * 1e6 + (nano ? Math.floor(frac / 1000) : frac),
      linkType,
      data: file.slice(off, off + incl),
    });
    off += incl;
  }
  return out;
}

/** The network-layer bytes and EtherType of a record, or undefined for other link types. */
export function networkLayer(r: PcapRecord): { etherType: number; packet: Uint8Array } | undefined {
  const d = r.data;
  const u16 = (o: number): number => (d[o]! << 8) | d[o + 1]!;
  if (r.linkType === 1) {
    let off = 12;
    let type = u16(off);
    while (type === 0x8100 || type === 0x88a8) {
      off += 4;
      type = u16(off);
    }
    return { etherType: type, packet: d.subarray(off + 2) };
  }
  if (r.linkType === 113) return { etherType: u16(14), packet: d.subarray(16) };
  if (r.linkType === 276) return { etherType: u16(0), packet: d.subarray(20) };
  return undefined;
}

export interface TcpSegment {
  readonly timestampUs: number;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly syn: boolean;
  readonly fin: boolean;
  readonly rst: boolean;
  readonly payload: Uint8Array;
}

/** The TCP segment in a record, if it holds one. */
export function tcpSegment(r: PcapRecord): TcpSegment | undefined {
  const nl = networkLayer(r);
  if (!nl) return undefined;
  const p = nl.packet;
  let src: string;
  let dst: string;
  let tcp: Uint8Array;
  if (nl.etherType === 0x0800 && p.length >= 20 && p[0]! >> 4 === 4) {
    if (p[9] !== 6) return undefined;
    const ihl = (p[0]! & 0x0f) * 4;
    const total = (p[2]! << 8) | p[3]!;
    src = bytesToIpv4(p, 12);
    dst = bytesToIpv4(p, 16);
    tcp = p.subarray(ihl, Math.min(total, p.length));
  } else if (nl.etherType === 0x86dd && p.length >= 40 && p[0]! >> 4 === 6) {
    if (p[6] !== 6) return undefined; // extension headers are not expected on these captures
    const plen = (p[4]! << 8) | p[5]!;
    src = bytesToIpv6(p, 8);
    dst = bytesToIpv6(p, 24);
    tcp = p.subarray(40, Math.min(40 + plen, p.length));
  } else {
    return undefined;
  }
  if (tcp.length < 20) return undefined;
  const dataOff = (tcp[12]! >> 4) * 4;
  const flags = tcp[13]!;
  return {
    timestampUs: r.timestampUs,
    src,
    dst,
    srcPort: (tcp[0]! << 8) | tcp[1]!,
    dstPort: (tcp[2]! << 8) | tcp[3]!,
    seq: ((tcp[4]! << 24) | (tcp[5]! << 16) | (tcp[6]! << 8) | tcp[7]!) >>> 0,
    syn: (flags & 0x02) !== 0,
    fin: (flags & 0x01) !== 0,
    rst: (flags & 0x04) !== 0,
    payload: tcp.slice(dataOff),
  };
}

export interface TcpStream {
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
  /** Time of the stream's SYN (or first segment). */
  readonly startUs: number;
  /** Contiguous bytes from the start of the stream; retransmissions and reordering resolved. */
  readonly data: Uint8Array;
  /** For each byte offset where a segment started, its capture time (to order messages across directions). */
  readonly segmentTimes: readonly { offset: number; timestampUs: number }[];
}

/**
 * One stream per direction per connection. A new SYN on the same 4-tuple starts a new stream.
 * Bytes are placed by sequence number relative to the SYN (or the first segment seen).
 */
export function reassembleTcp(segments: readonly TcpSegment[]): TcpStream[] {
  interface Building {
    src: string;
    srcPort: number;
    dst: string;
    dstPort: number;
    startUs: number;
    base: number;
    chunks: Map<number, Uint8Array>;
    times: Map<number, number>;
  }
  const open = new Map<string, Building>();
  const done: Building[] = [];
  for (const s of segments) {
    const key = `${s.src}|${s.srcPort}|${s.dst}|${s.dstPort}`;
    let b = open.get(key);
    if (s.syn || b === undefined) {
      if (b) done.push(b);
      b = {
        src: s.src,
        srcPort: s.srcPort,
        dst: s.dst,
        dstPort: s.dstPort,
        startUs: s.timestampUs,
        base: s.syn ? (s.seq + 1) >>> 0 : s.seq,
        chunks: new Map(),
        times: new Map(),
      };
      open.set(key, b);
    }
    if (s.payload.length === 0) continue;
    const rel = (s.seq - b.base) >>> 0;
    if (rel > 0x7fffffff) continue; // before the stream start
    const prev = b.chunks.get(rel);
    if (!prev || prev.length < s.payload.length) b.chunks.set(rel, s.payload);
    if (!b.times.has(rel)) b.times.set(rel, s.timestampUs);
  }
  done.push(...open.values());
  return done.map((b) => {
    const offsets = [...b.chunks.keys()].sort((x, y) => x - y);
    const parts: Uint8Array[] = [];
    let end = 0;
    for (const o of offsets) {
      const c = b.chunks.get(o)!;
      if (o > end) break; // a hole: stop at the contiguous prefix
      if (o + c.length <= end) continue;
      parts.push(c.subarray(end - o));
      end = o + c.length;
    }
    const data = new Uint8Array(end);
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    return {
      src: b.src,
      srcPort: b.srcPort,
      dst: b.dst,
      dstPort: b.dstPort,
      startUs: b.startUs,
      data,
      segmentTimes: [...b.times.entries()]
        .map(([offset, timestampUs]) => ({ offset, timestampUs }))
        .sort((x, y) => x.offset - y.offset),
    };
  });
}

/** Splits a stream into BGP messages by their length fields (no validation beyond framing). */
export function bgpMessagesOf(
  stream: TcpStream,
): { offset: number; bytes: Uint8Array; timestampUs: number }[] {
  const out: { offset: number; bytes: Uint8Array; timestampUs: number }[] = [];
  let off = 0;
  const d = stream.data;
  while (off + 19 <= d.length) {
    const len = (d[off + 16]! << 8) | d[off + 17]!;
    if (len < 19 || off + len > d.length) break;
    let ts = stream.startUs;
    for (const t of stream.segmentTimes) {
      if (t.offset <= off) ts = t.timestampUs;
      else break;
    }
    out.push({ offset: off, bytes: d.slice(off, off + len), timestampUs: ts });
    off += len;
  }
  return out;
}
