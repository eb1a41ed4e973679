/** OPEN message (RFC 4271 §4.2) with optional parameters (RFC 5492) in RFC 9072 extended form when needed. */
import { bytesToIpv4, ipv4ToBytes } from '../address.js';
import { ByteWriter, readU16 } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { encodeCapability, readCapability, type Capability } from './capabilities.js';
import { AS_TRANS, BGP_VERSION, OptParamType } from './constants.js';
import { BgpMessageError } from './errors.js';
import { MalformedField } from './malformed.js';
import { ErrorCode, OpenSubcode } from './notification-codes.js';

export interface OpenMessage {
  readonly type: 'open';
  readonly version: number;
  /** The 2-octet "My Autonomous System" field: AS_TRANS (23456) when the real ASN needs 4 octets. */
  readonly myAs: number;
  /** Seconds; 0 or >= 3. */
  readonly holdTime: number;
  readonly bgpId: string;
  readonly capabilities: readonly Capability[];
  /**
   * How capabilities were split across Capabilities optional parameters, when not all in one
   * (e.g. one parameter per capability, as some speakers send). Absent = one parameter (or none).
   */
  readonly capabilitiesPerParameter?: readonly number[];
  /** RFC 9072 extended optional parameters format was used although not required. */
  readonly extendedParameters?: boolean;
}

const u16 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);

function openError(subcode: number, reason: string, data: Uint8Array = new Uint8Array(0)): BgpMessageError {
  return new BgpMessageError(ErrorCode.OPEN_MESSAGE, subcode, data, reason);
}

/**
 * Decodes an OPEN body (the bytes after the 19-octet header). Throws BgpMessageError:
 * 2/1 (data: version 4 as 2 octets), 2/3 zero identifier, 2/4 unknown optional parameter,
 * 2/6 hold time 1 or 2, 2/0 malformed parameters/capabilities or inconsistent lengths.
 */
export function decodeOpen(b: Uint8Array): OpenMessage {
  if (b.length < 10) throw openError(OpenSubcode.UNSPECIFIC, 'OPEN shorter than its fixed fields');
  const version = b[0]!;
  if (version !== BGP_VERSION) {
    throw openError(OpenSubcode.UNSUPPORTED_VERSION_NUMBER, `version ${version}`, u16(BGP_VERSION));
  }
  const myAs = readU16(b, 1);
  const holdTime = readU16(b, 3);
  if (holdTime === 1 || holdTime === 2) {
    throw openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime} s`);
  }
  if (b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0) {
    throw openError(OpenSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0');
  }
  const bgpId = bytesToIpv4(b, 5);
  let off = 10;
  let paramsLen = b[9]!;
  let extended = false;
  // RFC 9072: Non-Ext OP Len 255 followed by Non-Ext OP Type 255 means a 2-octet length follows.
  if (paramsLen === 255 && b.length > 10 && b[10] === OptParamType.EXTENDED_LENGTH) {
    if (b.length < 13)
      throw openError(OpenSubcode.UNSPECIFIC, 'extended optional parameters length truncated');
    extended = true;
    paramsLen = readU16(b, 11);
    off = 13;
  }
  if (off + paramsLen !== b.length) {
    throw openError(
      OpenSubcode.UNSPECIFIC,
      `optional parameters length ${paramsLen} does not match message (${b.length - off} octets follow)`,
    );
  }
  const capabilities: Capability[] = [];
  const perParam: number[] = [];
  const end = b.length;
  const headLen = extended ? 3 : 2;
  while (off < end) {
    if (off + headLen > end) throw openError(OpenSubcode.UNSPECIFIC, 'optional parameter header truncated');
    const type = b[off]!;
    const len = extended ? readU16(b, off + 1) : b[off + 1]!;
    off += headLen;
    if (off + len > end)
      throw openError(OpenSubcode.UNSPECIFIC, `optional parameter ${type} overruns the message`);
    if (type !== OptParamType.CAPABILITIES) {
      throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${type}`);
    }
    const pend = off + len;
    let count = 0;
    while (off < pend) {
      if (off + 2 > pend) throw openError(OpenSubcode.UNSPECIFIC, 'capability header truncated');
      const code = b[off]!;
      const clen = b[off + 1]!;
      off += 2;
      if (off + clen > pend)
        throw openError(OpenSubcode.UNSPECIFIC, `capability ${code} overruns its parameter`);
      try {
        capabilities.push(readCapability(code, b, off, off + clen));
      } catch (e) {
        if (e instanceof MalformedField) throw openError(OpenSubcode.UNSPECIFIC, e.reason);
        throw e;
      }
      off += clen;
      count++;
    }
    perParam.push(count);
  }
  const canonicalLayout = perParam.length === 0 || (perParam.length === 1 && perParam[0]! > 0);
  const open: OpenMessage = {
    type: 'open',
    version,
    myAs,
    holdTime,
    bgpId,
    capabilities,
    ...(canonicalLayout ? {} : { capabilitiesPerParameter: perParam }),
  };
  if (extended && !needsExtendedParameters(encodeParameters(open)))
    return { ...open, extendedParameters: true };
  return open;
}

