/**
 * BGP messages as a whole: the 19-octet header (RFC 4271 §4.1), framing a TCP byte stream into
 * messages, and decode/encode of any message under the negotiated session parameters.
 */
import { ByteWriter, readU16 } from '../bytes.js';
import { EncodeError } from '../errors.js';
import {
  HEADER_LENGTH,
  MARKER_LENGTH,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  RouteRefreshSubtype,
} from './constants.js';
import { BgpMessageError } from './errors.js';
import type { Family, SessionParams } from './family.js';
import { ErrorCode, HeaderSubcode, RouteRefreshErrorSubcode } from './notification-codes.js';
import { decodeNotification, encodeNotificationBody, type NotificationMessage } from './notification.js';
import { decodeOpen, encodeOpenBody, type OpenMessage } from './open.js';
import { decodeRouteRefresh, encodeRouteRefreshBody, type RouteRefreshMessage } from './route-refresh.js';
import { decodeUpdate, encodeUpdateBody, type UpdateMessage, type UpdateProblem } from './update.js';

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}

export type BgpMessage =
  OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** A decoded message; the RFC 7606 fields are empty/false for anything but an UPDATE. */
export interface DecodedMessage {
  readonly message: BgpMessage;
  readonly problems: readonly UpdateProblem[];
  readonly treatAsWithdraw: boolean;
  readonly disabledFamilies: readonly Family[];
}

/** Largest message the session allows (RFC 8654). */
export function maxMessageLength(session: SessionParams): number {
  return session.extendedMessages ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
}

/** Smallest legal length per type (RFC 4271 §4, RFC 2918). */
const MIN_LENGTH: Readonly<Record<number, number>> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

const u16 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);

/**
 * Validates the header at `b[off, off+19)` and returns the message length and type. RFC 4271 §6.1:
 * 1/1 marker not all ones; 1/2 length < 19, > max, or wrong for the type (data: the length field);
 * 1/3 unknown type (data: the type octet). OPEN and KEEPALIVE are held to 4096/19 even with
 * extended messages (RFC 8654 §4).
 */
export function readHeader(
  b: Uint8Array,
  off: number,
  session: SessionParams,
): { length: number; type: number } {
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (b[off + i] !== 0xff) {
      throw new BgpMessageError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
        new Uint8Array(0),
        'marker is not all ones',
      );
    }
  }
  const length = readU16(b, off + MARKER_LENGTH);
  const type = b[off + MARKER_LENGTH + 2]!;
  const badLength = (why: string): BgpMessageError =>
    new BgpMessageError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, u16(length), why);
  if (length < HEADER_LENGTH || length > maxMessageLength(session)) throw badLength(`length ${length}`);
  const min = MIN_LENGTH[type];
  if (min === undefined) {
    throw new BgpMessageError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_TYPE,
      Uint8Array.of(type),
      `type ${type}`,
    );
  }
  if (length < min) throw badLength(`length ${length} below the minimum ${min} for type ${type}`);
  if (type === MessageType.KEEPALIVE && length !== HEADER_LENGTH)
    throw badLength(`KEEPALIVE of length ${length}`);
  if (type === MessageType.OPEN && length > MAX_MESSAGE_LENGTH) throw badLength(`OPEN of length ${length}`);
  return { length, type };
}

/**
 * Splits a TCP byte stream into whole messages (subarrays of `buffer`, nothing copied or
 * allocated from length fields) and the unconsumed rest. Throws BgpMessageError on a bad header.
 */
export function splitMessages(
  buffer: Uint8Array,
  session: SessionParams,
): { messages: Uint8Array[]; rest: Uint8Array } {
  const messages: Uint8Array[] = [];
  let off = 0;
  while (buffer.length - off >= HEADER_LENGTH) {
    const { length } = readHeader(buffer, off, session);
    if (buffer.length - off < length) break;
    messages.push(buffer.subarray(off, off + length));
    off += length;
  }
  return { messages, rest: buffer.subarray(off) };
}

const EMPTY: Omit<DecodedMessage, 'message'> = Object.freeze({
  problems: Object.freeze([]),
  treatAsWithdraw: false,
  disabledFamilies: Object.freeze([]),
});

/** Decodes one whole message (header included, exactly `length` octets). */
export function decodeMessage(bytes: Uint8Array, session: SessionParams): DecodedMessage {
  if (bytes.length < HEADER_LENGTH) {
    throw new BgpMessageError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      u16(bytes.length),
      'fewer octets than a header',
    );
  }
  const { length, type } = readHeader(bytes, 0, session);
  if (length !== bytes.length) {
    throw new BgpMessageError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      u16(length),
      `header says ${length} octets, ${bytes.length} given`,
    );
  }
  const body = bytes.subarray(HEADER_LENGTH);
  switch (type) {
    case MessageType.OPEN:
      return { message: decodeOpen(body), ...EMPTY };
    case MessageType.UPDATE:
      return decodeUpdate(body, session);
    case MessageType.NOTIFICATION:
      return { message: decodeNotification(body), ...EMPTY };
    case MessageType.KEEPALIVE:
      return { message: { type: 'keepalive' }, ...EMPTY };
    default: {
      // ROUTE-REFRESH; RFC 7313 §5: BoRR/EoRR must be exactly 4 octets long.
      const rr = decodeRouteRefresh(body);
      if (
        (rr.subtype === RouteRefreshSubtype.BORR || rr.subtype === RouteRefreshSubtype.EORR) &&
        body.length !== 4
      ) {
        throw new BgpMessageError(
          ErrorCode.ROUTE_REFRESH,
          RouteRefreshErrorSubcode.INVALID_MESSAGE_LENGTH,
          bytes.slice(),
          `ROUTE-REFRESH subtype ${rr.subtype} with ${body.length} octets`,
        );
      }
      return { message: rr, ...EMPTY };
    }
  }
}

function bodyOf(m: BgpMessage, session: SessionParams): { type: number; body: Uint8Array } {
  switch (m.type) {
    case 'open':
      return { type: MessageType.OPEN, body: encodeOpenBody(m) };
    case 'update':
      return { type: MessageType.UPDATE, body: encodeUpdateBody(m, session) };
    case 'notification':
      return { type: MessageType.NOTIFICATION, body: encodeNotificationBody(m) };
    case 'keepalive':
      return { type: MessageType.KEEPALIVE, body: new Uint8Array(0) };
    case 'routeRefresh':
      return { type: MessageType.ROUTE_REFRESH, body: encodeRouteRefreshBody(m) };
  }
}

/** Frames a body with the header. */
export function frame(type: number, body: Uint8Array, session: SessionParams): Uint8Array {
  const length = HEADER_LENGTH + body.length;
  const max =
    type === MessageType.OPEN || type === MessageType.KEEPALIVE
      ? MAX_MESSAGE_LENGTH
      : maxMessageLength(session);
  if (length > max) throw new EncodeError('bgp', `message of ${length} octets exceeds the maximum ${max}`);
  const w = new ByteWriter(length);
  for (let i = 0; i < MARKER_LENGTH; i++) w.u8(0xff);
  return w.u16(length).u8(type).bytes(body).finish();
}

/** Encodes any message (header included). Throws EncodeError if it cannot go on the wire. */
export function encodeMessage(m: BgpMessage, session: SessionParams): Uint8Array {
  const { type, body } = bodyOf(m, session);
  return frame(type, body, session);
}
