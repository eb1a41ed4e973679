// Faults on the lab (3 nodes, BIRD, the real controller and a speaker per node with their
// ServiceAccount tokens), seen from the hosts a user would look from:
//  - the apiserver stopped until every speaker has seen it gone and each VIP was probed 5 times
//    meanwhile: the L2 VIP (from `client`) and the BGP VIP (from `external`, through the router)
//    answer every probe throughout;
//  - the L2 owner's speaker SIGTERMed, then SIGKILLed: the VIP moves to the next node and returns;
//  - the owner partitioned from the other nodes (membership UDP dropped with iptables inside the
//    node namespaces) but not from the client: two owners while it lasts (proof the partition bit),
//    exactly one after it heals (10 arpings from the client, each answered by the owner alone, and a
//    bridge capture of them);
//  - forged membership packets (wrong key) sent from a lab host: dropped and counted in the metric;
//  - ARP + NDP request floods and malformed frames from the client: the owner keeps answering a real
//    arping with the right MAC, and its RSS stays bounded;
//  - a BGPPeer whose password Secret is missing: a clear error, recovery when it appears;
//  - the membership key and the BGP password appear in no lab log, no Event and no /metrics page;
//    a speaker whose metrics are bound to 127.0.0.1 is not reachable from another host.
// Figures (times) are printed; the long version with 60 s outages and measured targets is
// `npm run bench -- chaos`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLab, type Lab } from '../support/lab.js';
import { delay, waitFor, type ManagedProcess } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import { startSpeaker } from '../../lab/components.js';
import { SPEAKER_METRICS_PORT } from '../../lab/lab.js';
import { electOwner } from '../../speaker/layer2/election.js';
import { membershipPartition, metricValue } from '../support/chaos.js';
import * as probes from '../support/lab-probes.js';
import type { FloodArgs, FloodResult } from '../support/frame-flood.js';

const NODES = ['node-1', 'node-2', 'node-3'];
/** Probes of each VIP while the apiserver is away (after every speaker has seen it go). */
const OUTAGE_PROBES = 5;
const BGP_PASSWORD = 'chaos-Bgp-pw-7f3a91c2';

