// net/tcp on real sockets over loopback: the addon really applies MD5 and TTL, and a kernel refusal
// comes back as a typed TcpOptionError naming the option, never the password.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectTcp, listenTcp, TcpOptionError } from '../../net/tcp/index.js';

const secret = 'not-in-any-message-0123';

/** Turns a lost event into a failure within a minute (the runner's own limit is ten); no test waits on it. */
const GUARD = { timeout: 60_000 };

describe('net/tcp socket options on loopback', () => {
  it('a missing VRF device is a typed ENODEV from SO_BINDTODEVICE', GUARD, async () => {
    await assert.rejects(
      connectTcp('127.0.0.1', 9, { timeoutMs: 500, device: 'nosuchvrf0' }),
      (e: unknown) => e instanceof TcpOptionError && e.option === 'SO_BINDTODEVICE' && e.code === 'ENODEV',
    );
  });

  it('MD5: matching keys connect; a listener with a key refuses a client without one', GUARD, async () => {
    // The client ports the listener accepted, and a way to await one of them.
    const accepted: (number | undefined)[] = [];
    const waiters = new Map<number | undefined, () => void>();
    const acceptedPort = (port: number | undefined): Promise<void> =>
      accepted.includes(port) ? Promise.resolve() : new Promise((resolve) => waiters.set(port, resolve));
    const l = await listenTcp(
      '127.0.0.1',
      0 + 17_979,
      { md5: [{ address: '127.0.0.1', password: secret }] },
      (s) => {
        accepted.push(s.remotePort);
        waiters.get(s.remotePort)?.();
        s.destroy();
      },
    );
    try {
      const ok = await connectTcp('127.0.0.1', 17_979, {
        timeoutMs: 2000,
        ttl: 7,
        md5: [{ address: '127.0.0.1', password: secret }],
      });
      const okPort = ok.localPort;
      ok.destroy();
      await assert.rejects(
        connectTcp('127.0.0.1', 17_979, { timeoutMs: 400 }),
        (e: unknown) =>
          e instanceof TcpOptionError &&
          e.syscall === 'connect' &&
          e.code === 'ETIMEDOUT' &&
          !e.message.includes(secret),
      );
      // The marker: one more signed connection, accepted after the refused one timed out. Had the
      // unsigned one been accepted, its port would be among those the listener saw.
      const marker = await connectTcp('127.0.0.1', 17_979, {
        timeoutMs: 2000,
        md5: [{ address: '127.0.0.1', password: secret }],
      });
      const markerPort = marker.localPort;
      marker.destroy();
      await Promise.all([acceptedPort(okPort), acceptedPort(markerPort)]);
      assert.deepEqual(accepted, [okPort, markerPort], 'only the signed connections were accepted');
    } finally {
      await l.close();
    }
  });
});
