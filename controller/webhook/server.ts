// The validating admission webhook: an HTTPS server in the controller process answering AdmissionReview
// v1 for the metallb.io configuration kinds. Each review reads the current objects of the install
// namespace (and the Services, for deleting a pool in use) and asks admit() — parseConfig decides.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeClient } from '../../k8s/client.js';
import { RESOURCES, resourcePath } from '../../k8s/client.js';
import { METALLB } from '../../k8s/status.js';
import type { Logger } from '../../k8s/logger.js';
import { background } from '../../k8s/background.js';
import type { CRObject, ConfigInput, ConfigNode } from '../../config/types.js';
import type { ServiceLike } from '../request.js';
import { admit, type AdmissionState, type Operation } from './validate.js';
import { WebhookCerts, type TLSMaterial } from './certs.js';

export const WEBHOOK_PATH = '/validate-metallb-io';

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: {
    uid?: string;
    kind?: { group?: string; version?: string; kind?: string };
    name?: string;
    namespace?: string;
    operation?: Operation;
    object?: CRObject | null;
    oldObject?: CRObject | null;
  };
}

/**
 * The Nodes, for the rules MetalLB decides on them; undefined when they cannot be listed (the
 * controller's Role may not allow it): the parse then decides on the selectors alone.
 */
async function listNodes(client: KubeClient): Promise<ConfigNode[] | undefined> {
  try {
    const list = await client.get<{
      items?: { metadata?: { name?: string; labels?: Record<string, string> } }[];
    }>(resourcePath(RESOURCES.nodes));
    return (list.items ?? []).map((n) => ({
      name: n.metadata?.name ?? '',
      labels: n.metadata?.labels ?? {},
    }));
  } catch {
    return undefined;
  }
}

/** Reads what admit() needs from the apiserver. */
export async function loadAdmissionState(
  client: KubeClient,
  namespace: string,
  withServices: boolean,
): Promise<AdmissionState> {
  const list = async <T>(path: string): Promise<T[]> => (await client.get<{ items?: T[] }>(path)).items ?? [];
  const cr = (r: (typeof METALLB)[keyof typeof METALLB]) => list<CRObject>(resourcePath(r, namespace));
  const [ipAddressPools, l2Advertisements, bgpAdvertisements, bgpPeers, bfdProfiles, communities, services] =
    await Promise.all([
      cr(METALLB.ipAddressPools),
      cr(METALLB.l2Advertisements),
      cr(METALLB.bgpAdvertisements),
      cr(METALLB.bgpPeers),
      cr(METALLB.bfdProfiles),
      cr(METALLB.communities),
      withServices ? list<ServiceLike>(resourcePath(RESOURCES.services)) : Promise.resolve([]),
    ]);
  let namespaceTerminating = false;
  if (withServices) {
    // (list with a field selector: the controller may list namespaces, not get them)
    const list = await client
      .get<{ items?: { metadata?: { deletionTimestamp?: string } }[] }>(resourcePath(RESOURCES.namespaces), {
        fieldSelector: `metadata.name=${namespace}`,
      })
      .catch(() => undefined);
    const ns = list?.items?.[0];
    namespaceTerminating = !!ns?.metadata?.deletionTimestamp;
  }
  const nodes = await listNodes(client);
  const current: ConfigInput = {
    ipAddressPools,
    l2Advertisements,
    bgpAdvertisements,
    bgpPeers,
    bfdProfiles,
    communities,
    ...(nodes ? { nodes } : {}),
  };
  return { namespace, current, services, namespaceTerminating };
}

/** One AdmissionReview in, one out (pure apart from reading the state). */
export async function review(
  body: AdmissionReview,
  state: (withServices: boolean) => Promise<AdmissionState>,
): Promise<AdmissionReview & { response: Record<string, unknown> }> {
  const req = body.request ?? {};
  const uid = req.uid ?? '';
  const kind = req.kind?.kind ?? '';
  const operation = req.operation ?? 'CREATE';
  const obj = operation === 'DELETE' ? (req.oldObject ?? undefined) : (req.object ?? undefined);
  const name = req.name || obj?.metadata?.name || '';
  const decision = admit(
    {
      operation,
      kind,
      namespace: req.namespace,
      name,
      ...(operation !== 'DELETE' && req.object ? { object: req.object } : {}),
    },
    await state(operation === 'DELETE'),
  );
  const response = decision.allowed
    ? { uid, allowed: true, ...(decision.warnings.length ? { warnings: decision.warnings } : {}) }
    : { uid, allowed: false, status: { code: 422, reason: 'Invalid', message: decision.message } };
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export interface WebhookServerOptions {
  client: KubeClient;
  namespace: string;
  /** host:port (port 0 = any). */
  bind: string;
  certs: WebhookCerts;
  /** How often the certificate is checked for renewal (default 1 h). */
  checkIntervalMs?: number;
  log: Logger;
  onReview?: (allowed: boolean) => void;
}

export interface WebhookServer {
  readonly port: number;
  readonly host: string;
  /** Re-checks the certificate now (renew + publish when due). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

function splitBind(bind: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(bind);
  if (!m) throw new Error(`invalid --webhook-bind "${bind}" (host:port)`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<WebhookServer> {
  const { host, port } = splitBind(o.bind);
  let material: TLSMaterial = await o.certs.ensure();
  const publish = async (): Promise<void> => {
    try {
      if (!(await o.certs.publish(material)))
        o.log.warn(
          { object: { kind: 'ValidatingWebhookConfiguration', name: o.certs.webhookConfigName } },
          'ValidatingWebhookConfiguration not found; caBundle not published (will retry)',
        );
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'could not publish the webhook caBundle (will retry)');
    }
  };
  const state = (withServices: boolean) => loadAdmissionState(o.client, o.namespace, withServices);
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const send = (code: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method === 'GET' && req.url === '/healthz') return send(200, { ok: true });
    if (req.method !== 'POST' || !req.url?.startsWith(WEBHOOK_PATH)) return send(404, { error: 'not found' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 3 * 1024 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let body: AdmissionReview;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
      } catch {
        return send(400, { error: 'not an AdmissionReview' });
      }
      review(body, state).then(
        (out) => {
          const allowed = out.response.allowed === true;
          o.onReview?.(allowed);
          if (!allowed)
            o.log.info(
              {
                object: {
                  kind: body.request?.kind?.kind,
                  namespace: body.request?.namespace,
                  name: body.request?.name,
                },
                operation: body.request?.operation,
                reason: (out.response.status as { message?: string } | undefined)?.message,
              },
              'admission denied',
            );
          send(200, out);
        },
        (err: Error) => {
          o.log.warn({ err: err.message }, 'admission review failed');
          send(500, { error: err.message });
        },
      );
    });
  };
  const server: Server = createServer(
    { cert: material.cert, key: material.key, minVersion: 'TLSv1.2' },
    handle,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => o.log.warn({ err: err.message }, 'webhook server error'));
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  await publish();
  const refresh = async (): Promise<void> => {
    try {
      const next = await o.certs.ensure();
      const changed = next.cert !== material.cert;
      material = next;
      if (changed) {
        server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
        o.log.info({}, 'webhook certificate reloaded');
      }
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'webhook certificate check failed (will retry)');
    }
    await publish();
  };
  const timer = setInterval(
    () => background(o.log, 'check the webhook certificate', refresh()),
    o.checkIntervalMs ?? 3_600_000,
  );
  timer.unref();
  o.log.info({ bind: `${host}:${boundPort}`, path: WEBHOOK_PATH }, 'webhook serving');
  return {
    port: boundPort,
    host,
    refresh,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
