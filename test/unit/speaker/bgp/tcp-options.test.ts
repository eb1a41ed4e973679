// net/tcp option plumbing: bad values and kernel refusals come back as typed TcpOptionError values
// naming the option, never the password; the addon really applies MD5 and TTL on loopback.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  connectTcp,
  listenTcp,
  toTcpOptionError,
  validateSocketOptions,
  TcpOptionError,
} from '../../../../net/tcp/index.js';

const secret = 'not-in-any-message-0123';

describe('net/tcp socket options', () => {
  it('rejects out-of-range TTLs, long device names and long MD5 keys before the kernel sees them', () => {
    const cases: [Parameters<typeof validateSocketOptions>[0], string][] = [
      [{ ttl: 0 }, 'IP_TTL'],
      [{ ttl: 256 }, 'IP_TTL'],
      [{ minTtl: 300 }, 'IP_MINTTL'],
      [{ device: 'a-very-long-vrf-device-name' }, 'SO_BINDTODEVICE'],
      [{ md5: [{ address: '10.0.0.1', password: secret.repeat(4) }] }, 'TCP_MD5SIG'],
    ];
    for (const [opts, option] of cases) {
      assert.throws(
        () => validateSocketOptions(opts),
        (e: unknown) =>
          e instanceof TcpOptionError &&
          e.option === option &&
          e.code === 'EINVAL' &&
          !e.message.includes(secret),
      );
    }
    assert.doesNotThrow(() =>
      validateSocketOptions({
        ttl: 255,
        minTtl: 254,
        device: 'vrf-red',
        md5: [{ address: '10.0.0.1', password: secret }],
      }),
    );
  });

  it('turns anything the addon throws into a TcpOptionError', () => {
    const e = toTcpOptionError(
      Object.assign(new Error('setsockopt SO_BINDTODEVICE: No such device'), {
        code: 'ENODEV',
        syscall: 'setsockopt',
        option: 'SO_BINDTODEVICE',
      }),
    );
    assert.ok(e instanceof TcpOptionError);
    assert.equal(e.code, 'ENODEV');
    assert.equal(e.option, 'SO_BINDTODEVICE');
    assert.equal(toTcpOptionError('weird').code, 'EUNKNOWN');
  });

  it('a missing VRF device is a typed ENODEV from SO_BINDTODEVICE', async () => {
    await assert.rejects(
      connectTcp('127.0.0.1', 9, { timeoutMs: 500, device: 'nosuchvrf0' }),
      (e: unknown) => e instanceof TcpOptionError && e.option === 'SO_BINDTODEVICE' && e.code === 'ENODEV',
    );
  });

  it('MD5: matching keys connect; a listener with a key refuses a client without one', async () => {
    let accepted = 0;
    const l = await listenTcp(
      '127.0.0.1',
      0 + 17_979,
      { md5: [{ address: '127.0.0.1', password: secret }] },
      (s) => {
        accepted++;
        s.destroy();
      },
    );
    try {
      const ok = await connectTcp('127.0.0.1', 17_979, {
        timeoutMs: 2000,
        ttl: 7,
        md5: [{ address: '127.0.0.1', password: secret }],
      });
      ok.destroy();
      await assert.rejects(
        connectTcp('127.0.0.1', 17_979, { timeoutMs: 400 }),
        (e: unknown) =>
          e instanceof TcpOptionError &&
          e.syscall === 'connect' &&
          e.code === 'ETIMEDOUT' &&
          !e.message.includes(secret),
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(accepted, 1, 'only the signed connection was accepted');
    } finally {
      await l.close();
    }
  });
});
