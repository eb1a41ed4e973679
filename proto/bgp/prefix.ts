/** NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 path identifiers). */
import { bytesToIpv4, bytesToIpv6, ipv4ToBytes, ipv6ToBytes, isIpv4 } from '../address.js';
import { readU32, type ByteWriter } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { Afi } from './constants.js';
import { MalformedField } from './malformed.js';

/**
 * One NLRI entry. `address` keeps whatever bits arrived in the prefix's octets (a decoder does not
 * mask host bits) so that decode -> encode is byte-identical; bytes past the prefix length are zero.
 */
export interface Prefix {
  readonly address: string;
  readonly length: number;
  /** RFC 7911 Path Identifier, present when ADD-PATH is in use for the family. */
  readonly pathId?: number;
}

/** '10.0.0.0/24' or '2001:db8::/32' -> Prefix (throws EncodeError on malformed input). */
export function parsePrefix(cidr: string, pathId?: number): Prefix {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new EncodeError('prefix', `missing /length in ${JSON.stringify(cidr)}`);
  const address = cidr.slice(0, slash);
  const lenText = cidr.slice(slash + 1);
  const length = Number(lenText);
  const v4 = isIpv4(address);
  const max = v4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || length > max) {
    throw new EncodeError('prefix', `bad prefix length in ${JSON.stringify(cidr)}`);
  }
  const bytes = v4 ? ipv4ToBytes(address) : ipv6ToBytes(address);
  const canonical = v4 ? bytesToIpv4(bytes) : bytesToIpv6(bytes);
  return pathId === undefined ? { address: canonical, length } : { address: canonical, length, pathId };
}

export function formatPrefix(p: Prefix): string {
  return `${p.address}/${p.length}`;
}

function addressBytes(afi: number, p: Prefix): Uint8Array {
  const max = afi === Afi.IPV4 ? 32 : 128;
  if (!Number.isInteger(p.length) || p.length < 0 || p.length > max) {
    throw new EncodeError('prefix', `prefix length ${p.length} out of range for AFI ${afi}`);
  }
  return afi === Afi.IPV4 ? ipv4ToBytes(p.address) : ipv6ToBytes(p.address);
}

/** Bytes one prefix takes on the wire. */
export function prefixWireSize(p: Prefix, addPath: boolean): number {
  return (addPath ? 5 : 1) + ((p.length + 7) >> 3);
}

/** Appends prefixes in NLRI encoding (length octet + minimal address octets, Path ID first under ADD-PATH). */
export function writePrefixes(
  w: ByteWriter,
  afi: number,
  prefixes: readonly Prefix[],
  addPath: boolean,
): void {
  for (const p of prefixes) {
    const bytes = addressBytes(afi, p);
    if (addPath) {
      const id = p.pathId ?? 0;
      if (!Number.isInteger(id) || id < 0 || id > 0xffffffff)
        throw new EncodeError('prefix', `bad path id ${id}`);
      w.u32(id);
    } else if (p.pathId !== undefined) {
      throw new EncodeError('prefix', 'path identifier given but ADD-PATH is not in use for the family');
    }
    w.u8(p.length);
    w.bytes(bytes.subarray(0, (p.length + 7) >> 3));
  }
}

/**
 * Reads prefixes from `b[start, end)`. Throws MalformedField when a length exceeds the family's
 * maximum or a prefix overruns the field (RFC 4271 §6.3 "Invalid Network Field").
 */
export function readPrefixes(
  b: Uint8Array,
  start: number,
  end: number,
  afi: number,
  addPath: boolean,
): Prefix[] {
  const out: Prefix[] = [];
  const max = afi === Afi.IPV4 ? 32 : 128;
  const width = afi === Afi.IPV4 ? 4 : 16;
  let off = start;
  while (off < end) {
    let pathId: number | undefined;
    if (addPath) {
      if (off + 4 > end) throw new MalformedField('path identifier overruns the NLRI field');
      pathId = readU32(b, off);
      off += 4;
      if (off >= end) throw new MalformedField('prefix length missing after path identifier');
    }
    const length = b[off]!;
    off++;
    if (length > max) throw new MalformedField(`prefix length ${length} exceeds ${max}`);
    const n = (length + 7) >> 3;
    if (off + n > end) throw new MalformedField(`prefix /${length} overruns the NLRI field`);
    let address: string;
    if (width === 4) {
      address = `${n > 0 ? b[off] : 0}.${n > 1 ? b[off + 1] : 0}.${n > 2 ? b[off + 2] : 0}.${n > 3 ? b[off + 3] : 0}`;
    } else {
      const full = new Uint8Array(16);
      full.set(b.subarray(off, off + n));
      address = bytesToIpv6(full);
    }
    off += n;
    out.push(pathId === undefined ? { address, length } : { address, length, pathId });
  }
  return out;
}
