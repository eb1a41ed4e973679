/**
 * OPEN capabilities (RFC 5492) and their values: multiprotocol (RFC 4760), route refresh (RFC 2918),
 * extended next hop (RFC 8950), extended message (RFC 8654), graceful restart (RFC 4724, N bit RFC 8538),
 * 4-octet AS (RFC 6793), ADD-PATH (RFC 7911), enhanced route refresh (RFC 7313), FQDN
 * (draft-walton-bgp-hostname-capability). Anything else is kept verbatim as `unknown`.
 */
import { readU16, readU32, copyBytes, ByteWriter } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { CapabilityCode } from './constants.js';
import { MalformedField } from './malformed.js';

export interface ExtendedNextHopEntry {
  readonly afi: number;
  readonly safi: number;
  readonly nextHopAfi: number;
}

export interface GracefulRestartFamily {
  readonly afi: number;
  readonly safi: number;
  /** F bit: forwarding state was preserved across the restart. */
  readonly forwarding: boolean;
}

/** RFC 7911 Send/Receive: 1 receive, 2 send, 3 both. */
export interface AddPathEntry {
  readonly afi: number;
  readonly safi: number;
  readonly sendReceive: number;
}

export type Capability =
  | { readonly type: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly type: 'routeRefresh' }
  | { readonly type: 'enhancedRouteRefresh' }
  | { readonly type: 'extendedMessage' }
  | { readonly type: 'extendedNextHop'; readonly entries: readonly ExtendedNextHopEntry[] }
  | {
      readonly type: 'gracefulRestart';
      /** R bit: the sender has restarted. */
      readonly restarting: boolean;
      /** N bit (RFC 8538): graceful restart applies to NOTIFICATIONs too. */
      readonly notification: boolean;
      /** Restart Time in seconds (12 bits). */
      readonly restartTime: number;
      readonly families: readonly GracefulRestartFamily[];
    }
  | { readonly type: 'fourOctetAs'; readonly asn: number }
  | { readonly type: 'addPath'; readonly entries: readonly AddPathEntry[] }
  | { readonly type: 'fqdn'; readonly hostname: string; readonly domain: string }
  | { readonly type: 'unknown'; readonly code: number; readonly value: Uint8Array };

/** Text <-> bytes one char per octet, so any bytes round-trip (FQDN capability strings). */
function latin1(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function latin1Bytes(s: string, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new EncodeError('bgp', `${what} has a character outside one octet`);
    out[i] = c;
  }
  return out;
}

function expectLength(code: number, len: number, ok: boolean): void {
  if (!ok) throw new MalformedField(`capability ${code} has bad length ${len}`);
}

/** Decodes one capability's value `b[start, end)`. Throws MalformedField on a malformed known capability. */
export function readCapability(code: number, b: Uint8Array, start: number, end: number): Capability {
  const len = end - start;
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL:
      expectLength(code, len, len === 4);
      return { type: 'multiprotocol', afi: readU16(b, start), safi: b[start + 3]! };
    case CapabilityCode.ROUTE_REFRESH:
      expectLength(code, len, len === 0);
      return { type: 'routeRefresh' };
    case CapabilityCode.ENHANCED_ROUTE_REFRESH:
      expectLength(code, len, len === 0);
      return { type: 'enhancedRouteRefresh' };
    case CapabilityCode.EXTENDED_MESSAGE:
      expectLength(code, len, len === 0);
      return { type: 'extendedMessage' };
    case CapabilityCode.EXTENDED_NEXT_HOP: {
      expectLength(code, len, len % 6 === 0);
      const entries: ExtendedNextHopEntry[] = [];
      for (let o = start; o < end; o += 6) {
        entries.push({ afi: readU16(b, o), safi: readU16(b, o + 2), nextHopAfi: readU16(b, o + 4) });
      }
      return { type: 'extendedNextHop', entries };
    }
    case CapabilityCode.GRACEFUL_RESTART: {
      expectLength(code, len, len >= 2 && (len - 2) % 4 === 0);
      const head = readU16(b, start);
      const families: GracefulRestartFamily[] = [];
      for (let o = start + 2; o < end; o += 4) {
        families.push({ afi: readU16(b, o), safi: b[o + 2]!, forwarding: (b[o + 3]! & 0x80) !== 0 });
      }
      return {
        type: 'gracefulRestart',
        restarting: (head & 0x8000) !== 0,
        notification: (head & 0x4000) !== 0,
        restartTime: head & 0x0fff,
        families,
      };
    }
    case CapabilityCode.FOUR_OCTET_AS:
      expectLength(code, len, len === 4);
      return { type: 'fourOctetAs', asn: readU32(b, start) };
    case CapabilityCode.ADD_PATH: {
      expectLength(code, len, len % 4 === 0);
      const entries: AddPathEntry[] = [];
      for (let o = start; o < end; o += 4) {
        entries.push({ afi: readU16(b, o), safi: b[o + 2]!, sendReceive: b[o + 3]! });
      }
      return { type: 'addPath', entries };
    }
    case CapabilityCode.FQDN: {
      if (len < 1) throw new MalformedField('FQDN capability is empty');
      const hl = b[start]!;
      if (start + 1 + hl + 1 > end) throw new MalformedField('FQDN hostname overruns the capability');
      const dl = b[start + 1 + hl]!;
      if (start + 2 + hl + dl !== end)
        throw new MalformedField('FQDN domain length does not match the capability');
      return {
        type: 'fqdn',
        hostname: latin1(b, start + 1, start + 1 + hl),
        domain: latin1(b, start + 2 + hl, end),
      };
    }
    default:
      return { type: 'unknown', code, value: copyBytes(b, start, end) };
  }
}

