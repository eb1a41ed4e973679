// Layer 2 data path on the real kernel, without Kubernetes: three "nodes" in network namespaces run
// the standalone speaker (real membership over UDP, the election, the ARP/NDP responder on an
// AF_PACKET socket); a client resolves the VIP with arping/ndisc6/ping. Exactly one node answers;
// killing it or pulling its link moves the VIP, and the client's neighbour entry is rewritten by our
// gratuitous ARP / unsolicited NA (the client sends nothing meanwhile).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, type Host } from '../../lab/netns.js';
import { ManagedProcess, waitFor } from '../../lab/process.js';
import { repoRoot } from '../support/repo.js';
import { electOwner } from '../../speaker/layer2/election.js';

const VIP4 = '10.66.0.100';
const VIP6 = 'fd66::100';
const NODES = ['node-1', 'node-2', 'node-3'];
const KEY = 'ab'.repeat(32);

async function neighMac(client: Host, ip: string): Promise<string | undefined> {
  const out = await client.sh('ip', [
    ...(ip.includes(':') ? ['-6'] : []),
    'neigh',
    'show',
    ip,
    'dev',
    'eth0',
  ]);
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1];
}

/**
 * The MACs that answered `arping -c n`: Thomas Habets' arping prints "42 bytes from MAC (IP): …",
 * iputils' prints "reply from IP [MAC]"; both are read.
 */
async function arpingMacs(client: Host, ip: string, count = 3): Promise<string[]> {
  // Requests 100 ms apart; arping waits a little for late replies after the last one.
  const r = await client.exec(
    'arping',
    ['-c', String(count), '-W', '0.1', '-I', 'eth0', ip],
    (count + 5) * 1000,
  );
  const habets = [...r.stdout.matchAll(/bytes from ([0-9A-Fa-f:]{17}) \(/g)];
  const iputils = [...r.stdout.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)];
  return [...habets, ...iputils].map((m) => (m[1] as string).toLowerCase());
}

/** Waits until `rounds` consecutive arping rounds are answered by `mac` alone; resolves with the time until the first of them. */
async function settlesOn(
  client: Host,
  ip: string,
  mac: string,
  rounds = 5,
  timeoutMs = 30_000,
): Promise<number> {
  const t0 = Date.now();
  let ok = 0;
  let firstOk = 0;
  await waitFor(
    `${ip} answered by ${mac} alone`,
    async () => {
      const macs = new Set(await arpingMacs(client, ip, 2));
      if (macs.size === 1 && macs.has(mac)) {
        if (ok++ === 0) firstOk = Date.now();
      } else ok = 0;
      return ok >= rounds ? true : undefined;
    },
    timeoutMs,
    10,
  );
  return firstOk - t0;
}

