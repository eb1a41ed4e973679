/**
 * Internal signal used while parsing one field; always caught inside proto/bgp and turned into a
 * BgpMessageError or an RFC 7606 action, never seen by callers.
 */
export class MalformedField extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}
