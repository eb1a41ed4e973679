// The one IP address module (proto/address.ts), table-driven: what it accepts, the bytes, the
// canonical text; and that config/ip.ts (bigint arithmetic for pools) reads every form the same way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalIp,
  ipv4OfMapped,
  isIpv4,
  isIpv6,
  parseIp,
  splitZone,
  unmapIpv4,
  type IpFamily,
} from '../../../proto/address.js';
import { canonicalIP, formatIP, parseIP } from '../../../config/ip.js';

/** [text, family, canonical text, bytes as hex] */
type Valid = [string, IpFamily, string, string];

const VALID: Valid[] = [
  // IPv4
  ['10.0.0.1', 4, '10.0.0.1', '0a000001'],
  ['0.0.0.0', 4, '0.0.0.0', '00000000'],
  ['255.255.255.255', 4, '255.255.255.255', 'ffffffff'],
  // IPv6, compressed and not
  ['::', 6, '::', '00'.repeat(16)],
  ['::1', 6, '::1', '00'.repeat(15) + '01'],
  ['1::', 6, '1::', '0001' + '00'.repeat(14)],
  ['2001:db8::1', 6, '2001:db8::1', '20010db8' + '00'.repeat(11) + '01'],
  ['2001:0DB8:0000:0000:0000:0000:0000:0001', 6, '2001:db8::1', '20010db8' + '00'.repeat(11) + '01'],
  ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1', '20010db8000000000001000000000001'],
  ['1:0:0:1:0:0:0:1', 6, '1:0:0:1::1', '00010000000000010000000000000001'], // the longest run
  ['1:0:0:1:1:0:0:1', 6, '1::1:1:0:0:1', '00010000000000010001000000000001'], // the first on a tie
  ['1:2:3:4:5:6:7::', 6, '1:2:3:4:5:6:7:0', '000100020003000400050006000700' + '00'], // one zero: not ::
  ['::2:3:4:5:6:7:8', 6, '0:2:3:4:5:6:7:8', '0000000200030004000500060007' + '0008'],
  ['fe80::1', 6, 'fe80::1', 'fe80' + '00'.repeat(13) + '01'],
  // IPv4-mapped: IPv6, written with the dotted quad (RFC 5952 §5) however it was given
  ['::ffff:10.0.0.1', 6, '::ffff:10.0.0.1', '00'.repeat(10) + 'ffff0a000001'],
  ['::FFFF:a00:1', 6, '::ffff:10.0.0.1', '00'.repeat(10) + 'ffff0a000001'],
  ['0:0:0:0:0:ffff:10.0.0.1', 6, '::ffff:10.0.0.1', '00'.repeat(10) + 'ffff0a000001'],
  // a trailing dotted quad that is not IPv4-mapped stays in hex
  ['::10.0.0.1', 6, '::a00:1', '00'.repeat(12) + '0a000001'],
  ['64:ff9b::192.0.2.33', 6, '64:ff9b::c000:221', '0064ff9b' + '00'.repeat(8) + 'c0000221'],
  ['1:2:3:4:5:6:1.2.3.4', 6, '1:2:3:4:5:6:102:304', '0001000200030004000500060102' + '0304'],
];

const INVALID: [string, string][] = [
  ['', 'empty'],
  ['1.2.3', 'three parts'],
  ['1.2.3.256', 'a part over 255'],
  ['01.2.3.4', 'a leading zero'],
  ['1.2.3.4.5', 'five parts'],
  ['1::2::3', 'two ::'],
  [':::', 'three colons'],
  ['12345::', 'a group of five digits'],
  ['1:2:3:4:5:6:7:8:9', 'nine groups'],
  ['1:2:3:4:5:6:7:8::', ':: with eight groups'],
  [':1::', 'a lone leading colon'],
  ['1::2:', 'a lone trailing colon'],
  ['1:2:3:4:5:6:7:1.2.3.4', 'nine groups with the dotted quad'],
  ['::ffff:1.2.3', 'a short dotted quad'],
  ['::ffff:01.2.3.4', 'a dotted quad with a leading zero'],
  ['1.2.3.4::', 'a dotted quad first'],
  ['fe80::1%eth0', 'a zone id: an address plus a zone, split it first'],
  ['10.0.0.1%eth0', 'a zone id on IPv4'],
  [' ::1', 'surrounding space'],
  ['10.0.0.0/8', 'a prefix length'],
  ['g::1', 'not hex'],
];

