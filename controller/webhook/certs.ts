// The webhook's TLS material: a self-signed CA and a serving certificate, kept in a Secret
// (bollard-webhook-cert) so every controller replica serves the same one, renewed before expiry, and
// the CA published as the caBundle of the ValidatingWebhookConfiguration.
import { X509Certificate } from 'node:crypto';
import { ApiError, type KubeClient } from '../../k8s/client.js';
import type { Logger } from '../../k8s/logger.js';
import { wallClock, type Clock } from '../../proto/clock.js';

export interface TLSMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** The CA replaced by the last renewal while it is still valid: trusted too, so replicas that still serve the old certificate keep working. */
  readonly previousCa?: string;
}

export interface WebhookCertOptions {
  client: KubeClient;
  namespace: string;
  secretName?: string;
  /** The webhook Service (DNS names <svc>.<ns>.svc[.cluster.local]). */
  serviceName?: string;
  /** Extra SANs (e.g. 127.0.0.1 for a url-based clientConfig). */
  ips?: readonly string[];
  dnsNames?: readonly string[];
  webhookConfigName?: string;
  /** Set failurePolicy on every webhook of the configuration when patching the caBundle. */
  failurePolicy?: 'Fail' | 'Ignore';
  certValidDays?: number;
  caValidDays?: number;
  /** Renew when less than this is left (default a third of the validity). */
  renewBeforeMs?: number;
  /** Wall time (certificate validity is wall time; default wallClock). */
  clock?: Clock;
  log: Logger;
}

interface SecretObj {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

interface VWC {
  metadata?: { resourceVersion?: string };
  webhooks?: { name?: string; failurePolicy?: string; clientConfig?: { caBundle?: string } }[];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

export class WebhookCerts {
  readonly secretName: string;
  readonly webhookConfigName: string;
  private readonly clock: Clock;

  constructor(private readonly o: WebhookCertOptions) {
    this.secretName = o.secretName ?? 'bollard-webhook-cert';
    this.webhookConfigName = o.webhookConfigName ?? 'bollard-validating-webhook';
    this.clock = o.clock ?? wallClock;
  }

  get dnsNames(): string[] {
    const svc = this.o.serviceName ?? 'bollard-webhook';
    const ns = this.o.namespace;
    return [
      svc,
      `${svc}.${ns}`,
      `${svc}.${ns}.svc`,
      `${svc}.${ns}.svc.cluster.local`,
      ...(this.o.dnsNames ?? []),
    ];
  }

