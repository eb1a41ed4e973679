// The webhook's TLS material as WebhookCerts issues it (through controller/webhook/x509.ts and its
// library), read back with Node's own X.509 parser: the subjectAltNames, the validity on the injected
// clock, CA:TRUE and the key usages, the serving certificate verifying against the CA; and renewal
// before expiry, with the old CA kept in the caBundle. The Secret lives in an in-memory stand-in for the
// apiserver (in-process only).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { pino } from 'pino';
import { ApiError, type KubeClient } from '../../../k8s/client.js';
import { WebhookCerts } from '../../../controller/webhook/certs.js';
import { FakeClock } from '../../support/fake-clock.js';

const DAY = 86_400_000;
const START = Date.parse('2031-03-01T12:00:00Z');

/** get/create/replace of Secrets by path, as the apiserver answers them. */
function secretStore(): { client: KubeClient; writes: number } {
  const objects = new Map<string, unknown>();
  const out = {
    writes: 0,
    client: {
      get: (path: string) => {
        const o = objects.get(path);
        return o
          ? Promise.resolve(structuredClone(o))
          : Promise.reject(new ApiError('GET', path, 404, 'NotFound', ''));
      },
      create: (path: string, body: { metadata: { name: string } }) => {
        out.writes++;
        objects.set(`${path}/${body.metadata.name}`, structuredClone(body));
        return Promise.resolve(body);
      },
      replace: (path: string, body: unknown) => {
        out.writes++;
        objects.set(path, structuredClone(body));
        return Promise.resolve(body);
      },
    } as unknown as KubeClient,
  };
  return out;
}

/** The clock at START: FakeClock starts at 0 and moves only forward. */
function clockAtStart(): FakeClock {
  const c = new FakeClock();
  c.advance(START);
  return c;
}

/** The keyUsage extension of a certificate: its critical flag and the names of the bits set. */
function keyUsage(pem: string): { critical: boolean; usages: string[] } {
  const cert = pkijs.Certificate.fromBER(new X509Certificate(pem).raw);
  const ext = cert.extensions?.find((e) => e.extnID === '2.5.29.15');
  assert.ok(ext, 'keyUsage extension');
  const bits = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result;
  assert.ok(bits instanceof asn1js.BitString, 'keyUsage is a BIT STRING');
  const names = [
    'digitalSignature',
    'nonRepudiation',
    'keyEncipherment',
    'dataEncipherment',
    'keyAgreement',
    'keyCertSign',
    'cRLSign',
    'encipherOnly',
  ];
  const body = bits.valueBlock.valueHexView;
  const usages = names.filter((_, n) => ((body[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0);
  return { critical: ext.critical, usages };
}

describe('WebhookCerts issues the CA and serving certificate', () => {
  it('SANs for the Service names and IPs, validity from the clock, CA:TRUE, key usages, signed by the CA', async () => {
    const store = secretStore();
    const certs = new WebhookCerts({
      client: store.client,
      namespace: 'metallb-system',
      serviceName: 'bollard-webhook',
      ips: ['127.0.0.1', '::ffff:10.1.2.3', 'fd00::5'],
      dnsNames: ['webhook.example.test'],
      clock: clockAtStart(),
      log: pino({ level: 'silent' }),
    });
    const m = await certs.ensure();
    assert.equal(store.writes, 1);
    const ca = new X509Certificate(m.ca);
    const leaf = new X509Certificate(m.cert);

    assert.equal(ca.ca, true);
    assert.equal(leaf.ca, false);
    assert.ok(leaf.verify(ca.publicKey), 'the serving certificate verifies against the CA');
    assert.ok(leaf.checkIssued(ca));
    assert.ok(ca.verify(ca.publicKey), 'the CA is self-signed');
    assert.equal(leaf.subject, 'CN=bollard-webhook.metallb-system.svc');
    assert.equal(leaf.issuer, ca.subject);

    assert.deepEqual(keyUsage(m.ca), { critical: true, usages: ['keyCertSign', 'cRLSign'] });
    assert.deepEqual(keyUsage(m.cert), { critical: true, usages: ['digitalSignature'] });
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth');

    // Valid from five minutes before the clock (skew), for 365 days (serving) and 3650 days (CA).
    assert.equal(Date.parse(leaf.validFrom), START - 5 * 60_000);
    assert.equal(Date.parse(leaf.validTo), START + 365 * DAY);
    assert.equal(Date.parse(ca.validTo), START + 3650 * DAY);

    // OpenSSL writes IPv6 SANs uncompressed and upper case; the IPv4-mapped address stays 16 bytes.
    assert.equal(
      leaf.subjectAltName,
      [
        'DNS:bollard-webhook',
        'DNS:bollard-webhook.metallb-system',
        'DNS:bollard-webhook.metallb-system.svc',
        'DNS:bollard-webhook.metallb-system.svc.cluster.local',
        'DNS:webhook.example.test',
        'IP Address:127.0.0.1',
        'IP Address:0:0:0:0:0:FFFF:A01:203',
        'IP Address:FD00:0:0:0:0:0:0:5',
      ].join(', '),
    );
    for (const d of certs.dnsNames) assert.equal(leaf.checkHost(d, { wildcards: false }), d);
    assert.ok(leaf.checkIP('::ffff:10.1.2.3'));
    assert.equal(certs.why(m), undefined, 'what it issued, it accepts');
  });

  it('keeps the material until a third of the validity is left, then renews and keeps the old CA trusted', async () => {
    const store = secretStore();
    const clock = clockAtStart();
    const certs = new WebhookCerts({
      client: store.client,
      namespace: 'metallb-system',
      ips: ['127.0.0.1'],
      clock,
      log: pino({ level: 'silent' }),
    });
    const first = await certs.ensure();
    clock.advance(243 * DAY); // 365 d validity: renew with 121.67 d left, i.e. after 243.33 d
    assert.deepEqual(await certs.ensure(), first);
    assert.equal(store.writes, 1);
    clock.advance(DAY);
    assert.match(certs.why(first) ?? '', /^the serving certificate expires on /);
    const second = await certs.ensure();
    assert.equal(store.writes, 2);
    assert.notEqual(second.cert, first.cert);
    assert.equal(second.previousCa, first.ca);
    assert.equal(WebhookCerts.bundle(second), second.ca + first.ca);
    assert.equal(Date.parse(new X509Certificate(second.cert).validFrom), clock.now() - 5 * 60_000);
  });
});
