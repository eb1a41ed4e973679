// `bollard speaker …` (cli/main.ts adds speakerCommand()) and the standalone entry
// `node dist/speaker/cli-entry.js --kubeconfig K --node node-1 --namespace metallb-system …` that the lab spawns.
import { Command, InvalidArgumentError } from 'commander';
import { fileURLToPath } from 'node:url';
import { stopOnSignals } from '../k8s/lifecycle.js';
import { makeLogger } from '../k8s/logger.js';
import { installProcessPolicy } from '../k8s/process-policy.js';
import { favourMemory } from '../k8s/v8-memory.js';
import { runSpeaker } from './main.js';
import { DEFAULT_INTERFACE_EXCLUDES } from '../net/interfaces.js';
import { DEFAULT_DRAIN_MS } from './bgp/drain.js';
import { FlowHandover } from './flows/handover.js';

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a non-negative integer: ${v}`);
  return n;
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

interface SpeakerFlags {
  kubeconfig?: string;
  node: string;
  namespace: string;
  metricsBind: string;
  membership: boolean;
  membershipPort: number;
  probeInterval?: number;
  probeTimeout?: number;
  suspicion?: number;
  interfacesExclude?: string[];
  lbClass: string;
  healthInterval: number;
  healthTimeout: number;
  logLevel: string;
  bgp: boolean;
  layer2: boolean;
  drainTime: number;
  flowHandover: boolean;
  optimizeForSize: boolean;
}

async function runFromFlags(o: SpeakerFlags): Promise<void> {
  favourMemory(o.optimizeForSize); // k8s/v8-memory.ts: before the informers' first lists
  const log = makeLogger({ component: 'speaker', level: o.logLevel });
  installProcessPolicy({ log });
  // flow handover off: its chain and jump go, if a former run left them
  if (!o.flowHandover) FlowHandover.remove();
  const speaker = await runSpeaker({
    logger: log,
    bgp: o.bgp,
    layer2: o.layer2,
    kubeconfig: o.kubeconfig,
    node: o.node,
    namespace: o.namespace,
    metricsBind: o.metricsBind,
    membership: o.membership,
    membershipPort: o.membershipPort,
    membershipOptions: {
      ...(o.probeInterval !== undefined ? { probeIntervalMs: o.probeInterval } : {}),
      ...(o.probeTimeout !== undefined ? { probeTimeoutMs: o.probeTimeout } : {}),
      ...(o.suspicion !== undefined ? { suspicionMs: o.suspicion } : {}),
    },
    ...(o.interfacesExclude ? { interfacesExclude: o.interfacesExclude } : {}),
    lbClass: o.lbClass,
    healthIntervalMs: o.healthInterval,
    healthTimeoutMs: o.healthTimeout,
    drainMs: o.drainTime,
    flowHandover: o.flowHandover,
  });
  stopOnSignals(speaker);
}

/** The speaker's command line, shared by `bollard speaker` and the standalone entry. */
export function speakerCommand(name = 'speaker'): Command {
  return new Command(name)
    .description(
      'per-node agent: answers ARP/NDP and speaks BGP for the LoadBalancer IPs this node announces',
    )
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .requiredOption('--node <name>', 'this node (the Node object name)', process.env.NODE_NAME)
    .option('--namespace <ns>', 'install namespace', 'metallb-system')
    .option('--metrics-bind <host:port>', 'address for /metrics, /healthz, /readyz', '0.0.0.0:7472')
    .option(
      '--membership <bool>',
      'fast failure detection among speakers (false: Node Ready decides)',
      (v) => v !== 'false',
      true,
    )
    .option('--membership-port <port>', 'UDP port of the membership protocol', int, 7946)
    .option('--probe-interval <ms>', 'membership probe interval', int)
    .option('--probe-timeout <ms>', 'membership direct probe timeout', int)
    .option('--suspicion <ms>', 'membership suspicion timeout', int)
    .option(
      '--interfaces-exclude <regex>',
      `interfaces never answered on (repeatable; replaces the defaults: ${DEFAULT_INTERFACE_EXCLUDES.join(' ')})`,
      collect,
    )
    .option('--lb-class <class>', 'handle only Services with this loadBalancerClass', '')
    .option('--health-interval <ms>', 'healthCheckNodePort probe interval', int, 300)
    .option('--health-timeout <ms>', 'healthCheckNodePort probe timeout', int, 250)
    .option('--log-level <level>', 'debug, info, warn, error', 'info')
    .option('--bgp <bool>', "BGP sessions towards this node's BGPPeers", (v) => v !== 'false', true)
    .option(
      '--layer2 <bool>',
      'answer ARP/NDP (false: no packet socket, for nodes no L2Advertisement selects)',
      (v) => v !== 'false',
      true,
    )
    .option(
      '--drain-time <ms>',
      'on SIGTERM or exclusion, BGP routes stay announced with GRACEFUL_SHUTDOWN this long before the withdraw (0: at once)',
      int,
      DEFAULT_DRAIN_MS,
    )
    .option(
      '--flow-handover <bool>',
      'after a planned move of a VIP, hand stray TCP packets of connections in flight to the node that knows them, for the drain time (needs iptables, NET_ADMIN; false: off, the chain is removed)',
      (v) => v !== 'false',
      true,
    )
    .option(
      '--optimize-for-size <bool>',
      "V8's --optimize-for-size: a smaller heap for the same work (false: V8's defaults)",
      (v) => v !== 'false',
      true,
    )
    .action(async (o: SpeakerFlags) => runFromFlags(o));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await speakerCommand('bollard-speaker').parseAsync(process.argv);
}
