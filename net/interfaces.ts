// Interface discovery for the layer 2 speaker: index, MAC, flags, addresses and master (bond/bridge)
// from /sys/class/net and os.networkInterfaces() (in a network namespace entered with `ip netns exec`,
// /sys is that namespace's). Which interfaces may answer ARP/NDP is a pure function (usableInterfaces)
// with MetalLB's default exclusions.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { basename, join } from 'node:path';

export const DEFAULT_INTERFACE_EXCLUDES: readonly string[] = [
  '^docker.*',
  '^cbr.*',
  '^dummy.*',
  '^virbr.*',
  '^lxcbr.*',
  '^veth.*',
  '^lo$',
  '^cali.*',
  '^tunl.*',
  '^flannel.*',
  '^kube-ipvs.*',
  '^cni.*',
  '^nodelocaldns.*',
  '^lxc.*',
];

const IFF_UP = 0x1;
const IFF_BROADCAST = 0x2;
const IFF_NOARP = 0x80;

export interface InterfaceInfo {
  name: string;
  index: number;
  mac: string;
  up: boolean;
  broadcast: boolean;
  noarp: boolean;
  /** Name of the bond/bridge this interface is enslaved to, if any. */
  master?: string;
  ipv4: string[];
  ipv6: string[];
  /** IPv6 link-local addresses (fe80::/10) without zone. */
  linkLocal6: string[];
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Reads the interfaces of the current network namespace. Never throws: an unreadable entry is skipped. */
export function scanInterfaces(sysRoot = '/sys/class/net'): InterfaceInfo[] {
  let names: string[];
  try {
    names = readdirSync(sysRoot);
  } catch {
    return [];
  }
  const addrs = networkInterfaces();
  const out: InterfaceInfo[] = [];
  for (const name of names.sort()) {
    const dir = join(sysRoot, name);
    const index = Number(readTrim(join(dir, 'ifindex')));
    const flags = parseInt(readTrim(join(dir, 'flags')) ?? '0', 16);
    const mac = (readTrim(join(dir, 'address')) ?? '').toLowerCase();
    if (!Number.isInteger(index) || index <= 0) continue;
    let master: string | undefined;
    try {
      master = basename(readlinkSync(join(dir, 'master')));
    } catch {
      master = undefined;
    }
    const list = addrs[name] ?? [];
    const ipv4 = list.filter((a) => a.family === 'IPv4').map((a) => a.address);
    const v6 = list.filter((a) => a.family === 'IPv6').map((a) => a.address.split('%')[0] ?? a.address);
    out.push({
      name,
      index,
      mac,
      up: (flags & IFF_UP) !== 0,
      broadcast: (flags & IFF_BROADCAST) !== 0,
      noarp: (flags & IFF_NOARP) !== 0,
      ...(master ? { master } : {}),
      ipv4,
      ipv6: v6.filter((a) => !isLinkLocal6(a)),
      linkLocal6: v6.filter(isLinkLocal6),
    });
  }
  return out;
}

function isLinkLocal6(a: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(a);
}

export class InterfacePatternError extends Error {
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(`interface pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'InterfacePatternError';
  }
}

/** Compiles exclusion patterns (regular expressions); throws InterfacePatternError on a bad one. */
export function compileExcludes(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    try {
      return new RegExp(p);
    } catch (err) {
      throw new InterfacePatternError(p, (err as Error).message);
    }
  });
}

export interface UsableOptions {
  excludes: readonly RegExp[];
}

/**
 * The interfaces that may answer ARP/NDP (MetalLB's rules): up, broadcast-capable, ARP enabled, not
 * enslaved to a bond/bridge, with a MAC, and not matching an exclusion.
 */
export function usableInterfaces(all: readonly InterfaceInfo[], opts: UsableOptions): InterfaceInfo[] {
  return all.filter(
    (i) =>
      i.up &&
      i.broadcast &&
      !i.noarp &&
      i.master === undefined &&
      /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(i.mac) &&
      i.mac !== '00:00:00:00:00:00' &&
      !opts.excludes.some((re) => re.test(i.name)),
  );
}

/** A stable fingerprint of what matters for the responders (to detect changes on rescan). */
export function interfaceFingerprint(i: InterfaceInfo): string {
  return [i.name, i.index, i.mac, i.linkLocal6.length > 0 ? 'll' : '-'].join('|');
}