describe('layer 2 responder in network namespaces (standalone speaker, real membership)', () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-l2-e2e-'));
  const procs = new Map<string, ManagedProcess>();
  const hosts = new Map<string, Host>();
  let client: Host;

  const startSpeaker = async (name: string): Promise<void> => {
    const h = hosts.get(name) as Host;
    const logFile = join(dir, `${name}.log`);
    const args = [
      join(repoRoot(), 'dist', 'speaker', 'layer2', 'standalone.js'),
      '--node',
      name,
      '--key',
      KEY,
      '--vip',
      VIP4,
      '--vip',
      VIP6,
    ];
    for (const n of NODES) args.push('--peer', `${n}=${(hosts.get(n) as Host).ip4}`);
    const p = h.spawn(process.execPath, args, { name: `speaker-${name}`, logFile });
    procs.set(name, p);
    await p.whileRunning(
      waitFor(
        `${name} ready`,
        () => (readFileSync(logFile, 'utf8').includes('"msg":"ready"') ? true : undefined),
        30_000,
        50,
      ),
    );
  };

  before(async () => {
    lan = await Lan.create();
    client = await lan.addHost('client', { ipv4: '10.66.0.10/24', ipv6: 'fd66::10/64' });
    for (const [i, n] of NODES.entries()) {
      const h = await lan.addHost(n, { ipv4: `10.66.0.${11 + i}/24`, ipv6: `fd66::${11 + i}/64` });
      hosts.set(n, h);
      // Like kube-proxy (IPVS) holding VIPs on a dummy device: the node accepts VIP traffic, but the
      // kernel must not answer ARP/NDP for it on eth0 — only our responder does.
      await h.sh('sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      await h.sh('ip', ['addr', 'add', `${VIP4}/32`, 'dev', 'lo']);
      await h.sh('ip', ['addr', 'add', `${VIP6}/128`, 'dev', 'lo']);
    }
    // Wait for link-local addresses (NDP needs one) before the speakers scan interfaces.
    for (const h of hosts.values())
      await waitFor(
        `${h.name} link-local`,
        async () =>
          (await h.sh('ip', ['-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).includes('fe80')
            ? true
            : undefined,
        30_000,
        50,
      );
    // Every speaker is ready. Peers start out alive in each one's membership (the first probe that
    // fails is what marks one suspect), so all elect the same owner from here: no settling time.
    await Promise.all(NODES.map((n) => startSpeaker(n)));
  });

  after(async () => {
    for (const p of procs.values()) await p.kill();
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const macOf = (n: string): string => (hosts.get(n) as Host).mac.toLowerCase();
  let owner = '';

  it('arping to the IPv4 VIP is answered by exactly one node: the elected one', async () => {
    owner = electOwner(NODES, VIP4) as string;
    const macs = await arpingMacs(client, VIP4, 4);
    assert.ok(macs.length >= 3, `replies: ${macs.join(',')}`);
    assert.deepEqual([...new Set(macs)], [macOf(owner)]);
  });

  it('ping reaches the VIP and the neighbour table shows the owner', async () => {
    await client.sh('ip', ['neigh', 'flush', 'dev', 'eth0']);
    assert.equal((await client.exec('ping', ['-c', '2', '-W', '2', VIP4])).code, 0);
    assert.equal(await neighMac(client, VIP4), macOf(owner));
  });

  it('IPv6: ndisc6 gets the owner MAC from one node; ping -6 works; neighbour table shows the owner', async () => {
    const r = await client.exec('ndisc6', ['-m', '-n', '-r', '3', '-w', '1000', VIP6, 'eth0']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = [...r.stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) =>
      (m[1] as string).toLowerCase(),
    );
    assert.deepEqual([...new Set(lines)], [macOf(owner)], r.stdout);
    assert.equal((await client.exec('ping', ['-6', '-c', '2', '-W', '2', VIP6])).code, 0);
    assert.equal(await neighMac(client, VIP6), macOf(owner));
  });

  it('an 8 s bridge capture shows ARP replies and NDP advertisements for the VIPs from exactly one MAC', async () => {
    const cap = await lan.capture(join(dir, 'steady.pcap'), ['arp', 'or', 'icmp6']);
    // ~8 s of steady state: a request every 200 ms, plus IPv6 solicitations.
    const [v4] = await Promise.all([
      client.exec('arping', ['-c', '40', '-W', '0.2', '-I', 'eth0', VIP4], 20_000),
      client.exec('ndisc6', ['-m', '-n', '-r', '8', '-w', '1000', VIP6, 'eth0']),
    ]);
    assert.ok((v4.stdout.match(/bytes from/g) ?? []).length >= 35, v4.stdout);
    await cap.stop();
    const text = await client.sh('tcpdump', ['-r', cap.file, '-nn', '-e']);
    const repliers = new Set(
      [...text.matchAll(/^\S+ ([0-9a-f:]{17}) > .*Reply (\S+) is-at ([0-9a-f:]{17})/gm)]
        .filter((m) => m[2] === VIP4)
        .map((m) => m[3]),
    );
    assert.deepEqual([...repliers], [macOf(owner)], text);
    const advertisers = new Set(
      [...text.matchAll(/^\S+ ([0-9a-f:]{17}) > .*neighbor advertisement, tgt is ([0-9a-f:]+),/gm)]
        .filter((m) => m[2] === VIP6)
        .map((m) => m[1]),
    );
    assert.deepEqual([...advertisers], [macOf(owner)], text);
  });

  it('SIGKILL of the owner: the next node takes over and its gratuitous ARP/NA rewrites the client neighbour entries', async () => {
    // Populate both entries, then stay silent: only unsolicited announcements can change them now.
    await client.exec('ping', ['-c', '1', '-W', '2', VIP4]);
    await client.exec('ping', ['-6', '-c', '1', '-W', '2', VIP6]);
    assert.equal(await neighMac(client, VIP4), macOf(owner));
    const survivors = NODES.filter((n) => n !== owner);
    const next = electOwner(survivors, VIP4) as string;
    const t0 = Date.now();
    await (procs.get(owner) as ManagedProcess).kill();
    await waitFor(
      'IPv4 entry rewritten',
      async () => ((await neighMac(client, VIP4)) === macOf(next) ? true : undefined),
      30_000,
      20,
    );
    const took = Date.now() - t0;
    await waitFor(
      'IPv6 entry rewritten',
      async () => ((await neighMac(client, VIP6)) === macOf(next) ? true : undefined),
      30_000,
      20,
    );
    assert.equal((await client.exec('ping', ['-c', '1', '-W', '2', VIP4])).code, 0);
    const macs = await arpingMacs(client, VIP4, 2);
    assert.deepEqual([...new Set(macs)], [macOf(next)]);
    process.stdout.write(`# failover after SIGKILL: client entry rewritten after ${took} ms\n`);
    // The killed speaker comes back: the VIP returns to it (it is first in the order again).
    await startSpeaker(owner);
    await waitFor(
      'VIP back at the original owner',
      async () => ((await neighMac(client, VIP4)) === macOf(owner) ? true : undefined),
      30_000,
      50,
    );
  });

  it('a membership partition (UDP 7946 dropped at the owner) splits the VIP; after it heals one node answers again', async () => {
    const o = hosts.get(owner) as Host;
    const rules = [
      ['INPUT', '-p', 'udp', '--dport', '7946', '-j', 'DROP'],
      ['OUTPUT', '-p', 'udp', '--dport', '7946', '-j', 'DROP'],
    ];
    for (const r of rules) await o.sh('iptables', ['-A', ...r]);
    try {
      // Both sides now believe they own the VIP: two MACs answer (the partition is real).
      await waitFor(
        'split brain',
        async () => (new Set(await arpingMacs(client, VIP4, 2)).size === 2 ? true : undefined),
        30_000,
        100,
      );
    } finally {
      for (const r of rules) await o.sh('iptables', ['-D', ...r]);
    }
    const took = await settlesOn(client, VIP4, macOf(owner));
    process.stdout.write(
      `# partition healed -> only the owner answers after ${took} ms (arping rounds of ~300 ms)\n`,
    );
    await waitFor(
      'client entry on the owner',
      async () => ((await neighMac(client, VIP4)) === macOf(owner) ? true : undefined),
      30_000,
      50,
    );
  });

  it("the owner's link goes down: the next node takes over; when it returns the VIP returns with it", async () => {
    await client.exec('ping', ['-c', '1', '-W', '2', VIP4]);
    assert.equal(await neighMac(client, VIP4), macOf(owner));
    const next = electOwner(
      NODES.filter((n) => n !== owner),
      VIP4,
    ) as string;
    await (hosts.get(owner) as Host).link('down');
    try {
      await waitFor(
        'IPv4 entry rewritten',
        async () => ((await neighMac(client, VIP4)) === macOf(next) ? true : undefined),
        30_000,
        20,
      );
      assert.equal((await client.exec('ping', ['-c', '1', '-W', '2', VIP4])).code, 0);
    } finally {
      await (hosts.get(owner) as Host).link('up');
    }
    await waitFor(
      'VIP back at the original owner',
      async () => ((await neighMac(client, VIP4)) === macOf(owner) ? true : undefined),
      30_000,
      50,
    );
    // After the merge exactly one node answers again (the isolated owner announced itself on its own
    // before the merge, so for a moment both may answer).
    await settlesOn(client, VIP4, macOf(owner));
  });
});
