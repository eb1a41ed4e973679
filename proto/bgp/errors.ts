import { notificationName } from './notification-codes.js';

/**
 * The one error BGP decoding throws: the message is unusable and the session must be reset
 * with a NOTIFICATION carrying `code`, `subcode` and `data` as RFC 4271 §6 (and the RFCs that
 * extend it) prescribe. Non-fatal UPDATE problems are not thrown; they come back as RFC 7606
 * actions in the decode result.
 */
export class BgpMessageError extends Error {
  override readonly name = 'BgpMessageError';
  constructor(
    readonly code: number,
    readonly subcode: number,
    readonly data: Uint8Array,
    /** What was wrong, for logs. */
    readonly reason: string,
  ) {
    super(`${notificationName(code, subcode)}: ${reason}`);
  }
}
