// Each router the lab offers comes up with a session towards every node, answers its own CLI inside
// the router host as typed (birdc, vtysh, gobgp), and installs what the nodes announce inside the BGP
// pool in its kernel as ECMP — checked with a stand-in speaker (GoBGP in node-1 and node-2), since
// Bollard's speaker is not part of these tests. Prefixes outside the pool are refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../support/lab.js';
import { waitFor, type ManagedProcess } from '../../lab/process.js';
import { routerCli } from '../../lab/routers.js';
import type { RouterKind } from '../../lab/topology.js';

function standInSpeakerConfig(lab: Lab, node: string): string {
  const n = lab.topology.nodes.find((x) => x.name === node);
  assert.ok(n);
  return [
    '[global.config]',
    `  as = ${n.asn}`,
    `  router-id = "${n.ipv4.ip}"`,
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${lab.topology.router.ipv4.ip}"`,
    `    peer-as = ${lab.topology.router.asn}`,
    '  [[neighbors.afi-safis]]',
    '    [neighbors.afi-safis.config]',
    '      afi-safi-name = "ipv4-unicast"',
    '',
  ].join('\n');
}

for (const kind of ['bird', 'frr', 'gobgp'] as RouterKind[]) {
  describe(`lab router: ${kind}`, () => {
    let lab: Lab;
    const speakers: ManagedProcess[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'bollard-test-lab-router-'));
    before(async () => {
      lab = await startLab({ nodes: 2, router: kind, components: false });
    });
    after(async () => {
      for (const s of speakers) await s.stop();
      await lab?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs the daemon, whose CLI answers inside the router host with a session per node and family', async () => {
      const cli = routerCli(kind);
      assert.ok(cli);
      assert.ok(
        lab.procs
          .list()
          .filter((p) => p.host === 'router')
          .every((p) => p.running),
      );
      const out = await lab.host('router').sh(cli.sessions[0] as string, cli.sessions.slice(1));
      for (const n of lab.topology.nodes) {
        const peer = kind === 'bird' ? `${n.name.replace('-', '_')}_v4` : n.ipv4.ip;
        assert.ok(out.includes(peer), `${peer} in:\n${out}`);
        const peer6 = kind === 'bird' ? `${n.name.replace('-', '_')}_v6` : (n.ipv6?.ip as string);
        assert.ok(out.includes(peer6), `${peer6} in:\n${out}`);
      }
      // The control sockets live under the lab's folder, not in the machine's /run.
      assert.equal(existsSync('/run/bird/bird.ctl'), false);
    });

    it('installs a pool prefix announced by two nodes as ECMP in its kernel, and refuses others', async () => {
      for (const node of ['node-1', 'node-2']) {
        const conf = join(dir, `${node}.toml`);
        writeFileSync(conf, standInSpeakerConfig(lab, node));
        const host = lab.host(node);
        const p = host.spawn('gobgpd', ['-f', conf, '-t', 'toml', '--log-plain'], {
          name: `${node}/stand-in-speaker`,
          logFile: join(lab.logDir, `${node}-stand-in-speaker.log`),
        });
        speakers.push(p);
        await p.whileRunning(
          waitFor(
            `${node} gobgp`,
            async () => ((await host.exec('gobgp', ['global'])).code === 0 ? true : undefined),
            10_000,
          ),
        );
        await host.sh('gobgp', ['global', 'rib', '-a', 'ipv4', 'add', '10.60.0.10/32']);
        await host.sh('gobgp', ['global', 'rib', '-a', 'ipv4', 'add', '10.99.0.0/24']);
      }
      const router = lab.host('router');
      const route = await waitFor(
        'ECMP route on the router',
        async () => {
          const r = await router.sh('ip', ['route', 'show', '10.60.0.10']);
          return (r.match(/nexthop via/g) ?? []).length === 2 ? r : undefined;
        },
        30_000,
        200,
      );
      assert.match(route, /nexthop via 10\.50\.0\.11/);
      assert.match(route, /nexthop via 10\.50\.0\.12/);
      assert.equal((await router.sh('ip', ['route', 'show', '10.99.0.0/24'])).trim(), '');
    });
  });
}