describe('chaos on the lab (3 nodes, BIRD)', { timeout: 900_000 }, () => {
  let lab: Lab;
  let l2vip = '';
  let l2vip6 = '';
  let bgpvip = '';
  let owner = '';
  const extra: ManagedProcess[] = [];

  const mac = (node: string): string =>
    (lab.topology.nodes.find((n) => n.name === node)?.mac ?? '').toLowerCase();
  const nodeIp = (node: string): string => lab.topology.nodes.find((n) => n.name === node)?.ipv4.ip ?? '';

  async function vipsOf(ref: string): Promise<string[]> {
    return waitFor(
      `${ref} VIPs`,
      async () => {
        const s = await lab.service(ref);
        const ips = (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
        return ips.length > 0 ? ips : undefined;
      },
      60_000,
      200,
    );
  }

  const curl = (host: string, ip: string, timeoutS = 2): Promise<boolean> =>
    probes.httpOk(lab, host, ip, timeoutS);

  /** MACs answering `arping` from the client. */
  async function arpingMacs(ip: string, count = 2): Promise<string[]> {
    const r = await lab.exec('client', 'arping', ['-c', String(count), '-I', 'eth0', ip], (count + 5) * 1000);
    return [
      ...new Set(
        [...r.stdout.matchAll(/bytes from ([0-9A-Fa-f:]{17}) \(|\[([0-9A-Fa-f:]{17})\]/g)].map((m) =>
          (m[1] ?? m[2] ?? '').toLowerCase(),
        ),
      ),
    ].sort();
  }

  async function answeredBy(ip: string, nodes: string[], timeoutMs = 30_000): Promise<number> {
    const want = nodes.map(mac).sort().join(',');
    const t0 = Date.now();
    await waitFor(
      `${ip} answered by ${nodes.join('+')}`,
      async () => ((await arpingMacs(ip)).join(',') === want ? true : undefined),
      timeoutMs,
      100,
    );
    return Date.now() - t0;
  }

  async function speakerMetrics(node: string): Promise<string> {
    const r = await lab.exec(node, 'curl', [
      '-sf',
      '-m',
      '3',
      `http://${nodeIp(node)}:${SPEAKER_METRICS_PORT}/metrics`,
    ]);
    assert.equal(r.code, 0, `metrics of ${node}: ${r.stderr}`);
    return r.stdout;
  }

  function pidOf(host: string, name: string): number {
    const p = lab.procs.list().find((x) => x.host === host && x.name === name);
    assert.ok(p?.pid, `${host}/${name} has a pid`);
    return p.pid;
  }

  function rssKiB(pid: number): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  }

  function supportEntry(name: string): string[] {
    const self = fileURLToPath(import.meta.url);
    const fromSource = self.endsWith('.ts');
    const entry = fileURLToPath(new URL(`../support/${name}.${fromSource ? 'ts' : 'js'}`, import.meta.url));
    return [...(fromSource ? ['--import', 'tsx'] : []), entry];
  }

  before(async () => {
    lab = await startLab({ nodes: 3, router: 'bird' });
    await lab.apply(...metallbDemoObjects(lab.topology));
    await lab.addService({ namespace: 'chaos', name: 'web' });
    await lab.addService({
      namespace: 'chaos',
      name: 'web-bgp',
      annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
    });
    for (const n of NODES) {
      await lab.addPod('chaos/web', n);
      await lab.addPod('chaos/web-bgp', n);
    }
    [l2vip = '', l2vip6 = ''] = await vipsOf('chaos/web');
    [bgpvip = ''] = await vipsOf('chaos/web-bgp');
    owner = electOwner(NODES, l2vip) as string;
    await answeredBy(l2vip, [owner], 60_000);
    await waitFor(
      'L2 VIP serves',
      async () => ((await curl('client', l2vip)) ? true : undefined),
      30_000,
      200,
    );
    await waitFor(
      'BGP VIP serves',
      async () => ((await curl('external', bgpvip)) ? true : undefined),
      60_000,
      200,
    );
  });

  after(async () => {
    for (const p of extra) await p.kill();
    await lab?.stop();
  });

  it(`apiserver stopped (every speaker sees it gone, ${OUTAGE_PROBES}+ probes of each VIP meanwhile): the L2 and BGP VIPs answer every probe from client and external`, async () => {
    const results: { at: number; what: string; ok: boolean }[] = [];
    let probing = true;
    const probe = async (host: string, ip: string): Promise<void> => {
      while (probing) {
        results.push({ at: Date.now(), what: `${host}->${ip}`, ok: await curl(host, ip, 3) });
        await delay(200); // pacing the probe load, not waiting for anything
      }
    };
    const whats = [`client->${l2vip}`, `client->${l2vip6}`, `external->${bgpvip}`];
    const counts = (): number[] => whats.map((w) => results.filter((r) => r.what === w).length);
    /** Until every VIP has had `n` more probes than at `since`. */
    const probed = (n: number, since: number[], what: string): Promise<true> =>
      waitFor(what, () => (counts().every((c, i) => c >= since[i]! + n) ? true : undefined), 120_000, 20);
    const loops = [probe('client', l2vip), probe('client', l2vip6), probe('external', bgpvip)];
    try {
      await probed(1, [0, 0, 0], 'a probe of each VIP before the fault');
      const lost = probes.speakersLostApiserver(lab, NODES);
      await lab.stopProcess('machine', 'kube-apiserver');
      const down = Date.now();
      const atStop = counts();
      // the fault lasts until every speaker has lost the apiserver and each VIP was probed meanwhile
      await lost();
      await probed(OUTAGE_PROBES, atStop, `${OUTAGE_PROBES} probes of each VIP during the outage`);
      await lab.startProcess('machine', 'kube-apiserver');
      process.stdout.write(`# apiserver was down ${Date.now() - down} ms\n`);
      await probed(3, counts(), 'probes of each VIP after the apiserver returned');
    } finally {
      probing = false;
      await Promise.all(loops);
    }
    const failed = results.filter((r) => !r.ok);
    process.stdout.write(`# ${results.length} probes around the outage, ${failed.length} failed\n`);
    assert.deepEqual(failed, [], 'every probe succeeded');
    assert.deepEqual(await arpingMacs(l2vip), [mac(owner)], 'the owner did not change');
  });

  it("the L2 owner's speaker SIGTERMed, then SIGKILLed: the VIP moves to the next node and returns", async () => {
    const next = electOwner(
      NODES.filter((n) => n !== owner),
      l2vip,
    ) as string;
    for (const how of ['SIGTERM', 'SIGKILL'] as const) {
      const t0 = Date.now();
      if (how === 'SIGTERM') await lab.stopProcess(owner, 'speaker');
      else await lab.kill(owner, 'speaker');
      await answeredBy(l2vip, [next]);
      const moved = Date.now() - t0;
      assert.ok(await curl('client', l2vip, 3), `curl after ${how}`);
      await lab.startProcess(owner, 'speaker');
      const back = await answeredBy(l2vip, [owner]);
      process.stdout.write(
        `# ${how}: answered by ${next} within ${moved} ms; back to ${owner} ${back} ms after restarting\n`,
      );
      assert.ok(await curl('client', l2vip, 3), `curl after the speaker returned (${how})`);
    }
  });

  it('the owner partitioned from the other nodes (not from the client): two owners while it lasts, one after it heals', async () => {
    const others = NODES.filter((n) => n !== owner);
    const peerIps = others.map(nodeIp);
    let partitioned = false;
    try {
      await membershipPartition(lab.host(owner), peerIps, 'cut');
      partitioned = true;
      const next = electOwner(others, l2vip) as string;
      // the others elect a new owner; the partitioned one keeps answering: split brain, as expected
      await answeredBy(l2vip, [owner, next]);
    } finally {
      if (partitioned) await membershipPartition(lab.host(owner), peerIps, 'heal');
    }
    const healed = Date.now();
    await answeredBy(l2vip, [owner]);
    // (how fast is measured by `npm run bench -- chaos`, with an ARP flood and a capture)
    process.stdout.write('# partition healed: only the owner answers again (arping rounds of ~2 s)\n');
    // a bridge capture after that: the next 10 ARP requests are answered by the owner's MAC only
    // (most of them in arping's own count: a reply slower than its 0.2 s interval may go uncounted
    // at the end, but it is in the capture)
    const cap = await lab.net.lan.capture(join(lab.topology.logDir, 'chaos-partition.pcap'), ['arp']);
    const macs = await probes.arpingMacs(lab, l2vip, 10, 0.2);
    await cap.stop();
    assert.ok(macs.length >= 5, `replies to 10 requests: ${macs.join(',')}`);
    assert.deepEqual([...new Set(macs)], [mac(owner)]);
    const text = (await lab.exec('client', 'tcpdump', ['-r', cap.file, '-nn', '-e', 'arp'])).stdout;
    const repliers = new Set(
      [...text.matchAll(/^\S+ ([0-9a-f:]{17}) > .*Reply (\S+) is-at ([0-9a-f:]{17})/gm)]
        .filter((m) => m[2] === l2vip)
        .map((m) => m[3]),
    );
    assert.deepEqual(
      [...repliers],
      [mac(owner)],
      `replies ${Date.now() - healed} ms after healing:\n${text}`,
    );
  });

  it('forged membership packets (wrong key) are dropped and counted; membership stays whole', async () => {
    const target = NODES.find((n) => n !== owner) as string;
    const before =
      metricValue(await speakerMetrics(target), 'bollard_membership_bad_key_packets_dropped_total') ?? 0;
    const N = 200;
    const script = [
      "const d=require('node:dgram');const c=require('node:crypto');",
      "const s=d.createSocket('udp4');let i=0;",
      `const body=Buffer.from(JSON.stringify({t:'ping',from:'node-1',inc:99,hv:0,seq:1,upd:[{n:'${owner}',s:'dead',i:1e9}]}));`,
      `const send=()=>{if(i++>=${N})return s.close();`,
      "const p=Buffer.concat([Buffer.from('BLM2'),c.randomBytes(32),body]);",
      `s.send(p,7946,'${nodeIp(target)}',()=>setTimeout(send,2));};send();`,
    ].join('');
    const r = await lab.exec('client', process.execPath, ['-e', script], 30_000);
    assert.equal(r.code, 0, r.stderr);
    const after = await waitFor(
      'forged packets counted',
      async () => {
        const v =
          metricValue(await speakerMetrics(target), 'bollard_membership_bad_key_packets_dropped_total') ?? 0;
        return v - before >= N ? v : undefined;
      },
      60_000,
      200,
    );
    assert.equal(after - before, N, 'each forged packet counted once');
    // the forged "owner is dead" was not believed
    assert.equal(metricValue(await speakerMetrics(target), 'bollard_membership_members_alive'), 3);
    assert.deepEqual(await arpingMacs(l2vip), [mac(owner)]);
  });

  it('ARP and NDP floods and malformed frames from the client: the owner answers a real arping throughout, correctly, RSS bounded', async () => {
    const pid = pidOf(owner, 'speaker');
    const rssBefore = rssKiB(pid);
    const started = join(lab.topology.logDir, 'chaos-flood.started');
    rmSync(started, { force: true });
    const args: FloodArgs = {
      ifname: 'eth0',
      seconds: 8, // the load generator's own length
      kinds: ['arp', 'ndp', 'malformed'],
      arpTargets: [l2vip],
      ndpTargets: [l2vip6],
      startedFile: started,
    };
    let flooding = true;
    const floodRun = lab
      .exec('client', process.execPath, [...supportEntry('frame-flood'), JSON.stringify(args)], 120_000)
      .finally(() => {
        flooding = false;
      });
    // arpings from the flood's first frame to its end
    await waitFor(
      'the flood started',
      () => (existsSync(started) || !flooding ? true : undefined),
      60_000,
      20,
    );
    const answers: string[][] = [];
    while (flooding) answers.push(await arpingMacs(l2vip, 1));
    const out = await floodRun;
    assert.equal(out.code, 0, out.stderr);
    const res = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as FloodResult;
    process.stdout.write(`# flood: ${res.sent} frames in ${res.seconds.toFixed(1)} s (${res.perSecond}/s)\n`);
    assert.ok(res.sent > 10_000, `flood sent ${res.sent}`);
    assert.ok(answers.length >= 3, `${answers.length} arpings during the flood`);
    const answered = answers.filter((a) => a.length > 0);
    assert.ok(
      answered.length >= answers.length - 1,
      `answered ${answered.length}/${answers.length} arpings during the flood`,
    );
    assert.deepEqual([...new Set(answered.flat())], [mac(owner)], 'only the owner answered');
    // after the flood: still answering, still the owner, memory bounded
    assert.deepEqual(await arpingMacs(l2vip), [mac(owner)]);
    assert.ok(await curl('client', l2vip, 3));
    const rssAfter = rssKiB(pid);
    process.stdout.write(`# speaker RSS ${rssBefore} KiB before, ${rssAfter} KiB after the flood\n`);
    assert.ok(rssAfter < rssBefore + 64 * 1024, `RSS ${rssBefore} -> ${rssAfter} KiB`);
    assert.equal(pidOf(owner, 'speaker'), pid, 'the speaker did not restart');
  });

  it('a BGPPeer whose password Secret is missing, or not readable under the Role: a clear error naming it; recovery', async () => {
    const cs = async (): Promise<{ result?: string; errorSummary?: string }> =>
      (
        await lab.client
          .get<{ status?: { result?: string; errorSummary?: string } }>(
            '/apis/metallb.io/v1beta1/namespaces/metallb-system/configurationstates/speaker-node-1',
          )
          .catch(() => ({ status: {} }))
      ).status ?? {};
    const invalid = (re: RegExp) =>
      waitFor(
        `speaker ConfigurationState Invalid matching ${re}`,
        async () => {
          const s = await cs();
          return s.result === 'Invalid' && re.test(s.errorSummary ?? '') ? s : undefined;
        },
        180_000,
        250,
      );
    const valid = () =>
      waitFor(
        'speaker ConfigurationState Valid again',
        async () => ((await cs()).result === 'Valid' ? true : undefined),
        180_000,
        250,
      );
    const peerObj = (name: string, secret: string) => ({
      apiVersion: 'metallb.io/v1beta2',
      kind: 'BGPPeer',
      metadata: { name, namespace: 'metallb-system' },
      spec: {
        myASN: lab.topology.nodes[0]?.asn,
        peerASN: lab.topology.router.asn,
        peerAddress: name === 'chaos-secret-peer' ? '10.50.0.99' : '10.50.0.98',
        passwordSecret: { name: secret, namespace: 'metallb-system' },
      },
    });
    const secretObj = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: 'metallb-system' },
      type: 'kubernetes.io/basic-auth',
      stringData: { password: BGP_PASSWORD },
    });
    // 1. missing: the name the speaker's Role allows (deploy/rbac/speaker.yaml), no Secret yet
    await lab.apply(peerObj('chaos-secret-peer', 'bgp-password'));
    const bad = await invalid(
      /BGPPeer metallb-system\/chaos-secret-peer: spec\.passwordSecret: Secret metallb-system\/bgp-password not found/,
    );
    process.stdout.write(`# missing Secret: ${bad.errorSummary}\n`);
    // nothing else changed: the VIPs still answer
    assert.ok(await curl('external', bgpvip, 3));
    assert.deepEqual(await arpingMacs(l2vip), [mac(owner)]);
    await lab.apply(secretObj('bgp-password'));
    await valid();
    // 2. present but outside the Role's resourceNames: said so, not "not found"
    await lab.apply(secretObj('chaos-not-in-role'));
    await lab.apply(peerObj('chaos-secret-peer-2', 'chaos-not-in-role'));
    const denied = await invalid(
      /Secret metallb-system\/chaos-not-in-role cannot be read: the speaker's Role does not allow it/,
    );
    process.stdout.write(`# unreadable Secret: ${denied.errorSummary}\n`);
    await lab.client.delete(
      '/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers/chaos-secret-peer-2',
    );
    await valid();
  });

  it('the membership key and the BGP password appear in no lab log, no Event and no /metrics page', async () => {
    const secret = await lab.client.get<{ data?: Record<string, string> }>(
      '/api/v1/namespaces/metallb-system/secrets/memberlist',
    );
    const keyB64 = secret.data?.secretkey ?? '';
    assert.ok(keyB64.length > 16, 'the memberlist Secret has a key');
    const raw = Buffer.from(keyB64, 'base64');
    const needles = [
      keyB64,
      raw.toString('hex'),
      raw.toString('base64url'),
      BGP_PASSWORD,
      Buffer.from(BGP_PASSWORD).toString('base64'),
    ];
    const leaks: string[] = [];
    const scan = (where: string, text: string): void => {
      for (const n of needles) if (text.includes(n)) leaks.push(`${where} contains ${n.slice(0, 6)}…`);
    };
    // every file under the lab's log dir
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? walk(p) : [p];
      });
    const files = walk(lab.topology.logDir);
    assert.ok(
      files.some((f) => f.includes('speaker')),
      `speaker logs in ${lab.topology.logDir}`,
    );
    for (const f of files) scan(f, readFileSync(f).toString('latin1'));
    // every Event, both APIs
    for (const path of ['/apis/events.k8s.io/v1/events', '/api/v1/events']) {
      const evs = await lab.client.get<{ items: unknown[] }>(path);
      scan(path, JSON.stringify(evs));
    }
    // every /metrics page: the speakers' and the controller's
    for (const n of NODES) scan(`${n} /metrics`, await speakerMetrics(n));
    const ctl = pidOf('machine', 'controller');
    const cmdline = readFileSync(`/proc/${ctl}/cmdline`, 'utf8').split('\0');
    const bind = cmdline[cmdline.indexOf('--metrics-bind') + 1] ?? '';
    const port = /(\d+)$/.exec(bind)?.[1];
    const ctlMetrics = port ? await (await fetch(`http://127.0.0.1:${port}/metrics`)).text() : '';
    assert.match(ctlMetrics, /metallb_allocator_addresses_in_use_total/, `controller metrics at ${bind}`);
    scan('controller /metrics', ctlMetrics);
    assert.deepEqual(leaks, []);
  });

  it('a speaker with its metrics bound to 127.0.0.1 answers locally and is not reachable from another host', async () => {
    const node = NODES.find((n) => n !== owner) as string;
    await lab.stopProcess(node, 'speaker');
    try {
      const kubeconfig = await lab.kubeconfigFor('metallb-system', 'speaker', { inNode: true });
      const p = startSpeaker(lab.host(node), {
        kubeconfig,
        namespace: 'metallb-system',
        metricsHost: '127.0.0.1',
        logDir: join(lab.topology.logDir, 'chaos-localhost'),
      });
      assert.ok(p, 'speaker entry built');
      extra.push(p);
      await p.whileRunning(
        waitFor(
          'local metrics',
          async () =>
            (
              await lab.exec(node, 'curl', [
                '-sf',
                '-m',
                '1',
                '-o',
                '/dev/null',
                `http://127.0.0.1:${SPEAKER_METRICS_PORT}/metrics`,
              ])
            ).code === 0
              ? true
              : undefined,
          30_000,
          200,
        ),
      );
      for (const from of ['client', NODES.find((n) => n !== node && n !== owner) as string]) {
        const r = await lab.exec(from, 'curl', [
          '-s',
          '-m',
          '2',
          '-o',
          '/dev/null',
          `http://${nodeIp(node)}:${SPEAKER_METRICS_PORT}/metrics`,
        ]);
        assert.notEqual(r.code, 0, `metrics of ${node} reachable from ${from}`);
      }
      await p.stop();
    } finally {
      await lab.startProcess(node, 'speaker');
    }
  });
});
