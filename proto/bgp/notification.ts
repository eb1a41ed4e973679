/** NOTIFICATION message (RFC 4271 §4.5) and the RFC 9003 shutdown communication. */
import { ByteWriter, copyBytes } from '../bytes.js';
import { EncodeError } from '../errors.js';
import { BgpMessageError } from './errors.js';
import { CeaseSubcode, ErrorCode } from './notification-codes.js';

export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export function decodeNotification(b: Uint8Array): NotificationMessage {
  return { type: 'notification', code: b[0]!, subcode: b[1]!, data: copyBytes(b, 2, b.length) };
}

export function encodeNotificationBody(n: NotificationMessage): Uint8Array {
  return new ByteWriter(2 + n.data.length).u8(n.code).u8(n.subcode).bytes(n.data).finish();
}

/** The NOTIFICATION a BgpMessageError calls for. */
export function notificationFor(e: BgpMessageError): NotificationMessage {
  return { type: 'notification', code: e.code, subcode: e.subcode, data: e.data };
}

/** RFC 9003: the shutdown communication is limited to 255 octets of UTF-8. */
export const MAX_SHUTDOWN_COMMUNICATION = 255;

/**
 * A Cease / Administrative Shutdown (or Reset) NOTIFICATION carrying an RFC 9003 message; the text is
 * cut at a character boundary to fit 255 octets of UTF-8.
 */
export function shutdownNotification(
  text: string,
  subcode: number = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
): NotificationMessage {
  if (subcode !== CeaseSubcode.ADMINISTRATIVE_SHUTDOWN && subcode !== CeaseSubcode.ADMINISTRATIVE_RESET) {
    throw new EncodeError('bgp', 'a shutdown communication goes with Cease subcode 2 or 4');
  }
  const enc = new TextEncoder();
  let bytes = enc.encode(text);
  if (bytes.length > MAX_SHUTDOWN_COMMUNICATION) {
    let chars = [...text];
    while (bytes.length > MAX_SHUTDOWN_COMMUNICATION) {
      chars = chars.slice(0, -1);
      bytes = enc.encode(chars.join(''));
    }
  }
  const data = new Uint8Array(1 + bytes.length);
  data[0] = bytes.length;
  data.set(bytes, 1);
  return { type: 'notification', code: ErrorCode.CEASE, subcode, data };
}

/**
 * The RFC 9003 shutdown communication in a received Cease 6/2 or 6/4, if there is a well-formed one
 * (length octet within the data, valid UTF-8); undefined otherwise.
 */
export function shutdownCommunication(n: NotificationMessage): string | undefined {
  if (n.code !== ErrorCode.CEASE) return undefined;
  if (n.subcode !== CeaseSubcode.ADMINISTRATIVE_SHUTDOWN && n.subcode !== CeaseSubcode.ADMINISTRATIVE_RESET) {
    return undefined;
  }
  if (n.data.length < 1) return undefined;
  const len = n.data[0]!;
  if (len === 0 || 1 + len > n.data.length) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(n.data.subarray(1, 1 + len));
  } catch {
    return undefined;
  }
}
