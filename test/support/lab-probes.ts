// What the end-to-end tests ask of the lab, written once: a Service's VIPs, whether a host gets an
// HTTP 200 from an address, which MACs answer ARP from the client, the client's neighbour entry, why the
// router took a session down.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** Waits until `node` alone answers ARP for `ip` from the client, `rounds` arping rounds in a row. */
export async function answeredAlone(
  lab: Lab,
  ip: string,
  node: string,
  rounds = 3,
  timeoutMs = 60_000,
): Promise<void> {
  const mac = lab.topology.nodes.find((n) => n.name === node)?.mac.toLowerCase();
  let ok = 0;
  await waitFor(
    `${ip} answered by ${node} alone`,
    async () => {
      const macs = [...new Set(await arpingMacs(lab, ip, 2))];
      ok = macs.length === 1 && macs[0] === mac ? ok + 1 : 0;
      return ok >= rounds ? true : undefined;
    },
    timeoutMs,
    50,
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

/**
 * A positive marker that the lab's router took its session with `node` (IPv4) down because it received a
 * NOTIFICATION, read from the router itself: BIRD's log ("<protocol>: Received: …"), FRR's neighbour
 * state (connectionsDropped grew, the last reset says a NOTIFICATION was received), GoBGP's count of
 * NOTIFICATIONs received from the neighbour. Call it before the fault: it returns a check to await
 * after it, which resolves with the router's own words for why the session went down.
 */
export async function routerSawNotification(lab: Lab, node: string): Promise<() => Promise<string>> {
  const n = lab.topology.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node}`);
  const ip = n.ipv4.ip;
  const what = `the router received a NOTIFICATION from ${node}`;
  switch (lab.topology.router.kind) {
    case 'bird': {
      const log = join(lab.topology.logDir, 'router-bird.log');
      const from = readFileSync(log, 'utf8').length;
      const proto = `${node.replace(/-/g, '_')}_v4`;
      return () =>
        waitFor(
          what,
          () =>
            readFileSync(log, 'utf8')
              .slice(from)
              .split('\n')
              .find((l) => l.includes(`${proto}: Received: `))
              ?.replace(/^.*?: Received: /, 'Received: '),
          60_000,
          50,
        );
    }
    case 'frr': {
      interface FrrNeighbor {
        connectionsDropped?: number;
        lastResetDueTo?: string;
        lastNotificationReason?: string;
        lastErrorCodeSubcode?: string;
      }
      const neighbor = async (): Promise<FrrNeighbor> => {
        const r = await lab.exec('router', 'vtysh', ['-c', `show bgp neighbors ${ip} json`]);
        return (JSON.parse(r.stdout || '{}') as Record<string, FrrNeighbor>)[ip] ?? {};
      };
      const before = (await neighbor()).connectionsDropped ?? 0;
      return async () => {
        const nb = await waitFor(
          `FRR dropped the session with ${node}`,
          async () => {
            const x = await neighbor();
            return (x.connectionsDropped ?? 0) > before ? x : undefined;
          },
          60_000,
          50,
        );
        const why = [nb.lastResetDueTo, nb.lastNotificationReason, nb.lastErrorCodeSubcode]
          .filter(Boolean)
          .join('; ');
        if (!/notification received/i.test(nb.lastResetDueTo ?? ''))
          throw new Error(
            `${what}: FRR says the session went down for another reason: ${why || JSON.stringify(nb)}`,
          );
        return why;
      };
    }
    case 'gobgp': {
      const received = async (): Promise<number> => {
        const r = await lab.exec('router', 'gobgp', ['neighbor', ip, '-j']);
        const j = JSON.parse(r.stdout || '{}') as {
          state?: { messages?: { received?: { notification?: number | string } } };
        };
        return Number(j.state?.messages?.received?.notification ?? 0);
      };
      const before = await received();
      return async () => {
        const after = await waitFor(
          what,
          async () => {
            const v = await received();
            return v > before ? v : undefined;
          },
          60_000,
          50,
        );
        return `NOTIFICATIONs received from ${ip}: ${before} -> ${after}`;
      };
    }
    case 'none':
      throw new Error('the lab has no router');
  }
}

/**
 * A positive marker that the speakers of `nodes` have lost the apiserver: each writes "watch error;
 * retrying" for its Services informer twice (the failure and a failed retry) after the mark this
 * sets. Call it before stopping the apiserver (or the path to it); await the check it returns.
 */
export function speakersLostApiserver(lab: Lab, nodes: readonly string[]): () => Promise<void> {
  const logs = nodes.map((n) => {
    const file = join(lab.topology.logDir, `${n}-speaker.log`);
    return { node: n, file, from: readFileSync(file, 'utf8').length };
  });
  const errors = (file: string, from: number): number =>
    readFileSync(file, 'utf8')
      .slice(from)
      .split('\n')
      .filter((l) => l.includes('"msg":"watch error; retrying"') && l.includes('"resource":"services"'))
      .length;
  const t0 = Date.now();
  return async () => {
    await Promise.all(
      logs.map(async (l) => {
        await waitFor(
          `${l.node}'s speaker lost the apiserver (two failed watches of Services)`,
          () => (errors(l.file, l.from) >= 2 ? true : undefined),
          180_000,
          50,
        );
        process.stdout.write(
          `# ${l.node}'s speaker logged losing the apiserver ${Date.now() - t0} ms after the mark\n`,
        );
      }),
    );
  };
}
