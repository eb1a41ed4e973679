/**
 * AS_PATH / AS4_PATH segments (RFC 4271 §4.3, RFC 5065, RFC 6793): 2- or 4-octet encodings,
 * and the RFC 6793 helpers for talking to 2-octet ("OLD") speakers.
 */
import { readU16, readU32, type ByteWriter } from '../bytes.js';
import { EncodeError } from '../errors.js';
import type { AsPathSegment, AsPathSegmentType } from './attributes.js';
import { AS_TRANS } from './constants.js';
import { MalformedField } from './malformed.js';

const TYPE_CODE: Record<AsPathSegmentType, number> = { set: 1, sequence: 2, confedSequence: 3, confedSet: 4 };
const TYPE_BY_CODE: readonly (AsPathSegmentType | undefined)[] = [
  undefined,
  'set',
  'sequence',
  'confedSequence',
  'confedSet',
];

/**
 * Reads segments from `b[start, end)`. Malformed (RFC 7606 §7.2): unknown segment type, zero-length
 * segment, or a segment that overruns the attribute.
 */
export function readAsPath(b: Uint8Array, start: number, end: number, fourOctet: boolean): AsPathSegment[] {
  const width = fourOctet ? 4 : 2;
  const out: AsPathSegment[] = [];
  let off = start;
  while (off < end) {
    if (off + 2 > end) throw new MalformedField('AS_PATH segment header truncated');
    const type = TYPE_BY_CODE[b[off]!];
    const count = b[off + 1]!;
    off += 2;
    if (type === undefined) throw new MalformedField(`AS_PATH segment type ${b[off - 2]}`);
    if (count === 0) throw new MalformedField('AS_PATH segment of length zero');
    if (off + count * width > end) throw new MalformedField('AS_PATH segment overruns the attribute');
    const asns: number[] = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      asns[i] = fourOctet ? readU32(b, off) : readU16(b, off);
      off += width;
    }
    out.push({ type, asns });
  }
  return out;
}

export function writeAsPath(w: ByteWriter, segments: readonly AsPathSegment[], fourOctet: boolean): void {
  const max = fourOctet ? 0xffffffff : 0xffff;
  for (const s of segments) {
    if (s.asns.length === 0 || s.asns.length > 255) {
      throw new EncodeError('bgp', `AS_PATH segment must hold 1..255 ASNs, not ${s.asns.length}`);
    }
    w.u8(TYPE_CODE[s.type]).u8(s.asns.length);
    for (const asn of s.asns) {
      if (!Number.isInteger(asn) || asn < 0 || asn > max) {
        throw new EncodeError('bgp', `ASN ${asn} does not fit ${fourOctet ? 4 : 2} octets`);
      }
      if (fourOctet) w.u32(asn);
      else w.u16(asn);
    }
  }
}

/** Number of ASNs the path counts for in route selection (AS_SET counts 1, confed segments 0). */
export function asPathLength(segments: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of segments) n += s.type === 'sequence' ? s.asns.length : s.type === 'set' ? 1 : 0;
  return n;
}

/**
 * RFC 6793 §4.2.2: for a 2-octet peer, ASNs above 65535 become AS_TRANS in AS_PATH, and the true
 * path goes in AS4_PATH (only when some ASN needed substituting; confederation segments excluded).
 */
export function splitForTwoOctetPeer(segments: readonly AsPathSegment[]): {
  asPath: AsPathSegment[];
  as4Path?: AsPathSegment[];
} {
  let needs = false;
  const asPath = segments.map((s) => ({
    type: s.type,
    asns: s.asns.map((a) => {
      if (a > 0xffff) {
        needs = true;
        return AS_TRANS;
      }
      return a;
    }),
  }));
  if (!needs) return { asPath };
  return {
    asPath,
    as4Path: segments.filter((s) => s.type === 'sequence' || s.type === 'set').map((s) => ({ ...s })),
  };
}

/**
 * RFC 6793 §4.2.3: rebuild the path received from a 2-octet peer out of AS_PATH and AS4_PATH.
 * If AS4_PATH is longer than AS_PATH it is ignored; otherwise the leading (AS_PATH length −
 * AS4_PATH length) ASNs of AS_PATH are kept and AS4_PATH follows.
 */
export function mergeAs4Path(
  asPath: readonly AsPathSegment[],
  as4Path: readonly AsPathSegment[],
): AsPathSegment[] {
  const n2 = asPathLength(asPath);
  const n4 = asPathLength(as4Path);
  if (n4 > n2) return asPath.map((s) => ({ ...s }));
  let keep = n2 - n4;
  const out: AsPathSegment[] = [];
  for (const s of asPath) {
    if (s.type === 'confedSequence' || s.type === 'confedSet') {
      out.push(s);
      continue;
    }
    if (keep <= 0) break;
    if (s.type === 'set') {
      out.push(s);
      keep -= 1;
    } else {
      const take = Math.min(keep, s.asns.length);
      out.push({ type: 'sequence', asns: s.asns.slice(0, take) });
      keep -= take;
    }
  }
  return [...out, ...as4Path.map((s) => ({ ...s }))];
}
