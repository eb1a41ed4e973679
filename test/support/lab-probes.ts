// What the end-to-end tests ask of the lab, written once: a Service's VIPs, whether a host gets an
// HTTP 200 from an address, which MACs answer ARP from the client, the client's neighbour entry.
import type { Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/process.js';

/** The Service's VIPs (`ns/name`), once it has at least `count`. */
export async function vipsOf(lab: Lab, ref: string, count = 1, timeoutMs = 30_000): Promise<string[]> {
  return waitFor(
    `${ref} gets ${count} VIP(s)`,
    async () => {
      const s = await lab.service(ref);
      const ips = (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
      return ips.length >= count ? ips : undefined;
    },
    timeoutMs,
    200,
  );
}

/** An HTTP URL for an IPv4 or IPv6 address. */
export function httpUrl(ip: string, path = '/'): string {
  return ip.includes(':') ? `http://[${ip}]${path}` : `http://${ip}${path}`;
}

/** One HTTP GET of `http://ip/` from `host`: whether it got 200, and what happened when it did not. */
export async function httpGet(
  lab: Lab,
  host: string,
  ip: string,
  timeoutS = 2,
): Promise<{ ok: boolean; detail: string }> {
  const r = await lab.exec(host, 'curl', [
    '-sS',
    '-g',
    '-m',
    String(timeoutS),
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    httpUrl(ip),
  ]);
  const code = r.stdout.trim();
  return code === '200'
    ? { ok: true, detail: 'HTTP 200' }
    : { ok: false, detail: `HTTP ${code || '-'}, curl exit ${r.code}: ${r.stderr.trim() || '(no message)'}` };
}

/** Whether `host` gets HTTP 200 from `http://ip/` within `timeoutS` seconds. */
export async function httpOk(lab: Lab, host: string, ip: string, timeoutS = 2): Promise<boolean> {
  return (await httpGet(lab, host, ip, timeoutS)).ok;
}

/** MACs (lower case) answering `arping -c count` for `ip` from the client (Habets' and iputils' formats). */
export async function arpingMacs(lab: Lab, ip: string, count = 3, waitS = 0.1): Promise<string[]> {
  const r = await lab.exec(
    'client',
    'arping',
    ['-c', String(count), '-W', String(waitS), '-I', 'eth0', ip],
    (count + 5) * 1000,
  );
  return [...r.stdout.matchAll(/bytes from ([0-9A-Fa-f:]{17}) \(|\[([0-9A-Fa-f:]{17})\]/g)].map((m) =>
    (m[1] ?? m[2] ?? '').toLowerCase(),
  );
}

/** The lab node a MAC belongs to (or the MAC itself when it is no node's). */
export function nodeOfMac(lab: Lab, mac: string): string {
  return lab.topology.nodes.find((n) => n.mac.toLowerCase() === mac.toLowerCase())?.name ?? mac;
}

/** The MAC in the client's neighbour entry for `ip`, if any. */
export async function neighMac(lab: Lab, ip: string): Promise<string | undefined> {
  const r = await lab.exec('client', 'ip', [...(ip.includes(':') ? ['-6'] : []), 'neigh', 'show', ip]);
  return /lladdr ([0-9a-f:]{17})/.exec(r.stdout)?.[1];
}
