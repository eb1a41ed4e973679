// The BGP identifier of a node with no IPv4 address to use for it (pure): derived from the node's name,
// so it is stable across restarts and differs between nodes (two peers seeing one identifier from two
// nodes would take them for one router). As MetalLB's native speaker derives it
// (internal/bgp/native/native.go: hashRouterID): CRC-32 (IEEE) of the name, its four bytes in
// little-endian order, so a node gets the identifier MetalLB gave it. Never 0.0.0.0 (not a valid
// identifier, RFC 6286): then the CRC of the name followed by a NUL byte is used.
import { crc32 } from 'node:zlib';

function littleEndianQuad(v: number): string {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24].join('.');
}

export function derivedRouterId(nodeName: string): string {
  const v = crc32(nodeName);
  return littleEndianQuad(v !== 0 ? v : crc32(`${nodeName}\0`));
}
