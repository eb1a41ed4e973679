// The router ID of a node without an IPv4 address: derived from its name, as MetalLB's native speaker
// does (internal/bgp/native/native.go: hashRouterID: crc32.ChecksumIEEE, written little-endian).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { derivedRouterId } from '../../../../speaker/bgp/router-id.js';

describe('derived router ID', () => {
  it('node:zlib crc32 is CRC-32/IEEE, as Go crc32.ChecksumIEEE', () => {
    assert.equal(zlibCrc32('123456789'), 0xcbf43926);
  });
  it("is the CRC's bytes, least significant first, as MetalLB writes them", () => {
    const v = zlibCrc32('worker-7');
    assert.equal(
      derivedRouterId('worker-7'),
      [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24].join('.'),
    );
  });
  it('is stable and differs between nodes (no one fixed ID shared by every IPv6-only node)', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => derivedRouterId(`node-${i}`));
    assert.deepEqual(
      ids,
      Array.from({ length: 1000 }, (_, i) => derivedRouterId(`node-${i}`)),
    );
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(!ids.includes('0.0.0.0'));
  });
});
