import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buggyCount,
  canonicalIP,
  formatCIDR,
  formatIP,
  isBuggyIP,
  parseAddressRange,
  parseIP,
  rangeSize,
  rangeToCIDRs,
  cidrRange,
} from '../../../config/ip.js';

describe('IP parsing and formatting', () => {
  it('parses and formats IPv4', () => {
    assert.deepEqual(parseIP('192.168.1.10'), { family: 4, value: 0xc0a8010an });
    assert.equal(formatIP(4, 0xc0a8010an), '192.168.1.10');
  });
  it('rejects malformed IPv4', () => {
    for (const s of ['1.2.3', '1.2.3.256', '01.2.3.4', '1.2.3.4.5', 'a.b.c.d', ''])
      assert.equal(parseIP(s), undefined, s);
  });
  it('parses IPv6 forms and formats them canonically (RFC 5952)', () => {
    assert.equal(canonicalIP('FC00:0000:0000:0000:0000:0000:0000:0001'), 'fc00::1');
    assert.equal(canonicalIP('::'), '::');
    assert.equal(canonicalIP('::1'), '::1');
    assert.equal(canonicalIP('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(canonicalIP('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(canonicalIP('::ffff:10.0.0.1'), '::ffff:10.0.0.1'); // IPv4-mapped: RFC 5952 §5
  });
  it('rejects malformed IPv6', () => {
    for (const s of ['1::2::3', '12345::', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', ':::'])
      assert.equal(parseIP(s), undefined, s);
  });
  it('round-trips every IPv6 value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
        assert.equal(parseIP(formatIP(6, v))?.value, v);
      }),
    );
  });
});

describe('address ranges', () => {
  it('parses CIDRs, masking host bits', () => {
    const r = parseAddressRange('10.0.0.5/24');
    assert.ok(r.ok);
    assert.equal(formatIP(4, r.range.first), '10.0.0.0');
    assert.equal(formatIP(4, r.range.last), '10.0.0.255');
  });
  it('parses first-last ranges and summarises them to CIDRs', () => {
    const r = parseAddressRange('192.168.1.10-192.168.1.20');
    assert.ok(r.ok);
    assert.equal(rangeSize(r.range), 11n);
    assert.deepEqual(r.cidrs.map(formatCIDR), [
      '192.168.1.10/31',
      '192.168.1.12/30',
      '192.168.1.16/30',
      '192.168.1.20/32',
    ]);
  });
  it('handles an IPv6 /48 with bigint sizes', () => {
    const r = parseAddressRange('fd00:1:2::/48');
    assert.ok(r.ok);
    assert.equal(rangeSize(r.range), 1n << 80n);
  });
  it('rejects bad entries with reasons', () => {
    const cases: [string, string][] = [
      ['10.0.0.0/33', 'invalid CIDR "10.0.0.0/33"'],
      ['10.0.0.9-10.0.0.1', 'invalid range "10.0.0.9-10.0.0.1": first address is after the last'],
      ['10.0.0.1-fc00::1', 'invalid range "10.0.0.1-fc00::1": mixes IPv4 and IPv6'],
      ['10.0.0.1-banana', 'invalid range "10.0.0.1-banana": "banana" is not an IP address'],
      ['hello', 'invalid address range "hello": expected a CIDR or first-last range'],
      // MetalLB: internal/config/config.go ParseCIDR (net.ParseCIDR needs a prefix length)
      ['10.0.0.7', 'invalid address range "10.0.0.7": a single address is written as a CIDR, 10.0.0.7/32'],
      ['fc00::7', 'invalid address range "fc00::7": a single address is written as a CIDR, fc00::7/128'],
    ];
    for (const [s, why] of cases) {
      const r = parseAddressRange(s);
      assert.equal(r.ok, false, s);
      if (!r.ok) assert.equal(r.reason, why);
    }
  });
  it('summarised CIDRs cover exactly the range (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }),
        fc.bigInt({ min: 0n, max: 5000n }),
        (first, len) => {
          const last = first + len > (1n << 32n) - 1n ? (1n << 32n) - 1n : first + len;
          const cidrs = rangeToCIDRs({ family: 4, first, last });
          let cur = first;
          for (const c of cidrs) {
            const r = cidrRange(c);
            assert.equal(r.first, cur);
            cur = r.last + 1n;
          }
          assert.equal(cur, last + 1n);
        },
      ),
    );
  });
  it('counts .0 and .255 addresses exactly', () => {
    assert.equal(
      buggyCount({ family: 4, first: parseIP('10.0.0.0')!.value, last: parseIP('10.0.1.255')!.value }),
      4n,
    );
    assert.equal(
      buggyCount({ family: 4, first: parseIP('10.0.0.1')!.value, last: parseIP('10.0.0.254')!.value }),
      0n,
    );
    assert.equal(isBuggyIP(4, parseIP('10.0.0.255')!.value), true);
    assert.equal(isBuggyIP(6, 0n), false);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 32n) - 1000n }),
        fc.integer({ min: 0, max: 999 }),
        (first, len) => {
          let n = 0n;
          for (let v = first; v <= first + BigInt(len); v++) if (isBuggyIP(4, v)) n++;
          assert.equal(buggyCount({ family: 4, first, last: first + BigInt(len) }), n);
        },
      ),
      { numRuns: 50 },
    );
  });
});
