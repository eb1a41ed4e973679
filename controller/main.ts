// The controller program: informers + reconciler, leader election, metrics/health server, memberlist Secret.
import { hostname } from 'node:os';
import { KubeClient } from '../k8s/client.js';
import { EventRecorder } from '../k8s/events.js';
import { LeaderElector } from '../k8s/leader.js';
import { makeLogger, type Logger } from '../k8s/logger.js';
import { background } from '../k8s/background.js';
import { startMetricsServer, type MetricsServer } from '../k8s/metrics-server.js';
import { ensureMemberlistSecret } from './membership.js';
import { ControllerMetrics } from './metrics.js';
import { Reconciler, type ReconcilerOptions } from './reconciler.js';
import { registerAssignmentMetric } from './assignment-metrics.js';
import { WebhookCerts } from './webhook/certs.js';
import { startWebhookServer, type WebhookServer } from './webhook/server.js';

export interface ControllerOptions {
  /** Path to a kubeconfig; default $KUBECONFIG, then ~/.kube/config, then in-cluster. */
  kubeconfig?: string;
  /** Install namespace: the CRs, the Lease, the memberlist Secret and ConfigurationState live here. */
  namespace?: string;
  /** Handle only Services with this loadBalancerClass (default: only Services without one). */
  lbClass?: string;
  /** host:port for /metrics, /healthz, /readyz (default 127.0.0.1:7472; port 0 = any). */
  metricsBind?: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Default hostname-pid. */
  identity?: string;
  /** Services reconciled at once (default 32). */
  concurrency?: number;
  logLevel?: string;
  logger?: Logger;
  /** host:port for the validating admission webhook (HTTPS); unset = no webhook. */
  webhookBind?: string;
  /** The webhook Service's name (certificate DNS names), default bollard-webhook. */
  webhookService?: string;
  /** Extra IP SANs for the serving certificate (a url-based clientConfig on 127.0.0.1). */
  webhookIPs?: readonly string[];
  webhookSecret?: string;
  webhookConfigName?: string;
  /** Set on every webhook of the configuration with the caBundle (default: leave as deployed). */
  webhookFailurePolicy?: 'Fail' | 'Ignore';
  webhookCheckIntervalMs?: number;
  /** How Bollard answers a foreign writer of a Service's status (tests shorten the quiet period). */
  foreignWriterPolicy?: ReconcilerOptions['foreignWriterPolicy'];
}

export interface RunningController {
  stop(): Promise<void>;
  readonly reconciler: Reconciler;
  readonly elector: LeaderElector;
  readonly metrics: ControllerMetrics;
  readonly metricsPort: number;
  readonly identity: string;
  /** The webhook's port when it serves. */
  readonly webhookPort: number | undefined;
  /** Re-checks the webhook certificate now (renewal, reload, caBundle). */
  refreshWebhook(): Promise<void>;
}

export async function runController(opts: ControllerOptions = {}): Promise<RunningController> {
  const namespace = opts.namespace ?? 'metallb-system';
  const identity = opts.identity ?? `${hostname()}-${process.pid}`;
  const log = opts.logger ?? makeLogger({ level: opts.logLevel ?? 'info', component: 'controller' });
  const client = KubeClient.load(opts.kubeconfig);
  const metrics = new ControllerMetrics();
  const events = new EventRecorder(client, {
    controller: 'metallb-controller',
    instance: identity,
    onError: (err, ev) => {
      metrics.updateErrors.inc();
      log.warn(
        {
          err: err.message,
          reason: ev.reason,
          object: { kind: ev.regarding.kind, namespace: ev.regarding.namespace, name: ev.regarding.name },
        },
        'could not record Event',
      );
    },
  });
  const reconciler = new Reconciler({
    client,
    namespace,
    lbClass: opts.lbClass || undefined,
    log,
    metrics,
    events,
    concurrency: opts.concurrency,
    ...(opts.foreignWriterPolicy ? { foreignWriterPolicy: opts.foreignWriterPolicy } : {}),
  });
  registerAssignmentMetric(metrics.registry, () =>
    reconciler.isLeader ? reconciler.currentAllocator.allAssignments() : undefined,
  );
  const elector = new LeaderElector({
    client,
    namespace,
    name: opts.leaseName ?? 'metallb-controller',
    identity,
    leaseDurationMs: opts.leaseDurationMs,
    renewDeadlineMs: opts.renewDeadlineMs,
    retryPeriodMs: opts.retryPeriodMs,
  });
  let server: MetricsServer | undefined;
  let webhook: WebhookServer | undefined;
  let stopped = false;

  elector.on('started', () => {
    log.info({ identity }, 'became leader');
    background(log, 'start leading', reconciler.startLeading());
    ensureMemberlistSecret(client, namespace)
      .then(
        (made) =>
          made &&
          log.info(
            { object: { kind: 'Secret', namespace, name: 'memberlist' } },
            'created the memberlist Secret',
          ),
      )
      .catch((err: Error) =>
        log.warn(
          { err: err.message, object: { kind: 'Secret', namespace, name: 'memberlist' } },
          'could not ensure the memberlist Secret',
        ),
      );
  });
  elector.on('stopped', (reason) => reconciler.stopLeading(reason));
  elector.on('leader', (holder) => log.info({ leader: holder }, 'leader observed'));
  elector.on('error', (err) => log.warn({ err: err.message }, 'leader election request failed'));

  try {
    server = await startMetricsServer({
      bind: opts.metricsBind ?? '127.0.0.1:7472',
      registry: metrics.registry,
      ready: () => reconciler.ready,
      notReadyReason: () => 'caches not synced',
    });
    log.info(
      { identity, namespace, lbClass: opts.lbClass ?? '', metrics: `${server.host}:${server.port}` },
      'controller starting',
    );
    await reconciler.start();
    log.info({ services: reconciler.services.size }, 'caches synced');
    elector.start();
    if (opts.webhookBind) {
      webhook = await startWebhookServer({
        client,
        namespace,
        bind: opts.webhookBind,
        log,
        ...(opts.webhookCheckIntervalMs ? { checkIntervalMs: opts.webhookCheckIntervalMs } : {}),
        certs: new WebhookCerts({
          client,
          namespace,
          log,
          ...(opts.webhookService ? { serviceName: opts.webhookService } : {}),
          ...(opts.webhookIPs ? { ips: opts.webhookIPs } : {}),
          ...(opts.webhookSecret ? { secretName: opts.webhookSecret } : {}),
          ...(opts.webhookConfigName ? { webhookConfigName: opts.webhookConfigName } : {}),
          ...(opts.webhookFailurePolicy ? { failurePolicy: opts.webhookFailurePolicy } : {}),
        }),
      });
    }
  } catch (err) {
    await webhook?.close();
    await elector.stop();
    await reconciler.stop();
    await server?.close();
    client.close();
    throw err;
  }

  return {
    reconciler,
    elector,
    metrics,
    identity,
    metricsPort: server.port,
    webhookPort: webhook?.port,
    refreshWebhook: () => webhook?.refresh() ?? Promise.resolve(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await webhook?.close();
      reconciler.stopLeading('stopping');
      await elector.stop();
      await reconciler.stop();
      await server?.close();
      client.close();
      log.info({ identity }, 'controller stopped');
      log.flush?.();
    },
  };
}
