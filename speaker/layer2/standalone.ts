// A layer 2 speaker without Kubernetes: static peers and VIPs, real membership over UDP, the same
// election and responder as the speaker. Used by the netns end-to-end tests and the benchmark, and
// handy for trying the data path on plain hosts.
//   node dist/speaker/layer2/standalone.js --node n1 --peer n1=10.0.0.1 --peer n2=10.0.0.2 \
//        --vip 10.0.0.100 --vip fd00::100 --key 00112233… [--port 7946] [--no-membership]
// Logs one JSON line per ownership change: {"msg":"owner","owner":…,"announcing":true|false,"t":…}.
import { Command } from 'commander';
import { MembershipAgent } from '../membership/agent.js';
import { electOwner } from './election.js';
import { Layer2Responder } from './responder.js';
import { DEFAULT_INTERFACE_EXCLUDES } from '../../net/interfaces.js';

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function log(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ t: Date.now(), ...obj }) + '\n');
}

async function main(): Promise<void> {
  const cmd = new Command()
    .requiredOption('--node <name>')
    .option('--peer <name=ip>', 'a speaker (repeatable, self included)', collect, [])
    .option('--vip <ip>', 'a VIP (repeatable; the first decides the owner)', collect, [])
    .option('--vip-count <n>', 'also announce n extra IPv4 VIPs from --vip-base (benchmarks)', '0')
    .option('--vip-base <ip>', 'first extra VIP', '10.200.0.1')
    .option('--key <hex>', 'membership key (hex)', '00'.repeat(32))
    .option('--port <n>', 'membership UDP port', '7946')
    .option('--no-membership', 'treat every peer as alive')
    .option(
      '--interfaces-exclude <re>',
      'interface exclusion regex (repeatable; replaces the defaults)',
      collect,
      [],
    );
  cmd.parse();
  const o = cmd.opts<{
    node: string;
    peer: string[];
    vip: string[];
    vipCount: string;
    vipBase: string;
    key: string;
    port: string;
    membership: boolean;
    interfacesExclude: string[];
  }>();
  const peers = new Map(o.peer.map((p) => p.split('=') as [string, string]));
  const extra: string[] = [];
  const base = o.vipBase.split('.').map(Number);
  for (let i = 0; i < Number(o.vipCount); i++) {
    const v = ((base[0]! << 24) | (base[1]! << 16) | (base[2]! << 8) | base[3]!) + i;
    extra.push(`${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
  }
  const responder = new Layer2Responder({
    excludes: o.interfacesExclude.length > 0 ? o.interfacesExclude : DEFAULT_INTERFACE_EXCLUDES,
    log: {
      info: (obj, msg) => log({ level: 'info', msg, ...obj }),
      warn: (obj, msg) => log({ level: 'warn', msg, ...obj }),
      debug: () => undefined,
    },
  });
  const agent = o.membership
    ? new MembershipAgent({ self: o.node, port: Number(o.port), key: Buffer.from(o.key, 'hex') })
    : undefined;
  let owner: string | undefined;
  const decide = (membershipChanged: boolean): void => {
    const live = agent ? agent.liveNodes() : new Set(peers.keys());
    // Every VIP group is decided by its own first VIP: the listed VIPs as one Service, each extra VIP alone.
    const ann = new Map<string, { interfaces: string[] }>();
    const next = o.vip.length > 0 ? electOwner(live, o.vip[0]!) : undefined;
    if (next === o.node) for (const v of o.vip) ann.set(v, { interfaces: [] });
    for (const v of extra) if (electOwner(live, v) === o.node) ann.set(v, { interfaces: [] });
    responder.setAnnouncements(ann);
    if (membershipChanged) responder.reannounce();
    if (next !== owner) {
      owner = next;
      log({ level: 'info', msg: 'owner', owner, announcing: owner === o.node, live: [...live].sort() });
    }
  };
  if (agent) {
    agent.on('change', (changes) => {
      log({ level: 'info', msg: 'membership', changes });
      decide(true);
    });
    await agent.start();
    agent.setPeers(peers);
  }
  decide(false);
  log({
    level: 'info',
    msg: 'ready',
    node: o.node,
    interfaces: responder.interfaces(),
    vips: o.vip.length + extra.length,
  });
  const stop = (): void => {
    agent?.stop();
    responder.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  log({ level: 'error', msg: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
