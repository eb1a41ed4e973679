// The membership wire format: "BLM2" | HMAC-SHA256(key, body) (32 octets) | body (UTF-8 JSON).
// Every datagram is authenticated with the key from the `memberlist` Secret; anything that does not
// verify or does not parse is rejected with a reason (counted by the caller), never thrown.
//
// The body is {e: envelope, m: message} or {e: envelope, stale: boot}. The envelope says who sent it to
// whom, which run of the recipient it was meant for and the sender's run and counter, so a datagram
// recorded on the wire cannot be played again (replay.ts): BLM1 (no envelope) is not accepted.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Message, MemberState, Update, View } from './messages.js';

const MAGIC = Buffer.from('BLM2', 'ascii');
const MAC_LEN = 32;
export const MAX_DATAGRAM = 65_000;

export interface Envelope {
  from: string;
  to: string;
  /** The recipient's boot the sender last heard of; 0 before it has heard from that recipient. */
  tb: number;
  /** The sender's boot: its clock (ms) when it started. */
  b: number;
  /** The sender's datagram counter in this boot, from 1. */
  c: number;
}

/**
 * A datagram: a membership message, or `stale`: "your boot (e.tb) is not newer than `stale`, the
 * newest boot of yours I have seen" (a speaker whose clock went back across a restart raises its boot
 * above it and is heard again).
 */
export type Datagram = { e: Envelope; m: Message } | { e: Envelope; stale: number };

export type DecodeResult =
  { ok: true; d: Datagram } | { ok: false; reason: 'bad-magic' | 'bad-key' | 'malformed' | 'too-large' };

export function encodeDatagram(d: Datagram, key: Uint8Array): Buffer {
  const body = Buffer.from(JSON.stringify(d), 'utf8');
  const mac = createHmac('sha256', key).update(body).digest();
  return Buffer.concat([MAGIC, mac, body]);
}

const STATES = new Set<MemberState>(['alive', 'suspect', 'dead']);
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 253;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function isUpdate(v: unknown): v is Update {
  return isObj(v) && isName(v.n) && typeof v.s === 'string' && STATES.has(v.s as MemberState) && isNum(v.i);
}

function isView(v: unknown): v is View {
  return isObj(v) && typeof v.s === 'string' && STATES.has(v.s as MemberState) && isNum(v.i) && isNum(v.hv);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function isEnvelope(v: unknown): v is Envelope {
  return (
    isObj(v) && isName(v.from) && isName(v.to) && isCount(v.tb) && isCount(v.b) && isCount(v.c) && v.c > 0
  );
}

/** Structural check of a parsed body: an envelope with a message from its sender, or a stale-boot notice. */
export function validDatagram(v: unknown): v is Datagram {
  if (!isObj(v) || !isEnvelope(v.e)) return false;
  if ('stale' in v) return isCount(v.stale) && !('m' in v);
  return validMessage(v.m) && v.m.from === v.e.from;
}

/** Structural check of a parsed message. */
export function validMessage(v: unknown): v is Message {
  if (!isObj(v) || !isName(v.from) || !isNum(v.inc) || !isNum(v.hv)) return false;
  const upd = (): boolean => Array.isArray(v.upd) && v.upd.length <= 256 && v.upd.every(isUpdate);
  switch (v.t) {
    case 'ping':
    case 'ack':
      return isNum(v.seq) && (v.view === undefined || isView(v.view)) && upd();
    case 'ping-req':
      return isNum(v.seq) && isName(v.target) && upd();
    case 'ind-ack':
      return isNum(v.seq) && isName(v.target) && isNum(v.tinc) && upd();
    case 'health':
      return Array.isArray(v.healthy) && v.healthy.every((k) => typeof k === 'string' && k.length <= 512);
    default:
      return false;
  }
}

export function decodeDatagram(buf: Uint8Array, key: Uint8Array): DecodeResult {
  if (buf.length > MAX_DATAGRAM) return { ok: false, reason: 'too-large' };
  if (buf.length < MAGIC.length + MAC_LEN + 2 || !Buffer.from(buf.subarray(0, 4)).equals(MAGIC))
    return { ok: false, reason: 'bad-magic' };
  const mac = buf.subarray(4, 4 + MAC_LEN);
  const body = buf.subarray(4 + MAC_LEN);
  const want = createHmac('sha256', key).update(body).digest();
  if (!timingSafeEqual(want, mac)) return { ok: false, reason: 'bad-key' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  return validDatagram(parsed) ? { ok: true, d: parsed } : { ok: false, reason: 'malformed' };
}
