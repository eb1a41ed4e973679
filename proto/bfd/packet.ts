/**
 * BFD Control packets (RFC 5880 §4.1) with the optional authentication section (§4.2–4.4: simple
 * password, keyed/meticulous keyed MD5 and SHA1), the reception checks of §6.8.6 that concern the
 * packet alone, and digest computation/verification (§6.7.3, §6.7.4).
 */
import { createHash } from 'node:crypto';
import { ByteWriter, bytesEqual, copyBytes, readU32 } from '../bytes.js';
import { EncodeError, PacketDecodeError } from '../errors.js';

/** RFC 5881 §4: single-hop control packets go to UDP 3784 with TTL/Hop Limit 255. */
export const BFD_SINGLE_HOP_PORT = 3784;
/** RFC 5881 echo port (echo is not implemented here). */
export const BFD_ECHO_PORT = 3785;
/** RFC 5883 §5: multihop control packets go to UDP 4784. */
export const BFD_MULTIHOP_PORT = 4784;
/** RFC 5881 §5: single-hop packets are sent with TTL 255 and must arrive with 255 (GTSM). */
export const BFD_SINGLE_HOP_TTL = 255;
/** RFC 5881 §4: source ports come from 49152..65535. */
export const BFD_SOURCE_PORT_MIN = 49152;
export const BFD_SOURCE_PORT_MAX = 65535;

export type BfdState = 'AdminDown' | 'Down' | 'Init' | 'Up';
export const BFD_STATES: readonly BfdState[] = ['AdminDown', 'Down', 'Init', 'Up'];

/** Diagnostic codes (RFC 5880 §4.1). */
export const BfdDiag = {
  NONE: 0,
  CONTROL_DETECTION_TIME_EXPIRED: 1,
  ECHO_FUNCTION_FAILED: 2,
  NEIGHBOR_SIGNALED_SESSION_DOWN: 3,
  FORWARDING_PLANE_RESET: 4,
  PATH_DOWN: 5,
  CONCATENATED_PATH_DOWN: 6,
  ADMINISTRATIVELY_DOWN: 7,
  REVERSE_CONCATENATED_PATH_DOWN: 8,
} as const;

export type BfdAuth =
  | { readonly type: 'simple-password'; readonly keyId: number; readonly password: Uint8Array }
  | {
      readonly type: 'keyed-md5' | 'meticulous-keyed-md5' | 'keyed-sha1' | 'meticulous-keyed-sha1';
      readonly keyId: number;
      readonly sequence: number;
      /** 16 octets (MD5) or 20 octets (SHA1). */
      readonly digest: Uint8Array;
    };

const AUTH_TYPE: Record<BfdAuth['type'], number> = {
  'simple-password': 1,
  'keyed-md5': 2,
  'meticulous-keyed-md5': 3,
  'keyed-sha1': 4,
  'meticulous-keyed-sha1': 5,
};

export interface BfdControlPacket {
  readonly version: number;
  readonly diag: number;
  readonly state: BfdState;
  readonly poll: boolean;
  readonly final: boolean;
  readonly controlPlaneIndependent: boolean;
  readonly demand: boolean;
  readonly multipoint: boolean;
  readonly detectMult: number;
  readonly myDiscriminator: number;
  readonly yourDiscriminator: number;
  /** Microseconds. */
  readonly desiredMinTxInterval: number;
  /** Microseconds. */
  readonly requiredMinRxInterval: number;
  /** Microseconds; 0 = echo not supported. */
  readonly requiredMinEchoRxInterval: number;
  readonly auth?: BfdAuth;
}

const bad = (reason: string): PacketDecodeError => new PacketDecodeError('bfd', reason);

/** Digest length by authentication type. */
const DIGEST_LENGTH: Record<number, number> = { 2: 16, 3: 16, 4: 20, 5: 20 };

/**
 * Decodes a control packet (the UDP payload). Throws PacketDecodeError for every "discard" of
 * RFC 5880 §6.8.6 that can be judged from the packet alone: version ≠ 1, Length < 24 (26 with A),
 * Length > payload, Detect Mult 0, Multipoint set, My Discriminator 0, Your Discriminator 0 outside
 * Down/AdminDown, and a malformed authentication section.
 */
export function decodeBfdControl(b: Uint8Array): BfdControlPacket {
  if (b.length < 24) throw bad(`payload of ${b.length} octets is shorter than a control packet`);
  const version = b[0]! >> 5;
  if (version !== 1) throw bad(`version ${version}`);
  const flags = b[1]!;
  const state = BFD_STATES[flags >> 6]!;
  const authPresent = (flags & 0x04) !== 0;
  const length = b[3]!;
  if (length < (authPresent ? 26 : 24)) throw bad(`length field ${length} too small`);
  if (length > b.length) throw bad(`length field ${length} exceeds the ${b.length}-octet payload`);
  const detectMult = b[2]!;
  if (detectMult === 0) throw bad('Detect Mult is zero');
  const multipoint = (flags & 0x01) !== 0;
  if (multipoint) throw bad('Multipoint bit set');
  const myDiscriminator = readU32(b, 4);
  const yourDiscriminator = readU32(b, 8);
  if (myDiscriminator === 0) throw bad('My Discriminator is zero');
  if (yourDiscriminator === 0 && state !== 'Down' && state !== 'AdminDown') {
    throw bad(`Your Discriminator is zero in state ${state}`);
  }
  let auth: BfdAuth | undefined;
  if (authPresent) {
    const type = b[24]!;
    const alen = b[25]!;
    if (24 + alen !== length) throw bad(`auth length ${alen} does not end at the packet length ${length}`);
    if (type === 1) {
      if (alen < 4 || alen > 19) throw bad(`simple password auth length ${alen}`);
      auth = { type: 'simple-password', keyId: b[26]!, password: copyBytes(b, 27, 24 + alen) };
    } else if (DIGEST_LENGTH[type] !== undefined) {
      const dlen = DIGEST_LENGTH[type]!;
      if (alen !== 8 + dlen) throw bad(`auth type ${type} length ${alen}, expected ${8 + dlen}`);
      const name = (Object.keys(AUTH_TYPE) as BfdAuth['type'][]).find((k) => AUTH_TYPE[k] === type)!;
      if (name === 'simple-password') throw bad('unreachable');
      auth = { type: name, keyId: b[26]!, sequence: readU32(b, 28), digest: copyBytes(b, 32, 32 + dlen) };
    } else {
      throw bad(`authentication type ${type}`);
    }
  }
  const p: BfdControlPacket = {
    version,
    diag: b[0]! & 0x1f,
    state,
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    controlPlaneIndependent: (flags & 0x08) !== 0,
    demand: (flags & 0x02) !== 0,
    multipoint,
    detectMult,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTxInterval: readU32(b, 12),
    requiredMinRxInterval: readU32(b, 16),
    requiredMinEchoRxInterval: readU32(b, 20),
  };
  return auth ? { ...p, auth } : p;
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new EncodeError('bfd', `${what} ${v} out of range`);
  return v;
}

