// Layer 2 handover on the lab (3 nodes): the owner of a VIP told to stop serving — its speaker SIGTERMed,
// or its Node labelled node.kubernetes.io/exclude-from-external-load-balancers — hands the VIP over
// before it lets go (speaker/layer2/handover.ts). The client ARPs for the VIP continuously (arping every
// 20 ms) and captures ARP on its interface; from the capture:
//  - the next owner's gratuitous ARP comes before the old owner's last reply (no gap: the old owner
//    answers until after the next owner announced);
//  - after the next owner's first gratuitous ARP, no reply carries the old owner's MAC;
//  - every reply carries the old or the next owner's MAC, and once one carried the next owner's MAC none
//    carries the old owner's again (never two owners with different MACs);
//  - the old owner answered with the next owner's MAC (ARP sender = next, Ethernet source = old).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { electionOrder, electOwner } from '../../speaker/layer2/election.js';
import { EXCLUDE_LB_LABEL } from '../../speaker/eligibility.js';
import { Sniffer } from '../support/sniff.js';
import { metricValue } from '../support/chaos.js';
import * as probes from '../support/lab-probes.js';

const NODES = ['node-1', 'node-2', 'node-3'];

/** One ARP frame of the client's capture (tcpdump -e -n -tt). */
interface ArpLine {
  t: number;
  src: string;
  /** 'reply' for answers (sender = VIP), 'garp' for gratuitous announcements of the VIP. */
  kind: 'reply' | 'garp' | 'other';
  /** The MAC the frame says the VIP is at (ARP sender hardware address). */
  isAt: string | undefined;
}

function parseArp(lines: readonly string[], vip: string): ArpLine[] {
  const out: ArpLine[] = [];
  const esc = vip.replace(/\./g, '\\.');
  const reply = new RegExp(`Reply ${esc} is-at ([0-9a-f:]{17})`);
  const garpReq = new RegExp(`Request who-has ${esc}(?: \\([0-9a-f:]{17}\\))? tell ${esc},`);
  for (const l of lines) {
    const m = /^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17})/.exec(l);
    if (!m) continue;
    const t = Number(m[1]) * 1000;
    const src = m[2] as string;
    const dst = m[3] as string;
    const r = reply.exec(l);
    if (r && dst === 'ff:ff:ff:ff:ff:ff') out.push({ t, src, kind: 'garp', isAt: r[1] });
    else if (r) out.push({ t, src, kind: 'reply', isAt: r[1] });
    else if (garpReq.test(l)) out.push({ t, src, kind: 'garp', isAt: src });
    else out.push({ t, src, kind: 'other', isAt: undefined });
  }
  return out;
}

