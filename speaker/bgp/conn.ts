// net.Socket -> Conn (the byte-stream shape BgpSession is written against).
import type { Socket } from 'node:net';
import type { Conn } from './session-config.js';
import { unmapIpv4 } from '../../proto/address.js';

/** Wraps a connected socket. `end()` destroys the socket if the peer has not closed within `lingerMs`. */
export function socketConn(s: Socket, lingerMs = 2000): Conn {
  s.setNoDelay(true);
  // Errors surface as 'close'; without a listener an ECONNRESET would throw.
  s.on('error', () => undefined);
  const local = unmapIpv4(s.localAddress ?? '');
  const remote = unmapIpv4(s.remoteAddress ?? '');
  return {
    localAddress: local,
    remoteAddress: remote,
    write: (b) => {
      if (!s.destroyed) s.write(b);
    },
    end: () => {
      if (s.destroyed) return;
      s.end();
      setTimeout(() => s.destroy(), lingerMs).unref();
    },
    destroy: () => s.destroy(),
    onData: (cb) => s.on('data', (d: Buffer) => cb(new Uint8Array(d.buffer, d.byteOffset, d.length))),
    onClose: (cb) => s.on('close', () => cb()),
  };
}
