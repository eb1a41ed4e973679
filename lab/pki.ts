// A throwaway PKI for the lab's control plane, made with the openssl command (Node has no X.509 writer):
// a CA, serving certificates with SANs, client certificates, and the service-account signing key.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** An EC P-256 private key in PEM (PKCS#8). */
export function makeKey(dir: string, name: string): string {
  const key = join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  return key;
}

/** The public half of `key`, in PEM. */
export function publicKeyOf(dir: string, key: string, name: string): string {
  const pub = join(dir, `${name}.pub`);
  openssl(['pkey', '-in', key, '-pubout', '-out', pub], dir);
  return pub;
}

export function makeCA(dir: string, commonName: string): CertFiles {
  const key = makeKey(dir, 'ca');
  const cert = join(dir, 'ca.crt');
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-sha256',
      '-days',
      '3650',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key };
}

export interface CertRequest {
  name: string;
  commonName: string;
  organization?: string;
  /** Subject alternative names: IP addresses and DNS names (serving certificates). */
  ips?: string[];
  dnsNames?: string[];
  usage: 'server' | 'client' | 'both';
}

export function makeCert(dir: string, ca: CertFiles, req: CertRequest): CertFiles {
  const key = makeKey(dir, req.name);
  const csr = join(dir, `${req.name}.csr`);
  const cert = join(dir, `${req.name}.crt`);
  const subj = `/CN=${req.commonName}` + (req.organization ? `/O=${req.organization}` : '');
  openssl(['req', '-new', '-key', key, '-subj', subj, '-out', csr], dir);
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${req.usage === 'server' ? 'serverAuth' : req.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth'}`,
  ];
  const sans = [...(req.ips ?? []).map((ip) => `IP:${ip}`), ...(req.dnsNames ?? []).map((d) => `DNS:${d}`)];
  if (sans.length > 0) ext.push(`subjectAltName=${sans.join(',')}`);
  const extFile = join(dir, `${req.name}.ext`);
  writeFileSync(extFile, ext.join('\n') + '\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      extFile,
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key };
}
