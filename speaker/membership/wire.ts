// The membership wire format: "BLM1" | HMAC-SHA256(key, body) (32 octets) | body (UTF-8 JSON).
// Every message is authenticated with the key from the `memberlist` Secret; anything that does not
// verify or does not parse is rejected with a reason (counted by the caller), never thrown.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Message, MemberState, Update, View } from './core.js';

const MAGIC = Buffer.from('BLM1', 'ascii');
const MAC_LEN = 32;
export const MAX_DATAGRAM = 65_000;

export type DecodeResult =
  { ok: true; msg: Message } | { ok: false; reason: 'bad-magic' | 'bad-key' | 'malformed' | 'too-large' };

export function encodeMessage(msg: Message, key: Uint8Array): Buffer {
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
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

/** Structural check of a parsed body. */
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

export function decodeMessage(buf: Uint8Array, key: Uint8Array): DecodeResult {
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
  return validMessage(parsed) ? { ok: true, msg: parsed } : { ok: false, reason: 'malformed' };
}