describe('layer 2 handover on the lab (3 nodes)', () => {
  let lab: Lab;
  let vip = '';
  let owner = '';
  let next = '';
  const mac = (node: string): string =>
    (lab.topology.nodes.find((n) => n.name === node)?.mac ?? '').toLowerCase();
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'none' });
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'l2', name: 'web' });
    await lab.addPod('l2/web', 'node-1');
    await lab.addPod('l2/web', 'node-2');
    vip = (await probes.vipsOf(lab, 'l2/web'))[0] as string;
    owner = electOwner(NODES, vip) as string;
    next = electionOrder(
      NODES.filter((n) => n !== owner),
      vip,
    )[0] as string;
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await lab?.stop();
  });

  /** Waits until exactly `node` answers ARP for the VIP, 3 arping rounds in a row. */
  function answeredBy(node: string): Promise<void> {
    return probes.answeredAlone(lab, vip, node);
  }

  /** The owner knows the next owner's MACs (membership): the next one verifies the owner (Verified True). */
  async function verified(): Promise<void> {
    await waitFor(
      'Verified True',
      async () => {
        const svc = await lab.client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
          '/api/v1/namespaces/l2/services/web',
        );
        return svc.status?.conditions?.some((c) => c.type === 'bollard.io/Verified' && c.status === 'True')
          ? true
          : undefined;
      },
      60_000,
      100,
    );
  }

  /**
   * Captures ARP on the client while it ARPs for the VIP every 20 ms, runs `act` (the owner told to
   * stop serving), and returns the capture once the next owner announced the VIP, the old owner
   * answered after that, and the next owner answered 10 requests.
   */
  async function handover(label: string, act: () => Promise<void>): Promise<ArpLine[]> {
    const client = lab.host('client');
    const log = join(lab.topology.logDir, `handover-${label}.tcpdump`);
    const sniff = await Sniffer.start(client, 'eth0', ['-e', '-tt', 'arp'], log);
    const arping: ManagedProcess = client.spawn('arping', ['-I', 'eth0', '-W', '0.02', '-c', '100000', vip], {
      name: `client/arping-${label}`,
      logFile: join(lab.topology.logDir, `handover-${label}-arping.log`),
    });
    try {
      const lines = (): ArpLine[] => parseArp(sniff.lines(/ARP/), vip);
      const esc = mac(owner);
      await sniff.waitLines(`${label}: the owner answers`, /ARP/, () =>
        lines().some((l) => l.kind === 'reply' && l.isAt === esc),
      );
      const t0 = Date.now();
      await act();
      const nm = mac(next);
      await sniff.waitLines(
        `${label}: the next owner announced, the old one answered after it, the next one answered 10 times`,
        /ARP/,
        () => {
          const l = lines();
          const g = l.findIndex((x) => x.kind === 'garp' && x.src === nm);
          if (g < 0) return false;
          const after = l.slice(g + 1);
          return (
            after.some((x) => x.kind === 'reply' && x.src === esc) &&
            after.filter((x) => x.kind === 'reply' && x.src === nm).length >= 10
          );
        },
      );
      process.stdout.write(`# ${label}: handover seen on the wire ${Date.now() - t0} ms after the action\n`);
      return lines();
    } finally {
      await arping.stop(2000).catch(() => undefined);
      await sniff.stop();
    }
  }

  /** The order and contents the brief asks of a capture. */
  function assertHandover(label: string, l: readonly ArpLine[]): void {
    const om = mac(owner);
    const nm = mac(next);
    const replies = l.filter((x) => x.kind === 'reply');
    const firstGarp = l.findIndex((x) => x.kind === 'garp' && x.src === nm);
    const lastOld = l.map((x) => x.kind === 'reply' && x.src === om).lastIndexOf(true);
    const dump = (): string =>
      l.map((x) => `${x.t.toFixed(1)} ${x.src} ${x.kind} ${x.isAt ?? ''}`).join('\n');
    assert.ok(firstGarp >= 0, `${label}: the next owner announced\n${dump()}`);
    assert.ok(
      firstGarp < lastOld,
      `${label}: the next owner's GARP before the old owner's last reply\n${dump()}`,
    );
    assert.ok(
      l.slice(firstGarp).every((x) => x.kind !== 'reply' || x.isAt !== om),
      `${label}: no reply with the old owner's MAC after the next owner's GARP\n${dump()}`,
    );
    for (const r of replies)
      assert.ok(
        r.isAt === om || r.isAt === nm,
        `${label}: a reply with a stranger's MAC ${r.isAt}\n${dump()}`,
      );
    const firstNew = replies.findIndex((r) => r.isAt === nm);
    assert.ok(
      replies.slice(firstNew).every((r) => r.isAt === nm),
      `${label}: once a reply said ${nm}, none said ${om}\n${dump()}`,
    );
    const proxied = replies.filter((r) => r.src === om && r.isAt === nm);
    assert.ok(proxied.length >= 1, `${label}: the old owner answered with the next owner's MAC\n${dump()}`);
    // figures (not asserted): the largest gap between two replies, the overlap after the GARP
    const gaps = replies.slice(1).map((r, i) => r.t - (replies[i] as ArpLine).t);
    const g = l[firstGarp] as ArpLine;
    const overlap = (l[lastOld] as ArpLine).t - g.t;
    process.stdout.write(
      `# ${label}: ${replies.length} replies, ${proxied.length} from ${owner} with ${next}'s MAC; ` +
        `longest gap between replies ${Math.max(...gaps).toFixed(1)} ms (arping every 20 ms); ` +
        `${owner} answered ${overlap.toFixed(1)} ms past ${next}'s first GARP\n`,
    );
  }

  const handoverLog = (node: string): string[] => {
    try {
      return readFileSync(join(lab.topology.logDir, `${node}-speaker.log`), 'utf8')
        .split('\n')
        .filter((x) => /handed over|leaving|layer 2 shutdown/.test(x));
    } catch {
      return [];
    }
  };

  it("SIGTERM of the owner's speaker: the next owner announces and answers before the old one stops; one MAC at a time", async () => {
    await answeredBy(owner);
    await verified();
    const caught = await handover('sigterm', () => lab.stopProcess(owner, 'speaker'));
    assertHandover('sigterm', caught);
    const log = handoverLog(owner);
    process.stdout.write(`# ${owner} speaker log:\n${log.map((x) => `#   ${x}`).join('\n')}\n`);
    assert.ok(
      log.some((x) => x.includes('"to":"' + next + '"') && x.includes('"end":"announced"')),
      log.join('\n'),
    );
    await lab.startProcess(owner, 'speaker');
    await answeredBy(owner);
  });

  it('the owner Node labelled exclude-from-external-load-balancers: the same handover; the label removed, it returns', async () => {
    await answeredBy(owner);
    await verified();
    const path = `/api/v1/nodes/${owner}`;
    cleanups.push(() => lab.client.patch(path, { metadata: { labels: { [EXCLUDE_LB_LABEL]: null } } }));
    const caught = await handover('label', async () => {
      await lab.client.patch(path, { metadata: { labels: { [EXCLUDE_LB_LABEL]: '' } } });
    });
    assertHandover('label', caught);
    // (the handover ends, and is counted, 250 ms after the next owner's announcement: await it)
    const ip = lab.topology.nodes.find((n) => n.name === owner)?.ipv4.ip;
    await waitFor(
      'bollard_l2_handovers_total{end="announced"} >= 1',
      async () => {
        const metrics = (await lab.exec(owner, 'curl', ['-sf', '-m', '2', `http://${ip}:7472/metrics`]))
          .stdout;
        return (metricValue(metrics, 'bollard_l2_handovers_total', { end: 'announced' }) ?? 0) >= 1
          ? true
          : undefined;
      },
      30_000,
      100,
    );
    await lab.client.patch(path, { metadata: { labels: { [EXCLUDE_LB_LABEL]: null } } });
    await answeredBy(owner);
  });
});
