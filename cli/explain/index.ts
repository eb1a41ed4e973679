// `bollard explain service|pool|node`: read the cluster and the speakers, print the chain in plain words
// (or JSON with -o json). Exit status: 0 when nothing is wrong, 1 when problems were found, 2 on errors.
import { Command, Option } from 'commander';
import { gather, type GatherOptions } from './gather.js';
import { explainNode, explainPool } from './pool.js';
import { renderNode, renderPool, renderService } from './render.js';
import { explainService } from './service.js';
import { ExplainError } from './types.js';

export { explainService, type ServiceExplanation } from './service.js';
export { explainPool, explainNode, type PoolExplanation, type NodeExplanation } from './pool.js';
export { gather } from './gather.js';
export { ExplainError, type Snapshot } from './types.js';

interface CommonOpts {
  kubeconfig?: string;
  server?: string;
  namespace: string;
  lbClass: string;
  speakerMetrics?: string;
  speakerPort: string;
  output: 'text' | 'json';
}

function gatherOpts(o: CommonOpts): GatherOptions {
  return {
    ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
    ...(o.server ? { server: o.server } : {}),
    namespace: o.namespace,
    lbClass: o.lbClass,
    ...(o.speakerMetrics
      ? {
          speakerMetrics: o.speakerMetrics
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        }
      : {}),
    speakerPort: Number(o.speakerPort),
  };
}

function withCommon(cmd: Command): Command {
  return cmd
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .option('--server <url>', "the apiserver's URL, overriding the kubeconfig's (like kubectl --server)")
    .option('-n, --namespace <ns>', "Bollard's install namespace (metallb.io objects)", 'metallb-system')
    .option('--lb-class <class>', "the controller's --lb-class", '')
    .option(
      '--speaker-metrics <list>',
      'speaker metrics endpoints host:port,… (default: every Node InternalIP + --speaker-port)',
    )
    .option('--speaker-port <port>', "speakers' metrics port", '7472')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'),
    );
}

async function run<T extends { problems: readonly string[] }>(
  o: CommonOpts,
  explain: (s: Awaited<ReturnType<typeof gather>>) => T,
  render: (e: T) => string,
  eventsNamespace?: string,
): Promise<void> {
  try {
    const e = explain(
      await gather({ ...gatherOpts(o), ...(eventsNamespace !== undefined ? { eventsNamespace } : {}) }),
    );
    process.stdout.write(o.output === 'json' ? JSON.stringify(e, null, 2) + '\n' : render(e));
    process.exitCode = e.problems.length > 0 ? 1 : 0;
  } catch (err) {
    if (err instanceof ExplainError) {
      if (o.output === 'json') process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
      process.stderr.write(`bollard explain: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}

export function explainCommand(): Command {
  const cmd = new Command('explain').description(
    'Explain in plain words why a Service has (or has no) IP and who announces it; pools and nodes too',
  );
  withCommon(cmd.command('service').argument('<namespace/name>', 'the Service'))
    .description('Why the Service is pending, which pools could serve it, which nodes announce it and why')
    .action(async (ref: string, o: CommonOpts) => {
      const key = ref.includes('/') ? ref : `default/${ref}`;
      await run(o, (s) => explainService(s, key), renderService, key.split('/')[0]);
    });
  withCommon(cmd.command('pool').argument('<name>', 'the IPAddressPool'))
    .description('A pool: usage, who holds what, what is left, what announces it')
    .action(async (name: string, o: CommonOpts) => {
      await run(o, (s) => explainPool(s, name), renderPool);
    });
  withCommon(cmd.command('node').argument('<name>', 'the Node'))
    .description('A node: membership, BGP sessions, VIPs it announces, health checks')
    .action(async (name: string, o: CommonOpts) => {
      await run(o, (s) => explainNode(s, name), renderNode);
    });
  return cmd;
}