function encodeParameters(open: OpenMessage): Uint8Array[] {
  const layout =
    open.capabilitiesPerParameter ?? (open.capabilities.length > 0 ? [open.capabilities.length] : []);
  const total = layout.reduce((a, n) => a + n, 0);
  if (total !== open.capabilities.length || layout.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new EncodeError('bgp', 'capabilitiesPerParameter does not add up to the capabilities given');
  }
  const params: Uint8Array[] = [];
  let i = 0;
  for (const n of layout) {
    const w = new ByteWriter(64);
    for (let k = 0; k < n; k++) {
      const { code, value } = encodeCapability(open.capabilities[i++]!);
      if (value.length > 255) throw new EncodeError('bgp', `capability ${code} longer than 255 octets`);
      w.u8(code).u8(value.length).bytes(value);
    }
    params.push(w.finish());
  }
  return params;
}

function needsExtendedParameters(params: Uint8Array[]): boolean {
  const total = params.reduce((a, p) => a + 2 + p.length, 0);
  return total > 255 || params.some((p) => p.length > 255);
}

/** Encodes an OPEN body (without the header). */
export function encodeOpenBody(open: OpenMessage): Uint8Array {
  if (!Number.isInteger(open.myAs) || open.myAs < 0 || open.myAs > 0xffff) {
    throw new EncodeError(
      'bgp',
      `My AS ${open.myAs} does not fit 2 octets (use AS_TRANS and the 4-octet capability)`,
    );
  }
  if (!Number.isInteger(open.holdTime) || open.holdTime < 0 || open.holdTime > 0xffff) {
    throw new EncodeError('bgp', `hold time ${open.holdTime} out of range`);
  }
  const params = encodeParameters(open);
  const extended = open.extendedParameters === true || needsExtendedParameters(params);
  const w = new ByteWriter(64);
  w.u8(open.version).u16(open.myAs).u16(open.holdTime).bytes(ipv4ToBytes(open.bgpId));
  if (extended) {
    const total = params.reduce((a, p) => a + 3 + p.length, 0);
    if (total > 0xffff) throw new EncodeError('bgp', 'optional parameters too long');
    w.u8(255).u8(OptParamType.EXTENDED_LENGTH).u16(total);
    for (const p of params) w.u8(OptParamType.CAPABILITIES).u16(p.length).bytes(p);
  } else {
    w.u8(params.reduce((a, p) => a + 2 + p.length, 0));
    for (const p of params) w.u8(OptParamType.CAPABILITIES).u8(p.length).bytes(p);
  }
  return w.finish();
}

/**
 * An OPEN for `asn` (2- or 4-octet): My AS is AS_TRANS when the ASN needs 4 octets, and the
 * 4-octet AS capability is added if the caller did not include one (RFC 6793 §3).
 */
export function makeOpen(options: {
  asn: number;
  bgpId: string;
  holdTime: number;
  capabilities: readonly Capability[];
}): OpenMessage {
  const has4 = options.capabilities.some((c) => c.type === 'fourOctetAs');
  const caps =
    has4 || options.asn <= 0xffff
      ? options.capabilities
      : [...options.capabilities, { type: 'fourOctetAs', asn: options.asn } as const];
  return {
    type: 'open',
    version: BGP_VERSION,
    myAs: options.asn > 0xffff ? AS_TRANS : options.asn,
    holdTime: options.holdTime,
    bgpId: options.bgpId,
    capabilities: caps,
  };
}

/** The sender's real ASN: the 4-octet AS capability's value if present, else My AS (RFC 6793 §4.1). */
export function openAsn(open: OpenMessage): number {
  for (const c of open.capabilities) if (c.type === 'fourOctetAs') return c.asn;
  return open.myAs;
}