  private path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/secrets/${encodeURIComponent(this.secretName)}`;
  }

  /** Why the material must be (re)made, or undefined when it is good. */
  why(m: TLSMaterial | undefined): string | undefined {
    if (!m || !m.ca || !m.cert || !m.key) return 'no certificate yet';
    try {
      const ca = new X509Certificate(m.ca);
      const cert = new X509Certificate(m.cert);
      if (!cert.verify(ca.publicKey)) return 'the certificate is not signed by the CA';
      const renewBefore = (notAfter: number, notBefore: number): number =>
        this.o.renewBeforeMs ?? (notAfter - notBefore) / 3;
      for (const [what, c] of [
        ['CA', ca],
        ['serving certificate', cert],
      ] as const) {
        const nb = Date.parse(c.validFrom);
        const na = Date.parse(c.validTo);
        if (this.clock.now() >= na - renewBefore(na, nb)) return `the ${what} expires on ${c.validTo}`;
      }
      for (const d of this.dnsNames)
        if (!cert.checkHost(d, { wildcards: false })) return `the certificate lacks ${d}`;
      for (const ip of this.o.ips ?? []) if (!cert.checkIP(ip)) return `the certificate lacks ${ip}`;
    } catch (err) {
      return `unreadable certificate: ${(err as Error).message}`;
    }
    return undefined;
  }

  private stillValid(pem: string): boolean {
    try {
      return Date.parse(new X509Certificate(pem).validTo) > this.clock.now();
    } catch {
      return false;
    }
  }

  /** The caBundle to publish: the CA, and the previous one while it is valid. */
  static bundle(m: TLSMaterial): string {
    return m.ca + (m.previousCa ?? '');
  }

  /** A fresh CA and serving certificate. The CA's key signs once and is dropped: it is never stored. */
  private async make(): Promise<TLSMaterial> {
    // The X.509 writer (and its library) is loaded only here, when a certificate is issued.
    const { makeCA, makeServingCert } = await import('./x509.js');
    const now = new Date(this.clock.now());
    const ca = await makeCA({
      commonName: `bollard-webhook-ca@${Math.floor(now.getTime() / 1000)}`,
      validDays: this.o.caValidDays ?? 3650,
      now,
    });
    const cert = await makeServingCert(ca, {
      commonName: `${this.o.serviceName ?? 'bollard-webhook'}.${this.o.namespace}.svc`,
      validDays: this.o.certValidDays ?? 365,
      dnsNames: this.dnsNames,
      ips: this.o.ips ?? [],
      now,
    });
    return { ca: ca.cert, cert: cert.cert, key: cert.keyPem };
  }

  /** The material in force: the Secret's when good, else a fresh one written to the Secret. */
  async ensure(): Promise<TLSMaterial> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret: SecretObj | undefined;
      try {
        secret = await this.o.client.get<SecretObj>(this.path());
      } catch (err) {
        if (!(err instanceof ApiError && err.notFound)) throw err;
      }
      const prevText = unb64(secret?.data?.['ca-previous.crt']);
      const have: TLSMaterial | undefined = secret?.data
        ? {
            ca: unb64(secret.data['ca.crt']),
            cert: unb64(secret.data['tls.crt']),
            key: unb64(secret.data['tls.key']),
            ...(prevText && this.stillValid(prevText) ? { previousCa: prevText } : {}),
          }
        : undefined;
      const why = this.why(have);
      if (!why && have) return have;
      const m = await this.make();
      const previousCa = have?.ca && this.stillValid(have.ca) ? have.ca : undefined;
      const body: SecretObj = {
        metadata: {
          name: this.secretName,
          namespace: this.o.namespace,
          ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
        },
        type: 'kubernetes.io/tls',
        data: {
          'ca.crt': b64(m.ca),
          'tls.crt': b64(m.cert),
          'tls.key': b64(m.key),
          ...(previousCa ? { 'ca-previous.crt': b64(previousCa) } : {}),
        },
      };
      try {
        if (secret) await this.o.client.replace(this.path(), { apiVersion: 'v1', kind: 'Secret', ...body });
        else
          await this.o.client.create(`/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/secrets`, {
            apiVersion: 'v1',
            kind: 'Secret',
            ...body,
          });
        this.o.log.info(
          { reason: why, object: { kind: 'Secret', namespace: this.o.namespace, name: this.secretName } },
          'webhook certificate issued',
        );
        return { ca: m.ca, cert: m.cert, key: m.key, ...(previousCa ? { previousCa } : {}) };
      } catch (err) {
        // Another replica wrote it first: read theirs.
        if (err instanceof ApiError && err.conflict) continue;
        throw err;
      }
    }
    throw new Error(`Secret ${this.o.namespace}/${this.secretName}: kept conflicting`);
  }

  /** Puts the CA into every webhook of the ValidatingWebhookConfiguration (and failurePolicy if set). Returns false if it does not exist. */
  async publish(ca: string | TLSMaterial): Promise<boolean> {
    const pemBundle = typeof ca === 'string' ? ca : WebhookCerts.bundle(ca);
    const path = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${encodeURIComponent(this.webhookConfigName)}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      let vwc: VWC;
      try {
        vwc = await this.o.client.get<VWC>(path);
      } catch (err) {
        if (err instanceof ApiError && err.notFound) return false;
        throw err;
      }
      const bundle = b64(pemBundle);
      const fp = this.o.failurePolicy;
      const hooks = vwc.webhooks ?? [];
      if (hooks.every((h) => h.clientConfig?.caBundle === bundle && (!fp || h.failurePolicy === fp)))
        return true;
      const next = {
        ...vwc,
        webhooks: hooks.map((h) => ({
          ...h,
          ...(fp ? { failurePolicy: fp } : {}),
          clientConfig: { ...h.clientConfig, caBundle: bundle },
        })),
      };
      try {
        await this.o.client.replace(path, next);
        this.o.log.info(
          { object: { kind: 'ValidatingWebhookConfiguration', name: this.webhookConfigName } },
          'webhook caBundle published',
        );
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.conflict) continue;
        throw err;
      }
    }
    return false;
  }
}
