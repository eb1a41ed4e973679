// The kernel's neighbour tables, and what else the speaker reads of them besides sockets. For BFD echo: the peer's MAC from the IPv4
// neighbour (ARP) table (/proc/net/arp of the current network namespace) and whether this namespace
// forwards IPv4 (so a peer's echo, addressed to the peer itself, is routed straight back to it). For
// unnumbered BGP: the IPv6 neighbours of one interface, as `ip -j -6 neigh show dev IFACE` prints
// them (iproute2's JSON; the pure reading is proto/ndp-router.ts candidatesFromIpNeigh).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

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

export interface ArpEntry {
  readonly ip: string;
  readonly mac: string;
  readonly device: string;
  /** ATF_COM: the entry is resolved (not incomplete). */
  readonly complete: boolean;
}

/** Parses /proc/net/arp ("IP address  HW type  Flags  HW address  Mask  Device", one header line). */
export function parseProcArp(text: string): ArpEntry[] {
  const out: ArpEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const flags = parseInt(f[2]!, 16);
    out.push({ ip: f[0]!, mac: f[3]!.toLowerCase(), device: f[5]!, complete: (flags & 0x2) !== 0 });
  }
  return out;
}

/** The resolved entry of `ip` (on `device` if given) in this namespace's ARP table, or undefined. */
export function arpLookup(ip: string, device?: string, path = '/proc/net/arp'): ArpEntry | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcArp(text).find(
    (e) =>
      e.ip === ip &&
      e.complete &&
      e.mac !== '00:00:00:00:00:00' &&
      (device === undefined || e.device === device),
  );
}

/** net.ipv4.conf.all.forwarding (= net.ipv4.ip_forward) of this namespace; undefined if unreadable. */
export function ipv4Forwarding(path = '/proc/sys/net/ipv4/conf/all/forwarding'): boolean | undefined {
  try {
    return readFileSync(path, 'utf8').trim() === '1';
  } catch {
    return undefined;
  }
}