/** Encodes a control packet (digest fields as given; see `signBfdControl`). */
export function encodeBfdControl(p: BfdControlPacket): Uint8Array {
  if (p.poll && p.final) throw new EncodeError('bfd', 'Poll and Final must not both be set');
  if (p.diag < 0 || p.diag > 31 || p.detectMult < 1 || p.detectMult > 255) {
    throw new EncodeError('bfd', 'diag or Detect Mult out of range');
  }
  const w = new ByteWriter(52);
  let authBytes: Uint8Array | undefined;
  if (p.auth) {
    const a = p.auth;
    const aw = new ByteWriter(28).u8(AUTH_TYPE[a.type]);
    if (a.type === 'simple-password') {
      if (a.password.length < 1 || a.password.length > 16)
        throw new EncodeError('bfd', 'password must be 1..16 octets');
      aw.u8(3 + a.password.length)
        .u8(a.keyId)
        .bytes(a.password);
    } else {
      const dlen = a.type.endsWith('md5') ? 16 : 20;
      if (a.digest.length !== dlen) throw new EncodeError('bfd', `${a.type} digest must be ${dlen} octets`);
      aw.u8(8 + dlen)
        .u8(a.keyId)
        .u8(0)
        .u32(u32(a.sequence, 'sequence'))
        .bytes(a.digest);
    }
    authBytes = aw.finish();
  }
  const stateCode = ['AdminDown', 'Down', 'Init', 'Up'].indexOf(p.state);
  w.u8(((p.version & 7) << 5) | p.diag);
  w.u8(
    (stateCode << 6) |
      (p.poll ? 0x20 : 0) |
      (p.final ? 0x10 : 0) |
      (p.controlPlaneIndependent ? 0x08 : 0) |
      (authBytes ? 0x04 : 0) |
      (p.demand ? 0x02 : 0) |
      (p.multipoint ? 0x01 : 0),
  );
  w.u8(p.detectMult).u8(24 + (authBytes?.length ?? 0));
  w.u32(u32(p.myDiscriminator, 'My Discriminator')).u32(u32(p.yourDiscriminator, 'Your Discriminator'));
  w.u32(u32(p.desiredMinTxInterval, 'Desired Min TX')).u32(u32(p.requiredMinRxInterval, 'Required Min RX'));
  w.u32(u32(p.requiredMinEchoRxInterval, 'Required Min Echo RX'));
  if (authBytes) w.bytes(authBytes);
  return w.finish();
}

function digestOf(type: BfdAuth['type'], bytes: Uint8Array, key: Uint8Array): Uint8Array {
  const dlen = type.endsWith('md5') ? 16 : 20;
  if (key.length > dlen) throw new EncodeError('bfd', `key longer than ${dlen} octets`);
  const buf = Uint8Array.from(bytes);
  // §6.7.3/§6.7.4: the digest field holds the key, zero-padded, while hashing.
  buf.fill(0, 32, 32 + dlen);
  buf.set(key, 32);
  return new Uint8Array(
    createHash(dlen === 16 ? 'md5' : 'sha1')
      .update(buf)
      .digest(),
  );
}

/** Encodes a packet whose auth is keyed MD5/SHA1, computing the digest with `key`. */
export function signBfdControl(p: BfdControlPacket, key: Uint8Array): Uint8Array {
  if (!p.auth || p.auth.type === 'simple-password') return encodeBfdControl(p);
  const dlen = p.auth.type.endsWith('md5') ? 16 : 20;
  const draft = encodeBfdControl({ ...p, auth: { ...p.auth, digest: new Uint8Array(dlen) } });
  const digest = digestOf(p.auth.type, draft, key);
  draft.set(digest, 32);
  return draft;
}

/**
 * Verifies a received packet's authentication against the configured key (RFC 5880 §6.7.2–6.7.4):
 * password equality, or the recomputed digest. Sequence-number windows are the session's job.
 */
export function verifyBfdAuth(
  bytes: Uint8Array,
  p: BfdControlPacket,
  keyId: number,
  key: Uint8Array,
): boolean {
  if (!p.auth || p.auth.keyId !== keyId) return false;
  if (p.auth.type === 'simple-password') return bytesEqual(p.auth.password, key);
  const length = bytes[3]!;
  const expected = digestOf(p.auth.type, bytes.subarray(0, length), key);
  return bytesEqual(expected, p.auth.digest);
}
