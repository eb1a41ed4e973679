// What the BFD echo function needs from the kernel besides sockets: the peer's MAC from the IPv4
// neighbour (ARP) table (/proc/net/arp of the current network namespace) and whether this namespace
// forwards IPv4 (so a peer's echo, addressed to the peer itself, is routed straight back to it).
import { readFileSync } from 'node:fs';

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
