// The webhook's decisions (pure) and its certificates: admit() over parseConfig of the would-be
// configuration; the CA and serving certificate verify with Node's own X.509 parser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { admit, wouldBe, type AdmissionState } from '../../../controller/webhook/validate.js';
import { review } from '../../../controller/webhook/server.js';
import { makeCA, makeServingCert } from '../../../controller/webhook/x509.js';
import type { CRObject } from '../../../config/types.js';

const NS = 'metallb-system';
const pool = (name: string, addresses: string[]): CRObject => ({
  apiVersion: 'metallb.io/v1beta1',
  kind: 'IPAddressPool',
  metadata: { name, namespace: NS },
  spec: { addresses },
});

function state(over: Partial<AdmissionState> = {}): AdmissionState {
  return { namespace: NS, current: { ipAddressPools: [pool('a', ['10.0.0.0/24'])] }, services: [], ...over };
}

describe('admit', () => {
  it('create: an overlapping pool is refused with the parse message', () => {
    const d = admit(
      {
        operation: 'CREATE',
        kind: 'IPAddressPool',
        namespace: NS,
        name: 'b',
        object: pool('b', ['10.0.0.128/25']),
      },
      state(),
    );
    assert.equal(d.allowed, false);
    assert.match(d.allowed ? '' : d.message, /overlaps/);
  });

  it('update replaces the object; delete removes it', () => {
    const cur = { ipAddressPools: [pool('a', ['10.0.0.0/24']), pool('b', ['10.1.0.0/24'])] };
    assert.deepEqual(
      (
        wouldBe(cur, {
          operation: 'UPDATE',
          kind: 'IPAddressPool',
          namespace: NS,
          name: 'b',
          object: pool('b', ['10.2.0.0/24']),
        }).ipAddressPools ?? []
      ).map((p) => (p.spec as { addresses: string[] }).addresses[0]),
      ['10.0.0.0/24', '10.2.0.0/24'],
    );
    assert.equal(
      wouldBe(cur, { operation: 'DELETE', kind: 'IPAddressPool', namespace: NS, name: 'a' }).ipAddressPools
        ?.length,
      1,
    );
  });

  it('errors that were already there do not block an unrelated change', () => {
    const broken = state({ current: { ipAddressPools: [pool('bad', ['10.9.0.10-10.9.0.1'])] } });
    const d = admit(
      {
        operation: 'CREATE',
        kind: 'IPAddressPool',
        namespace: NS,
        name: 'ok',
        object: pool('ok', ['10.3.0.0/24']),
      },
      broken,
    );
    assert.equal(d.allowed, true);
  });

  it('outside the install namespace is refused; other kinds pass', () => {
    const d = admit(
      {
        operation: 'CREATE',
        kind: 'IPAddressPool',
        namespace: 'default',
        name: 'x',
        object: pool('x', ['10.4.0.0/24']),
      },
      state(),
    );
    assert.equal(d.allowed, false);
    assert.equal(
      admit({ operation: 'CREATE', kind: 'ServiceL2Status', namespace: 'default', name: 'x' }, state())
        .allowed,
      true,
    );
  });

  it('deleting a pool a Service holds an address from is refused, naming the Service', () => {
    const d = admit(
      { operation: 'DELETE', kind: 'IPAddressPool', namespace: NS, name: 'a' },
      state({
        services: [
          {
            metadata: { name: 'web', namespace: 'shop' },
            spec: { type: 'LoadBalancer' },
            status: { loadBalancer: { ingress: [{ ip: '10.0.0.7' }] } },
          },
        ],
      }),
    );
    assert.equal(
      d.allowed ? '' : d.message,
      'cannot delete IPAddressPool a: it is in use by 1 Service: shop/web (10.0.0.7); move or delete them first',
    );
  });

  it('deletions go through while the install namespace is being deleted', () => {
    const inUse = state({
      namespaceTerminating: true,
      services: [
        {
          metadata: { name: 'web', namespace: 'shop' },
          status: { loadBalancer: { ingress: [{ ip: '10.0.0.7' }] } },
        },
      ],
    });
    assert.equal(
      admit({ operation: 'DELETE', kind: 'IPAddressPool', namespace: NS, name: 'a' }, inUse).allowed,
      true,
    );
  });

  it('new warnings are returned with an allowed change', () => {
    const d = admit(
      {
        operation: 'CREATE',
        kind: 'L2Advertisement',
        namespace: NS,
        name: 'adv',
        object: {
          apiVersion: 'metallb.io/v1beta1',
          kind: 'L2Advertisement',
          metadata: { name: 'adv', namespace: NS },
          spec: { ipAddressPools: ['nope'] },
        },
      },
      state(),
    );
    assert.equal(d.allowed, true);
    assert.match(d.allowed ? (d.warnings[0] ?? '') : '', /IPAddressPool "nope" does not exist/);
  });

  // MetalLB: internal/config/validator.go resetTransientErrorsFields (bfdProfile and alias communities
  // are not checked at admission); webhookv1beta1/bfdprofile_webhook.go validateBFDDelete; community
  // deletion is never refused.
  it('names of a BFDProfile or Community alias not created yet are admitted with a warning, in any order', () => {
    const cr = (kind: string, name: string, spec: Record<string, unknown>): CRObject => ({
      apiVersion: 'metallb.io/v1beta2',
      kind,
      metadata: { name, namespace: NS },
      spec,
    });
    const peer = cr('BGPPeer', 'r1', {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: '10.9.0.1',
      bfdProfile: 'fast',
    });
    const d = admit(
      { operation: 'CREATE', kind: 'BGPPeer', namespace: NS, name: 'r1', object: peer },
      state(),
    );
    assert.deepEqual(d, {
      allowed: true,
      warnings: [
        'BGPPeer metallb-system/r1: spec.bfdProfile: BFDProfile "fast" does not exist; admitted, but the configuration is invalid until it exists',
      ],
    });
    const adv = cr('BGPAdvertisement', 'a', { communities: ['edge', '1:x'] });
    const a = admit(
      { operation: 'CREATE', kind: 'BGPAdvertisement', namespace: NS, name: 'a', object: adv },
      state(),
    );
    assert.equal(a.allowed, false, 'a value with ":" that is no community is refused');
    assert.match(a.allowed ? '' : a.message, /spec\.communities\[1\]/);
    assert.doesNotMatch(a.allowed ? '' : a.message, /spec\.communities\[0\]/);
    // deleting what is used: a BFDProfile is refused, a Community is not
    const withBoth = state({
      current: {
        ipAddressPools: [pool('a', ['10.0.0.0/24'])],
        bgpPeers: [peer],
        bfdProfiles: [cr('BFDProfile', 'fast', {})],
        communities: [cr('Community', 'c', { communities: [{ name: 'edge', value: '1:1' }] })],
        bgpAdvertisements: [cr('BGPAdvertisement', 'a', { communities: ['edge'] })],
      },
    });
    const delBfd = admit({ operation: 'DELETE', kind: 'BFDProfile', namespace: NS, name: 'fast' }, withBoth);
    assert.equal(delBfd.allowed, false);
    assert.match(delBfd.allowed ? '' : delBfd.message, /cannot delete BFDProfile fast/);
    const delCommunity = admit(
      { operation: 'DELETE', kind: 'Community', namespace: NS, name: 'c' },
      withBoth,
    );
    assert.equal(delCommunity.allowed, true);
  });

  it('an AdmissionReview gets a response with the same uid', async () => {
    const out = await review(
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'u1',
          kind: { kind: 'IPAddressPool' },
          name: 'b',
          namespace: NS,
          operation: 'CREATE',
          object: pool('b', ['10.0.0.0/25']),
        },
      },
      () => Promise.resolve(state()),
    );
    assert.equal(out.response.uid, 'u1');
    assert.equal(out.response.allowed, false);
    assert.match((out.response.status as { message: string }).message, /overlaps/);
  });
});

