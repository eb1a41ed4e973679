// net/tcp option plumbing: bad values and kernel refusals come back as typed TcpOptionError values
// naming the option, never the password. (That the addon really applies MD5 and TTL on loopback is in
// test/integration/tcp-options.test.ts: real sockets.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toTcpOptionError, validateSocketOptions, TcpOptionError } from '../../../../net/tcp/index.js';

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
});
