// The kernel's IPv6 neighbour table of one interface, as `ip -j -6 neigh show dev IFACE` prints it
// (iproute2's JSON; the pure reading is proto/ndp-router.ts candidatesFromIpNeigh).
import { execFile } from 'node:child_process';

export class NeighbourTableError extends Error {
  constructor(
    readonly ifname: string,
    readonly reason: string,
  ) {
    super(`${ifname}: cannot read the IPv6 neighbour table: ${reason}`);
    this.name = 'NeighbourTableError';
  }
}

/** The JSON text of the interface's IPv6 neighbours; rejects with NeighbourTableError. */
export function readIpv6Neighbours(ifname: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['-j', '-6', 'neigh', 'show', 'dev', ifname],
      { timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) reject(new NeighbourTableError(ifname, stderr.trim() || err.message));
        else resolve(stdout.trim() === '' ? '[]' : stdout);
      },
    );
  });
}
