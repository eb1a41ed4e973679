/** Community values (RFC 1997), their well-known names, extended (RFC 4360) and large (RFC 8092) helpers. */
import { EncodeError } from '../errors.js';
import type { ExtendedCommunity, LargeCommunity } from './attributes.js';
import { WellKnownCommunity } from './constants.js';

const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(WellKnownCommunity).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')]),
);
const BY_NAME: ReadonlyMap<string, number> = new Map([...NAMES].map(([v, k]) => [k, v]));

/** 'no-export' or '65000:100' -> 32-bit value. */
export function parseCommunity(text: string): number {
  const named = BY_NAME.get(text.toLowerCase().replace(/_/g, '-'));
  if (named !== undefined) return named;
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) {
    throw new EncodeError('bgp', `not a community: ${JSON.stringify(text)}`);
  }
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

/** Well-known name ('no-export', 'blackhole', …) or 'ASN:value'. */
export function formatCommunity(c: number): string {
  return NAMES.get(c) ?? `${c >>> 16}:${c & 0xffff}`;
}

/** RFC 4360 §4: Route Target, two-octet-AS specific (type 0x00, subtype 0x02). */
export function routeTarget(asn: number, local: number): ExtendedCommunity {
  if (asn > 0xffff) {
    const value = new Uint8Array(6);
    new DataView(value.buffer).setUint32(0, asn);
    new DataView(value.buffer).setUint16(4, local);
    return { typeHigh: 0x02, typeLow: 0x02, value };
  }
  const value = new Uint8Array(6);
  new DataView(value.buffer).setUint16(0, asn);
  new DataView(value.buffer).setUint32(2, local);
  return { typeHigh: 0x00, typeLow: 0x02, value };
}

/** 'rt:65000:1', 'soo:…' or 'ext:TT:SS:hex' for logs. */
export function formatExtendedCommunity(c: ExtendedCommunity): string {
  const dv = new DataView(c.value.buffer, c.value.byteOffset, 6);
  const kind = c.typeLow === 0x02 ? 'rt' : c.typeLow === 0x03 ? 'soo' : undefined;
  if (kind && (c.typeHigh & 0x3f) === 0x00) return `${kind}:${dv.getUint16(0)}:${dv.getUint32(2)}`;
  if (kind && (c.typeHigh & 0x3f) === 0x02) return `${kind}:${dv.getUint32(0)}:${dv.getUint16(4)}`;
  if (kind && (c.typeHigh & 0x3f) === 0x01) {
    return `${kind}:${c.value[0]}.${c.value[1]}.${c.value[2]}.${c.value[3]}:${dv.getUint16(4)}`;
  }
  const hex = [...c.value].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `ext:${c.typeHigh.toString(16)}:${c.typeLow.toString(16)}:${hex}`;
}

export function formatLargeCommunity(c: LargeCommunity): string {
  return `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}

export function parseLargeCommunity(text: string): LargeCommunity {
  const m = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(text);
  const parts = m ? m.slice(1).map(Number) : [];
  if (!m || parts.some((p) => p > 0xffffffff)) throw new EncodeError('bgp', `not a large community: ${text}`);
  return { globalAdmin: parts[0]!, localData1: parts[1]!, localData2: parts[2]! };
}