function checkU(v: number, bits: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits)
    throw new EncodeError('bgp', `${what} ${v} out of range`);
  return v;
}

/** Code and value bytes of one capability. */
export function encodeCapability(c: Capability): { code: number; value: Uint8Array } {
  const w = new ByteWriter(16);
  switch (c.type) {
    case 'multiprotocol':
      w.u16(checkU(c.afi, 16, 'AFI'))
        .u8(0)
        .u8(checkU(c.safi, 8, 'SAFI'));
      return { code: CapabilityCode.MULTIPROTOCOL, value: w.finish() };
    case 'routeRefresh':
      return { code: CapabilityCode.ROUTE_REFRESH, value: new Uint8Array(0) };
    case 'enhancedRouteRefresh':
      return { code: CapabilityCode.ENHANCED_ROUTE_REFRESH, value: new Uint8Array(0) };
    case 'extendedMessage':
      return { code: CapabilityCode.EXTENDED_MESSAGE, value: new Uint8Array(0) };
    case 'extendedNextHop':
      for (const e of c.entries) {
        w.u16(checkU(e.afi, 16, 'AFI'))
          .u16(checkU(e.safi, 16, 'SAFI'))
          .u16(checkU(e.nextHopAfi, 16, 'AFI'));
      }
      return { code: CapabilityCode.EXTENDED_NEXT_HOP, value: w.finish() };
    case 'gracefulRestart':
      w.u16(
        (c.restarting ? 0x8000 : 0) |
          (c.notification ? 0x4000 : 0) |
          checkU(c.restartTime, 12, 'restart time'),
      );
      for (const f of c.families) {
        w.u16(checkU(f.afi, 16, 'AFI'))
          .u8(checkU(f.safi, 8, 'SAFI'))
          .u8(f.forwarding ? 0x80 : 0);
      }
      return { code: CapabilityCode.GRACEFUL_RESTART, value: w.finish() };
    case 'fourOctetAs':
      w.u32(checkU(c.asn, 32, 'ASN'));
      return { code: CapabilityCode.FOUR_OCTET_AS, value: w.finish() };
    case 'addPath':
      for (const e of c.entries) {
        w.u16(checkU(e.afi, 16, 'AFI'))
          .u8(checkU(e.safi, 8, 'SAFI'))
          .u8(checkU(e.sendReceive, 8, 'send/receive'));
      }
      return { code: CapabilityCode.ADD_PATH, value: w.finish() };
    case 'fqdn': {
      const h = latin1Bytes(c.hostname, 'hostname');
      const d = latin1Bytes(c.domain, 'domain');
      if (h.length > 255 || d.length > 255)
        throw new EncodeError('bgp', 'FQDN hostname/domain longer than 255');
      w.u8(h.length).bytes(h).u8(d.length).bytes(d);
      return { code: CapabilityCode.FQDN, value: w.finish() };
    }
    case 'unknown':
      return { code: checkU(c.code, 8, 'capability code'), value: c.value };
  }
}
