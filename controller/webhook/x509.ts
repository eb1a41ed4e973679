// The webhook's certificates: a self-signed CA and a serving certificate with subjectAltNames, ECDSA
// P-256 / SHA-256, written by PKI.js (pkijs, with asn1js for the few values it takes as ASN.1). Node's
// crypto makes the keys and signs through WebCrypto, and parses certificates, but cannot write one.
// Only controller/webhook/certs.ts loads this module, with `await import()`, and only when it issues
// certificates: nothing else (the speaker above all) pays for the library.
import { KeyObject, X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { parseIp } from '../../proto/address.js';

export interface KeyPair {
  readonly key: KeyObject;
  readonly cert: string;
  readonly keyPem: string;
}

export interface CertOptions {
  readonly commonName: string;
  readonly validDays: number;
  readonly now?: Date;
  /** DNS names and IP addresses for subjectAltName (serving certificates). */
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
// pkijs names the DOM's WebCrypto types, which Node's are (this project compiles without the DOM lib).
type EngineCrypto = pkijs.CryptoEngineParameters['crypto'];
type SigningKey = Parameters<pkijs.Certificate['sign']>[0];
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as EngineCrypto });

// RFC 5280 object identifiers.
const OID = {
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

// GeneralName choices (RFC 5280 §4.2.1.6).
const DNS_NAME = 2;
const IP_ADDRESS = 7;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function name(cn: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: cn }) }),
    ],
  });
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
function time(ms: number): pkijs.Time {
  const value = new Date(Math.floor(ms / 1000) * 1000);
  const type = value.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime;
  return new pkijs.Time({ type, value });
}

function extension(extnID: string, critical: boolean, value: { toBER(): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER() });
}

/** keyUsage bits, numbered as RFC 5280 §4.2.1.3 numbers them (0 = digitalSignature). */
function keyUsage(...bitNumbers: number[]): asn1js.BitString {
  const last = Math.max(...bitNumbers);
  const bytes = new Uint8Array(Math.floor(last / 8) + 1);
  for (const n of bitNumbers) bytes[n >> 3] = (bytes[n >> 3] ?? 0) | (0x80 >> (n & 7));
  return new asn1js.BitString({ valueHex: bytes, unusedBits: 7 - (last & 7) });
}
const DIGITAL_SIGNATURE = 0;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

function extensions(opts: CertOptions, ca: boolean): pkijs.Extension[] {
  if (ca)
    return [
      extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: true }).toSchema()),
      extension(OID.keyUsage, true, keyUsage(KEY_CERT_SIGN, CRL_SIGN)),
    ];
  const altNames = [
    ...(opts.dnsNames ?? []).map((value) => new pkijs.GeneralName({ type: DNS_NAME, value })),
    // iPAddress SANs are the 4 or 16 bytes proto/address reads from any text form (an IPv4-mapped IPv6
    // address stays 16 bytes); text that is no address is left out.
    ...(opts.ips ?? []).flatMap((text) => {
      const ip = parseIp(text);
      return ip
        ? [new pkijs.GeneralName({ type: IP_ADDRESS, value: new asn1js.OctetString({ valueHex: ip.bytes }) })]
        : [];
    }),
  ];
  return [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false }).toSchema()),
    extension(OID.keyUsage, true, keyUsage(DIGITAL_SIGNATURE)),
    extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] }).toSchema()),
    ...(altNames.length > 0
      ? [extension(OID.subjectAltName, false, new pkijs.AltName({ altNames }).toSchema())]
      : []),
  ];
}

async function build(
  opts: CertOptions,
  subjectKey: webcrypto.CryptoKey,
  issuer: { name: string; key: webcrypto.CryptoKey },
  ca: boolean,
): Promise<string> {
  const now = (opts.now ?? new Date()).getTime();
  const cert = new pkijs.Certificate();
  cert.version = 2; // v3
  // A positive 128-bit serial number, never starting with a zero byte.
  cert.serialNumber = new asn1js.Integer({ valueHex: Buffer.concat([Buffer.from([0x01]), randomBytes(15)]) });
  cert.issuer = name(issuer.name);
  cert.subject = name(opts.commonName);
  cert.notBefore = time(now - 5 * 60_000); // tolerate clock skew
  cert.notAfter = time(now + opts.validDays * 86_400_000);
  cert.extensions = extensions(opts, ca);
  await cert.subjectPublicKeyInfo.importKey(subjectKey as unknown as SigningKey, engine);
  await cert.sign(issuer.key as unknown as SigningKey, 'SHA-256', engine);
  return pem('CERTIFICATE', cert.toSchema(true).toBER());
}

interface NewKey {
  readonly privateKey: webcrypto.CryptoKey;
  readonly publicKey: webcrypto.CryptoKey;
  readonly key: KeyObject;
  readonly keyPem: string;
}

async function newKey(): Promise<NewKey> {
  const { privateKey, publicKey } = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const key = KeyObject.from(privateKey);
  return { privateKey, publicKey, key, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A self-signed CA. */
export async function makeCA(opts: CertOptions): Promise<KeyPair> {
  const k = await newKey();
  const cert = await build(opts, k.publicKey, { name: opts.commonName, key: k.privateKey }, true);
  return { key: k.key, keyPem: k.keyPem, cert };
}

/** A serving certificate signed by `ca`. */
export async function makeServingCert(
  ca: { cert: string; keyPem: string },
  opts: CertOptions,
): Promise<KeyPair> {
  const k = await newKey();
  const issuer = new X509Certificate(ca.cert).subject.replace(/^CN=/, '');
  const pkcs8 = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const caKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC, false, ['sign']);
  const cert = await build(opts, k.publicKey, { name: issuer, key: caKey }, false);
  return { key: k.key, keyPem: k.keyPem, cert };
}
