// Flow handover on the process lab (speaker/flows, docs/layer2.md "Flow handover"): a connection
// opened through the owner of a layer 2 VIP survives the VIP's move to another node. The client sends
// the second half of its request after its neighbour entry switched to the new owner's MAC; the new owner's conntrack does not know the connection, so without the handover its kube-proxy
// would answer with a reset. With it, the new owner hands the packet to the old owner (TEE), whose
// conntrack still DNATs it, and the client gets its answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { EXCLUDE_LB_LABEL } from '../../speaker/eligibility.js';
import { electOwner } from '../../speaker/layer2/election.js';
import * as probes from '../support/lab-probes.js';

/**
 * Runs in the client: one connection through the VIP and the first half of a request (the lab's pod
 * answers one request per connection); after the test writes the fifo, the rest of the request on the
 * same connection. Prints the status line; exits 1 on a reset or a close without an answer.
 */
const CLIENT = `
const net = require('node:net'); const fs = require('node:fs');
const [vip, fifo, firstFile] = process.argv.slice(1);
let buf = '';
const s = net.connect(80, vip, () => {
  s.write('GET / HTTP/1.1\\r\\nHost: web\\r\\n');
  fs.writeFileSync(firstFile, 'ok');
  fs.readFileSync(fifo);
  s.write('Connection: close\\r\\n\\r\\n');
});
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
s.on('data', (d) => { buf += d; });
s.on('close', () => {
  const m = /HTTP\\/1\\.1 \\d+/.exec(buf);
  console.log(m ? 'response: ' + m[0] : 'closed without an answer');
  process.exit(m ? 0 : 1);
});
`;

describe('flow handover: a connection survives its layer 2 VIP moving to another node', () => {
  let lab: Lab;
  let vip = '';
  let owner = '';
  const dir = `/tmp/bollard-flows-${process.pid}`;

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'none' });
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'l2', name: 'web' });
    await lab.addPod('l2/web', 'node-1');
    await lab.addPod('l2/web', 'node-2');
    await lab.addPod('l2/web', 'node-3');
    [vip = ''] = await probes.vipsOf(lab, 'l2/web');
    // The election settled first: at start-up a speaker that is up before the others announces the VIP
    // until the elected owner's speaker joins, and a connection opened then goes through the wrong node.
    // So: the elected owner alone answers ARP (3 rounds in a row), the client reaches the pods, and its
    // neighbour entry names the owner.
    owner = electOwner(
      lab.topology.nodes.map((n) => n.name),
      vip,
    ) as string;
    await probes.answeredAlone(lab, vip, owner);
    const ownerMac = lab.topology.nodes.find((n) => n.name === owner)?.mac.toLowerCase();
    await waitFor(
      `curl ${vip}, the client's neighbour entry on ${owner}`,
      async () => {
        if (!(await probes.httpOk(lab, 'client', vip))) return undefined;
        return (await probes.neighMac(lab, vip)) === ownerMac ? true : undefined;
      },
      60_000,
      100,
    );
    execFileSync('mkdir', ['-p', dir]);
  });
  after(async () => {
    await lab?.client
      .patch(`/api/v1/nodes/${owner}`, { metadata: { labels: { [EXCLUDE_LB_LABEL]: null } } })
      .catch(() => undefined);
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the new owner hands the stray to the old one, which answers on the same connection', async () => {
    const fifo = join(dir, 'go');
    const first = join(dir, 'first');
    execFileSync('mkfifo', [fifo]);
    const client = lab.exec('client', process.execPath, ['-e', CLIENT, vip, fifo, first], 120_000);
    let released = false;
    try {
      await waitFor(
        'the connection open',
        () => Promise.resolve(existsSync(first) ? true : undefined),
        30_000,
        50,
      );
      // the move: the owner is excluded, another node wins the election and sends gratuitous ARP
      await lab.client.patch(`/api/v1/nodes/${owner}`, { metadata: { labels: { [EXCLUDE_LB_LABEL]: '' } } });
      const byMac = new Map(lab.topology.nodes.map((n) => [n.mac.toLowerCase(), n.name]));
      const next = await waitFor(
        `${vip} moved away from ${owner} in the client's neighbour table`,
        async () => {
          const n = byMac.get((await probes.neighMac(lab, vip)) ?? '');
          return n && n !== owner ? n : undefined;
        },
        30_000,
        50,
      );
      const tee = (): Promise<number> => teePackets(lab, next);
      const before = await tee();
      execFileSync('sh', ['-c', `echo go > ${fifo}`]);
      released = true;
      const r = await client;
      process.stdout.write(`# moved ${owner} -> ${next}: ${r.stdout.trim().replace(/\n/g, '; ')}\n`);
      if (r.code !== 0) process.stdout.write(await diagnose(lab, vip));
      assert.equal(r.code, 0, `the request finished on the same connection: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /response: HTTP\/1\.1 200/);
      // the answer came through the handover: the new owner's TEE rule counted the stray
      assert.ok((await tee()) > before, `${next} copied the stray to ${owner}`);
    } finally {
      if (!released) execFileSync('sh', ['-c', `echo go > ${fifo} &`]);
      await client.catch(() => undefined);
    }
  });
});

/**
 * What a failure needs to be explained (a hang in CI once, not reproduced here): each node's handover
 * rules with their counters and its conntrack entries for the VIP, the client's neighbour entry, and
 * the speakers' log lines about ownership and flow handover.
 */
async function diagnose(lab: Lab, vip: string): Promise<string> {
  const out: string[] = [
    `# client neighbour: ${(await lab.exec('client', 'ip', ['neigh', 'show', vip])).stdout.trim()}`,
  ];
  const wanted = /flow handover rules|leaving|announcing|withdrawn|handover ended|flow handover on/;
  for (const n of lab.topology.nodes) {
    for (const r of await flowRules(lab, n.name)) out.push(`# ${n.name} ${r.bin}: ${r.line}`);
    const ct = await lab.exec(n.name, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', vip]);
    for (const l of ct.stdout.split('\n').filter(Boolean)) out.push(`# ${n.name} conntrack: ${l}`);
    let log = '';
    try {
      log = readFileSync(join(lab.topology.logDir, `${n.name}-speaker.log`), 'utf8');
    } catch {
      /* no log */
    }
    for (const l of log.split('\n').filter((x) => wanted.test(x))) out.push(`# ${n.name} speaker: ${l}`);
  }
  return out.join('\n') + '\n';
}

/** The rules of the node's BOLLARD-FLOWS chain with their counters (whichever backend holds it). */
async function flowRules(lab: Lab, node: string): Promise<{ bin: string; line: string }[]> {
  const out: { bin: string; line: string }[] = [];
  for (const bin of ['iptables-nft', 'iptables-legacy']) {
    const r = await lab.exec(node, bin, ['-w', '-t', 'mangle', '-L', 'BOLLARD-FLOWS', '-v', '-n', '-x']);
    for (const line of r.stdout.split('\n'))
      if (/\b(TEE|DROP|DSCP)\b/.test(line)) out.push({ bin, line: line.trim() });
  }
  return out;
}

/** Packets the node's TEE rules copied (its BOLLARD-FLOWS chain, the backend kube-proxy uses). */
async function teePackets(lab: Lab, node: string): Promise<number> {
  let total = 0;
  for (const { line } of await flowRules(lab, node))
    if (/\bTEE\b/.test(line)) total += Number(line.split(/\s+/)[0] ?? 0) || 0;
  return total;
}