describe('x509', () => {
  it('a CA and a serving certificate for DNS names and IPs, verified by Node', async () => {
    const now = new Date('2030-06-01T00:00:00Z');
    const ca = await makeCA({ commonName: 'test-ca', validDays: 10, now });
    const leaf = await makeServingCert(ca, {
      commonName: 'svc',
      validDays: 5,
      dnsNames: ['svc.ns.svc'],
      ips: ['127.0.0.1', 'fd00::1'],
      now,
    });
    const c = new X509Certificate(leaf.cert);
    const a = new X509Certificate(ca.cert);
    assert.ok(a.ca);
    assert.ok(!c.ca);
    assert.ok(c.verify(a.publicKey));
    assert.ok(c.checkIssued(a));
    assert.equal(c.checkHost('svc.ns.svc'), 'svc.ns.svc');
    assert.equal(c.checkIP('127.0.0.1'), '127.0.0.1');
    assert.ok(c.checkIP('fd00::1'));
    assert.equal(new Date(c.validTo).toISOString(), '2030-06-06T00:00:00.000Z');
    // 2050 and later use GeneralizedTime.
    const far = await makeCA({ commonName: 'far', validDays: 365 * 30, now });
    assert.equal(new Date(new X509Certificate(far.cert).validTo).getUTCFullYear(), 2060);
  });

  it('IP SANs hold the bytes proto/address reads from any text form; text that is no address is left out', async () => {
    const now = new Date('2030-06-01T00:00:00Z');
    const ca = await makeCA({ commonName: 'test-ca', validDays: 10, now });
    const leaf = await makeServingCert(ca, {
      commonName: 'svc',
      validDays: 5,
      ips: ['::ffff:10.0.0.1', '2001:DB8:0:0::1', '1:0:0:1:0:0:0:1', 'fe80::1%eth0', 'not-an-ip'],
      now,
    });
    const c = new X509Certificate(leaf.cert);
    // OpenSSL writes IPv6 SANs uncompressed and upper case.
    assert.equal(
      c.subjectAltName,
      'IP Address:0:0:0:0:0:FFFF:A00:1, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:1:0:0:1:0:0:0:1',
    );
    assert.ok(c.checkIP('2001:db8::1'));
    assert.ok(c.checkIP('::ffff:10.0.0.1'));
  });
});
