// `bollard controller …` (cli/main.ts adds controllerCommand()) and the standalone entry
// `node dist/controller/cli-entry.js --kubeconfig X --namespace metallb-system …` that tests spawn.
import { Command, InvalidArgumentError } from 'commander';
import { fileURLToPath } from 'node:url';
import { runController } from './main.js';
import { stopOnSignals } from '../k8s/lifecycle.js';
import { makeLogger } from '../k8s/logger.js';
import { installProcessPolicy } from '../k8s/process-policy.js';
import { favourMemory } from '../k8s/v8-memory.js';

function duration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`invalid duration "${v}" (e.g. 15s, 500ms)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

interface ControllerFlags {
  kubeconfig?: string;
  namespace: string;
  lbClass: string;
  metricsBind: string;
  leaseName: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  identity?: string;
  concurrency: number;
  logLevel: string;
  webhookBind?: string;
  webhookService?: string;
  webhookIp?: string[];
  webhookSecret?: string;
  webhookConfigName?: string;
  webhookFailurePolicy?: 'Fail' | 'Ignore';
  optimizeForSize: boolean;
}

async function runFromFlags(o: ControllerFlags): Promise<void> {
  favourMemory(o.optimizeForSize); // k8s/v8-memory.ts: before the informers' first lists
  const log = makeLogger({ level: o.logLevel, component: 'controller' });
  installProcessPolicy({ log });
  const ctl = await runController({
    logger: log,
    kubeconfig: o.kubeconfig,
    namespace: o.namespace,
    lbClass: o.lbClass || undefined,
    metricsBind: o.metricsBind,
    leaseName: o.leaseName,
    leaseDurationMs: o.leaseDuration,
    renewDeadlineMs: o.renewDeadline,
    retryPeriodMs: o.retryPeriod,
    identity: o.identity,
    concurrency: o.concurrency,
    ...(o.webhookBind ? { webhookBind: o.webhookBind } : {}),
    ...(o.webhookService ? { webhookService: o.webhookService } : {}),
    ...(o.webhookIp ? { webhookIPs: o.webhookIp } : {}),
    ...(o.webhookSecret ? { webhookSecret: o.webhookSecret } : {}),
    ...(o.webhookConfigName ? { webhookConfigName: o.webhookConfigName } : {}),
    ...(o.webhookFailurePolicy ? { webhookFailurePolicy: o.webhookFailurePolicy } : {}),
  });
  stopOnSignals(ctl);
}

/** The controller's command line, shared by `bollard controller` and the standalone entry. */
export function controllerCommand(name = 'controller'): Command {
  return new Command(name)
    .description('assign LoadBalancer IPs from metallb.io IPAddressPools (leader-elected)')
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .option('--namespace <ns>', 'install namespace', 'metallb-system')
    .option('--lb-class <class>', 'handle only Services with this loadBalancerClass', '')
    .option('--metrics-bind <host:port>', 'address for /metrics, /healthz, /readyz', '127.0.0.1:7472')
    .option('--lease-name <name>', 'leader election Lease name', 'metallb-controller')
    .option('--lease-duration <d>', 'leader election lease duration', duration, 15_000)
    .option('--renew-deadline <d>', 'leader election renew deadline', duration, 10_000)
    .option('--retry-period <d>', 'leader election retry period', duration, 2_000)
    .option('--identity <id>', 'leader election identity (default hostname-pid)')
    .option('--concurrency <n>', 'Services reconciled at once', (v) => Number(v), 32)
    .option('--log-level <level>', 'debug, info, warn, error', 'info')
    .option(
      '--optimize-for-size <bool>',
      "V8's --optimize-for-size: a smaller heap for the same work (false: V8's defaults)",
      (v) => v !== 'false',
      true,
    )
    .option(
      '--webhook-bind <host:port>',
      'serve the validating admission webhook (HTTPS) here; unset = no webhook',
    )
    .option(
      '--webhook-service <name>',
      "the webhook Service's name (certificate DNS names)",
      'bollard-webhook',
    )
    .option(
      '--webhook-ip <ip>',
      'an extra IP for the webhook certificate (repeatable)',
      (v: string, p: string[] | undefined) => [...(p ?? []), v],
    )
    .option('--webhook-secret <name>', 'Secret holding the webhook certificate', 'bollard-webhook-cert')
    .option(
      '--webhook-config-name <name>',
      'ValidatingWebhookConfiguration whose caBundle is kept current',
      'bollard-validating-webhook',
    )
    .option(
      '--webhook-failure-policy <policy>',
      'set failurePolicy (Fail or Ignore) on every webhook of it; default: as deployed',
      (v: string) => {
        if (v !== 'Fail' && v !== 'Ignore') throw new InvalidArgumentError('Fail or Ignore');
        return v;
      },
    )
    .action(async (o: ControllerFlags) => runFromFlags(o));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await controllerCommand('bollard-controller').parseAsync(process.argv);
}