describe('proto/address: the one IP address module', () => {
  it('parses every accepted form to its family and bytes, and writes the canonical text', () => {
    for (const [text, family, canonical, hex] of VALID) {
      const ip = parseIp(text);
      assert.ok(ip, text);
      assert.equal(ip.family, family, text);
      assert.equal(Buffer.from(ip.bytes).toString('hex'), hex, text);
      assert.equal(canonicalIp(text), canonical, text);
      assert.equal(canonicalIp(canonical), canonical, `${canonical} is its own canonical form`);
      assert.equal(isIpv4(text), family === 4, text);
      assert.equal(isIpv6(text), family === 6, text);
    }
  });

  it('refuses everything else', () => {
    for (const [text, why] of INVALID) {
      assert.equal(parseIp(text), undefined, `${JSON.stringify(text)}: ${why}`);
      assert.equal(isIpv4(text) || isIpv6(text), false, `${JSON.stringify(text)}: ${why}`);
      assert.throws(() => canonicalIp(text), `${JSON.stringify(text)}: ${why}`);
    }
  });

  it('says which IPv4 address an IPv4-mapped one maps', () => {
    const cases: [string, string | undefined][] = [
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['::ffff:a00:1', '10.0.0.1'],
      ['::10.0.0.1', undefined],
      ['::1', undefined],
      ['10.0.0.1', undefined],
      ['::fffe:10.0.0.1', undefined],
    ];
    for (const [text, v4] of cases) assert.equal(ipv4OfMapped(text), v4, text);
  });

  it('unmaps what a dual-stack socket reports for an IPv4 peer, and nothing else', () => {
    const cases: [string, string][] = [
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['::FFFF:10.0.0.1', '10.0.0.1'],
      ['::ffff:a00:1', '10.0.0.1'],
      ['10.0.0.1', '10.0.0.1'],
      ['2001:db8::1', '2001:db8::1'],
      ['::ffff:', '::ffff:'],
      ['::ffff:junk-text', '::ffff:junk-text'],
      ['', ''],
    ];
    for (const [text, want] of cases) assert.equal(unmapIpv4(text), want, text);
  });

  it('splits a zone id off, leaving both parts to the caller', () => {
    const cases: [string, { address: string; zone?: string }][] = [
      ['fe80::1%eth0', { address: 'fe80::1', zone: 'eth0' }],
      ['fe80::1%2', { address: 'fe80::1', zone: '2' }],
      ['fe80::1', { address: 'fe80::1' }],
      ['fe80::1%', { address: 'fe80::1', zone: '' }],
    ];
    for (const [text, want] of cases) assert.deepEqual(splitZone(text), want, text);
    assert.equal(canonicalIp(splitZone('FE80:0::1%eth0').address), 'fe80::1');
  });

  it('config/ip.ts reads and writes every form as the module does (surrounding spaces aside)', () => {
    for (const [text, family, canonical, hex] of VALID) {
      const ip = parseIP(text);
      assert.ok(ip, text);
      assert.equal(ip.family, family, text);
      assert.equal(ip.value, BigInt(`0x${hex}`), text);
      assert.equal(formatIP(family, ip.value), canonical, text);
      assert.equal(canonicalIP(` ${text} `), canonical, `${text}: a CR's text may carry spaces`);
    }
    for (const [text, why] of INVALID.filter(([t]) => t.trim() === t))
      assert.equal(parseIP(text), undefined, `${JSON.stringify(text)}: ${why}`);
  });
});
