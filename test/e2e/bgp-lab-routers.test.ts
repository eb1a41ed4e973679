// The lab with FRR and with GoBGP as the router (2 nodes each): the speakers' sessions come up, the
// router installs an ECMP route to both nodes in its kernel (zebra; FRR installs IPv6 routes via the
// link-local next hops we send, RFC 2545), and the `external` host reaches the VIP through it; a
// speaker's SIGTERM takes its path away by its NOTIFICATION (the router says it received one).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor } from '../../lab/process.js';
import { metallbDemoObjects } from '../../lab/deploy.js';
import * as probes from '../support/lab-probes.js';

for (const router of ['frr', 'gobgp'] as const) {
  describe(`BGP on the lab with ${router}`, { timeout: 240_000 }, () => {
    let lab: Lab;

    before(async () => {
      lab = await startLab({ nodes: 2, router });
      await lab.apply(...metallbDemoObjects(lab.topology));
      await lab.addService({
        namespace: 'bgp',
        name: 'web',
        annotations: { 'metallb.io/address-pool': lab.topology.bgpPool.name },
      });
      await lab.addPod('bgp/web', 'node-1');
    });

    after(async () => {
      await lab?.stop();
    });

    const vipsOf = (): Promise<string[]> =>
      waitFor(
        'VIPs',
        async () => {
          const ips = ((await lab.service('bgp/web')).status?.loadBalancer?.ingress ?? []).flatMap((i) =>
            i.ip ? [i.ip] : [],
          );
          return ips.length > 0 ? ips : undefined;
        },
        30_000,
        200,
      );
    /** The modified EUI-64 link-local address of a MAC (what the nodes' eth0 carries). */
    const linkLocal = (mac: string): string => {
      const b = mac.split(':').map((x) => parseInt(x, 16));
      b[0] = b[0]! ^ 2;
      const g = [(b[0] << 8) | b[1]!, (b[2]! << 8) | 0xff, (0xfe << 8) | b[3]!, (b[4]! << 8) | b[5]!];
      return `fe80::${g.map((x) => x.toString(16)).join(':')}`;
    };
    /** Nodes the router's kernel route for `vip` points at: global next hops, or (FRR with IPv6) link-local ones. */
    const nextHopNodes = async (vip: string): Promise<string[]> => {
      const out = (
        await lab.exec('router', 'ip', [...(vip.includes(':') ? ['-6'] : []), 'route', 'show', vip])
      ).stdout;
      const hops = [...out.matchAll(/via (\S+)/g)].map((m) => m[1]!);
      return lab.topology.nodes
        .filter(
          (n) =>
            hops.includes(n.ipv4.ip) ||
            (n.ipv6 !== undefined && hops.includes(n.ipv6.ip)) ||
            hops.includes(linkLocal(n.mac.toLowerCase())),
        )
        .map((n) => n.name)
        .sort();
    };
    const routedVia = (vip: string, nodes: string[]): Promise<true> =>
      waitFor(
        `${vip} via ${nodes.join(',')}`,
        async () => (JSON.stringify(await nextHopNodes(vip)) === JSON.stringify(nodes) ? true : undefined),
        60_000,
        100,
      );
    const curl = (ip: string): Promise<boolean> => probes.httpOk(lab, 'external', ip);

    it('ECMP to both nodes in the router kernel; the external host reaches the VIP (IPv4 and IPv6)', async () => {
      const vips = await vipsOf();
      for (const vip of vips) {
        await routedVia(vip, ['node-1', 'node-2']);
        assert.ok(
          await waitFor(`curl ${vip}`, async () => ((await curl(vip)) ? true : undefined), 15_000, 200),
        );
      }
    });

    it('a speaker SIGTERM takes its path away (GRACEFUL_SHUTDOWN, then Cease) and the VIP stays reachable', async () => {
      const [vip] = await vipsOf();
      assert.ok(vip);
      const sawNotification = await probes.routerSawNotification(lab, 'node-2');
      const t0 = Date.now();
      // The speaker drains first (LAB_SPEAKER_DRAIN_MS): FRR's import route-map gives the path marked
      // GRACEFUL_SHUTDOWN LOCAL_PREF 0, so it leaves the kernel's ECMP route at once; the lab's GoBGP
      // FIB installs every path GoBGP holds, so there the path goes with the Cease after the drain.
      const stopped = lab.stopProcess('node-2', 'speaker');
      await routedVia(vip, ['node-1']);
      process.stdout.write(`# ${router}: path via node-2 gone ${Date.now() - t0} ms after SIGTERM\n`);
      await stopped;
      // by the speaker's NOTIFICATION (Cease), as the router says, not by the 90 s hold timer
      const why = await sawNotification();
      process.stdout.write(`# ${router}: ${why}\n`);
      // The path via node-1 carries the VIP. One CI run saw the first request after the route moved
      // fail (not reproduced in 130 local trials, some under CPU load): every failed attempt is
      // printed with curl's reason (a generous bound: the figures are the printed ones).
      const failed: string[] = [];
      await waitFor(
        `${vip} answers through node-1`,
        async () => {
          const r = await probes.httpGet(lab, 'external', vip, 2);
          if (r.ok) return true;
          failed.push(`${Date.now() - t0} ms: ${r.detail}`);
          throw new Error(r.detail);
        },
        30_000,
        100,
      );
      if (failed.length > 0)
        process.stdout.write(
          `# ${router}: requests that failed after the path moved: ${failed.join('; ')}\n`,
        );
      await lab.startProcess('node-2', 'speaker');
      await routedVia(vip, ['node-1', 'node-2']);
    });
  });
}
