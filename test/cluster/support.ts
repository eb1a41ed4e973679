// What the cluster tier asks of a lab of real nodes: who announces a VIP, waiting for it to move while
// the client's traffic comes back, Bollard's pods and the leader's Lease, every Service's VIPs.
import type { Lab } from '../../lab/lab.js';
import { bollardSelector } from '../../lab/lab.js';
import { METALLB_NAMESPACE } from '../../lab/deploy.js';
import { waitFor } from '../../lab/process.js';
import { listPods, type PodSummary } from '../../lab/workloads.js';
import { httpGet } from '../support/lab-probes.js';
import { Sniffer } from '../support/sniff.js';

/** The nodes announcing a VIP now (client's neighbour entry for layer 2, router's next hops for BGP). */
export async function announcers(lab: Lab, vip: string): Promise<string[]> {
  return (await lab.announcers(vip)).nodes;
}

/** Resolves once the VIP is announced by exactly `nodes` (sorted) — BGP ECMP or the one layer 2 owner. */
export async function awaitAnnouncers(
  lab: Lab,
  vip: string,
  nodes: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  const want = [...nodes].sort().join(',');
  await waitFor(
    `${vip} announced by ${want}`,
    async () => ((await announcers(lab, vip)).sort().join(',') === want ? true : undefined),
    timeoutMs,
    200,
  );
}

/**
 * Resolves once a layer 2 VIP's owner is a node other than `from` and `host` gets HTTP 200 from it:
 * the failover a client sees. Returns the new owner.
 */
export async function awaitMovedAndServing(
  lab: Lab,
  host: string,
  vip: string,
  from: string,
): Promise<string> {
  let last = '';
  return waitFor(
    `${vip} moves off ${from} and answers ${host}`,
    async () => {
      const owner = (await announcers(lab, vip))[0];
      if (!owner || owner === from) return undefined;
      const r = await httpGet(lab, host, vip);
      last = r.detail;
      return r.ok ? owner : undefined;
    },
    60_000,
    200,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last request: ${last}`);
  });
}

/**
 * Watches the client's wire for a layer 2 VIP's announcements (gratuitous ARP, or the answers to the
 * client's own requests) from then on. `awaitAnnouncedBy` resolves with the first node other than
 * `from` whose MAC announced the VIP: the failover as the LAN saw it, even if the VIP moves back to
 * `from` right after (a DaemonSet's new speaker on the same node takes its Services back).
 */
export async function watchArp(
  lab: Lab,
  vip: string,
): Promise<{ awaitAnnouncedBy(notFrom: string): Promise<string>; stop(): Promise<void> }> {
  const byMac = new Map(lab.topology.nodes.map((n) => [n.mac.toLowerCase(), n.name]));
  const sniffer = await Sniffer.start(
    lab.host('client'),
    'eth0',
    ['-e', 'arp'],
    `${lab.logDir}/client-arp-${vip}-${Date.now()}.log`,
  );
  const esc = vip.replace(/\./g, '\\.');
  const said = new RegExp(`(Request who-has ${esc} tell ${esc}|Reply ${esc} is-at)`);
  const senders = (lines: string[]): string[] =>
    lines.map((l) => byMac.get(/([0-9a-f]{2}(?::[0-9a-f]{2}){5}) >/.exec(l)?.[1] ?? '') ?? '');
  return {
    async awaitAnnouncedBy(notFrom: string): Promise<string> {
      const lines = await sniffer.waitLines(`${vip} announced by a node other than ${notFrom}`, said, (ls) =>
        senders(ls).some((n) => n !== '' && n !== notFrom),
      );
      return senders(lines).find((n) => n !== '' && n !== notFrom) as string;
    },
    stop: () => sniffer.stop(),
  };
}

/** Resolves once `host` gets HTTP 200 from the VIP. */
export async function awaitServing(lab: Lab, host: string, vip: string, timeoutMs = 60_000): Promise<void> {
  let last = '';
  await waitFor(
    `${vip} answers ${host}`,
    async () => {
      const r = await httpGet(lab, host, vip);
      last = r.detail;
      return r.ok ? true : undefined;
    },
    timeoutMs,
    200,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last request: ${last}`);
  });
}

export function bollardPods(lab: Lab, component: 'speaker' | 'controller'): Promise<PodSummary[]> {
  return listPods(lab.client, METALLB_NAMESPACE, bollardSelector(component)).then((ps) =>
    ps.filter((p) => !p.deleting),
  );
}

/** Resolves once every node runs a Ready speaker pod and `controllers` controller pods are Ready. */
export async function awaitBollardReady(lab: Lab, controllers = 2, timeoutMs = 120_000): Promise<void> {
  const nodes = lab.topology.nodes.map((n) => n.name);
  await waitFor(
    'every speaker and controller pod Ready',
    async () => {
      const [speakers, ctrls] = await Promise.all([
        bollardPods(lab, 'speaker'),
        bollardPods(lab, 'controller'),
      ]);
      const ready = new Set(speakers.filter((p) => p.ready).map((p) => p.node));
      return nodes.every((n) => ready.has(n)) && ctrls.filter((p) => p.ready).length === controllers
        ? true
        : undefined;
    },
    timeoutMs,
    250,
  );
}

/** The controller pod holding the leader Lease (its identity is `<pod name>-<pid>`). */
export async function leaderPod(lab: Lab): Promise<string | undefined> {
  const lease = await lab.client.get<{ spec?: { holderIdentity?: string } }>(
    `/apis/coordination.k8s.io/v1/namespaces/${METALLB_NAMESPACE}/leases/metallb-controller`,
  );
  const holder = lease.spec?.holderIdentity;
  return holder ? holder.replace(/-\d+$/, '') : undefined;
}

/** Every LoadBalancer Service's VIPs, `ns/name` → sorted list. */
export async function allVips(lab: Lab): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const s of await lab.services())
    if (s.type === 'LoadBalancer') out[`${s.namespace}/${s.name}`] = [...s.vips].sort();
  return out;
}
