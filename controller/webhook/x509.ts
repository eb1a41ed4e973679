// Minimal X.509 v3 certificate writer on Node's crypto (which can sign and parse, but not write
// certificates): DER encoding of exactly the structures we need — a self-signed CA and a serving
// certificate with subjectAltNames — signed with ECDSA P-256 / SHA-256. No dependency.
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { parseIp } from '../../proto/address.js';

// ------------------------------------------------------------------------------------------ DER

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const ctx = (n: number, body: Buffer, constructed = true): Buffer =>
  tlv((constructed ? 0xa0 : 0x80) | n, body);

/** A positive INTEGER from big-endian bytes (minimal encoding). */
function integer(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let b = bytes.subarray(i);
  if ((b[0] ?? 0) & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(text: string): Buffer {
  const parts = text.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) stack.unshift(0x80 | (v & 0x7f));
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));

function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const p = (n: number) => String(n).padStart(2, '0');
  const body = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${body}`)) : tlv(0x18, Buffer.from(`${y}${body}`));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function name(cn: string): Buffer {
  return seq(set(seq(oid('2.5.4.3'), utf8(cn))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

// ------------------------------------------------------------------------------------------ certificates

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

function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function build(
  opts: CertOptions,
  subjectKey: KeyObject,
  issuer: { name: string; key: KeyObject },
  ca: boolean,
): string {
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate clock skew
  const notAfter = new Date(now.getTime() + opts.validDays * 86_400_000);
  const spki = createPublicKey(subjectKey).export({ type: 'spki', format: 'der' });
  const exts: Buffer[] = [];
  if (ca) {
    exts.push(extension('2.5.29.19', true, seq(bool(true))));
    exts.push(extension('2.5.29.15', true, bits(Buffer.from([0x06]), 1))); // keyCertSign | cRLSign
  } else {
    exts.push(extension('2.5.29.19', true, seq()));
    exts.push(extension('2.5.29.15', true, bits(Buffer.from([0x80]), 7))); // digitalSignature
    exts.push(extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1')))); // serverAuth
    const sans = [
      ...(opts.dnsNames ?? []).map((d) => ctx(2, Buffer.from(d, 'ascii'), false)),
      ...(opts.ips ?? []).flatMap((text) => {
        // iPAddress SANs are the 4 or 16 bytes (RFC 5280 §4.2.1.6); text that is no address is left out.
        const ip = parseIp(text);
        return ip ? [ctx(7, Buffer.from(ip.bytes), false)] : [];
      }),
    ];
    if (sans.length > 0) exts.push(extension('2.5.29.17', false, seq(...sans)));
  }
  const tbs = seq(
    ctx(0, integer(Buffer.from([2]))), // v3
    integer(Buffer.concat([Buffer.from([0x01]), randomBytes(15)])),
    ECDSA_SHA256,
    name(issuer.name),
    seq(time(notBefore), time(notAfter)),
    name(opts.commonName),
    spki,
    ctx(3, seq(...exts)),
  );
  const sig = sign('sha256', tbs, { key: issuer.key, dsaEncoding: 'der' });
  return pem('CERTIFICATE', seq(tbs, ECDSA_SHA256, bits(sig)));
}

function newKey(): { key: KeyObject; keyPem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { key: privateKey, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A self-signed CA. */
export function makeCA(opts: CertOptions): KeyPair {
  const k = newKey();
  return { ...k, cert: build(opts, k.key, { name: opts.commonName, key: k.key }, true) };
}

/** A serving certificate signed by `ca`. */
export function makeServingCert(ca: { cert: string; keyPem: string }, opts: CertOptions): KeyPair {
  const k = newKey();
  const issuer = new X509Certificate(ca.cert).subject.replace(/^CN=/, '');
  return { ...k, cert: build(opts, k.key, { name: issuer, key: createPrivateKey(ca.keyPem) }, false) };
}
