// A real Kubernetes control plane on loopback: etcd + kube-apiserver built from the pinned Go modules,
// with a generated PKI, RBAC authorization, service-account tokens, dual-stack Service CIDRs and the
// NodePort range. Used by integration tests and by the lab.
import {
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureKubeBinaries, type KubeBinaries } from './toolchain.js';
import { makeCA, makeCert, makeKey, publicKeyOf, type CertFiles } from './pki.js';
import { ManagedProcess, ProcessError, pidAlive, waitFor } from './process.js';

export const SERVICE_CIDRS = ['10.96.0.0/16', 'fd00:10:96::/112'] as const;
export const NODE_PORT_RANGE = '30000-32767';
const DIR_PREFIX = 'bollard-cp-';

export interface ControlPlaneOptions {
  /** Folder to hold certs, data and logs; default a fresh temporary folder removed on stop. */
  dir?: string;
  /** Extra IPs for the apiserver's serving certificate (e.g. the lab's forwarder address). */
  extraServingIPs?: string[];
  /** Extra kube-apiserver flags (e.g. `--min-request-timeout=5`). */
  apiserverArgs?: string[];
  /** Fixed apiserver port (default: a free one). */
  apiserverPort?: number;
  /** Where etcd and kube-apiserver log (default `<dir>/logs`). */
  logDir?: string;
  /**
   * Real kubelets will join: the Node authorizer and NodeRestriction admission guard them, and the
   * apiserver gets a client certificate to reach them (logs, exec, port-forward).
   */
  kubelets?: boolean;
  say?: (line: string) => void;
}

export interface ApiResponse {
  status: number;
  body: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A process of the control plane exited because an address it was to listen on is taken. */
function addressInUse(err: unknown): boolean {
  return err instanceof ProcessError && /address already in use/i.test(err.reason);
}

/** Removes the temporary folders of control planes whose owning process is gone (a crashed run). */
export function removeStaleControlPlanes(): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      // no owner file: half-made; remove
    }
    if (owner > 0 && pidAlive(owner)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

export class ControlPlane {
  readonly server: string;
  readonly adminKubeconfig: string;
  private etcdProc: ManagedProcess | undefined;
  private apiProc: ManagedProcess | undefined;
  private stopped = false;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly bins: KubeBinaries,
    readonly ca: CertFiles,
    private readonly admin: CertFiles,
    private readonly ports: { etcdClient: number; etcdPeer: number; apiserver: number },
    private readonly apiserverArgs: string[],
    private readonly say: (line: string) => void,
    private readonly logsIn?: string,
  ) {
    this.server = `https://127.0.0.1:${ports.apiserver}`;
    this.adminKubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(
      this.adminKubeconfig,
      kubeconfigYaml(this.server, readFileSync(ca.cert, 'utf8'), 'admin', {
        'client-certificate-data': Buffer.from(readFileSync(admin.cert)).toString('base64'),
        'client-key-data': Buffer.from(readFileSync(admin.key)).toString('base64'),
      }),
      { mode: 0o600 },
    );
  }

  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const say = opts.say ?? (() => undefined);
    const bins = ensureKubeBinaries(say);
    removeStaleControlPlanes();
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), DIR_PREFIX));
    mkdirSync(join(dir, 'pki'), { recursive: true });
    writeFileSync(join(dir, 'owner.pid'), String(process.pid));
    const pki = join(dir, 'pki');
    const ca = makeCA(pki, 'bollard-lab-ca');
    makeCert(pki, ca, {
      name: 'apiserver',
      commonName: 'kube-apiserver',
      usage: 'server',
      ips: ['127.0.0.1', '::1', '10.96.0.1', 'fd00:10:96::1', ...(opts.extraServingIPs ?? [])],
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
    });
    const admin = makeCert(pki, ca, {
      name: 'admin',
      commonName: 'bollard-admin',
      organization: 'system:masters',
      usage: 'client',
    });
    const saKey = makeKey(pki, 'sa');
    publicKeyOf(pki, saKey, 'sa');
    const kubeletArgs: string[] = [];
    if (opts.kubelets) {
      const kc = makeCert(pki, ca, {
        name: 'apiserver-kubelet-client',
        commonName: 'kube-apiserver-kubelet-client',
        organization: 'system:masters',
        usage: 'client',
      });
      kubeletArgs.push(
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        `--kubelet-client-certificate=${kc.cert}`,
        `--kubelet-client-key=${kc.key}`,
        '--kubelet-preferred-address-types=InternalIP',
      );
    }
    // A free port is only free until someone binds it: another lab starting beside this one (the
    // cluster tier runs in parallel) can take it between freePort() and the bind. A process that exits
    // because its address is taken is started again on new ports.
    for (let attempt = 1; ; attempt++) {
      const ports = {
        etcdClient: await freePort(),
        etcdPeer: await freePort(),
        apiserver: opts.apiserverPort ?? (await freePort()),
      };
      const cp = new ControlPlane(
        dir,
        ownsDir,
        bins,
        ca,
        admin,
        ports,
        [...kubeletArgs, ...(opts.apiserverArgs ?? [])],
        say,
        opts.logDir,
      );
      try {
        await cp.startEtcd();
        await cp.startApiserver();
        return cp;
      } catch (err) {
        const retry = attempt < 3 && opts.apiserverPort === undefined && addressInUse(err);
        await cp.stop({ keepDir: retry });
        if (!retry) throw err;
        say(`a port was taken meanwhile; starting the control plane again on new ports`);
        rmSync(join(dir, 'etcd'), { recursive: true, force: true });
      }
    }
  }

  /** The service-account signing key (kube-controller-manager's token controller signs with it). */
  get serviceAccountKey(): string {
    return join(this.dir, 'pki', 'sa.key');
  }

  get etcdEndpoint(): string {
    return `http://127.0.0.1:${this.ports.etcdClient}`;
  }

  /** Whether kube-apiserver is running (false after stopApiserver or a crash). */
  get apiserverRunning(): boolean {
    return this.apiProc?.running ?? false;
  }

  get etcdRunning(): boolean {
    return this.etcdProc?.running ?? false;
  }

  get logDir(): string {
    return this.logsIn ?? join(this.dir, 'logs');
  }

  async startEtcd(): Promise<void> {
    const t0 = Date.now();
    const { etcdClient, etcdPeer } = this.ports;
    this.etcdProc = ManagedProcess.start(
      this.bins.etcd,
      [
        '--name=bollard',
        `--data-dir=${join(this.dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=bollard=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      { name: 'etcd', logFile: join(this.logDir, 'etcd.log') },
    );
    await this.etcdProc.whileRunning(
      waitFor(
        'etcd /health',
        async () => ((await plainGet(`${this.etcdEndpoint}/health`)).includes('"true"') ? true : undefined),
        30_000,
      ),
    );
    this.say(`etcd ready in ${Date.now() - t0} ms`);
  }

  async startApiserver(): Promise<void> {
    const t0 = Date.now();
    const pki = join(this.dir, 'pki');
    this.apiProc = ManagedProcess.start(
      this.bins.kubeApiserver,
      [
        `--etcd-servers=${this.etcdEndpoint}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${this.ports.apiserver}`,
        `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
        `--client-ca-file=${this.ca.cert}`,
        // a list flag: given twice it would name RBAC twice, so only when no extra argument sets it
        ...(this.apiserverArgs.some((a) => a.startsWith('--authorization-mode='))
          ? []
          : ['--authorization-mode=RBAC']),
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
        `--service-cluster-ip-range=${SERVICE_CIDRS.join(',')}`,
        `--service-node-port-range=${NODE_PORT_RANGE}`,
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        '--enable-priority-and-fairness=false',
        '--max-requests-inflight=4000',
        '--max-mutating-requests-inflight=2000',
        '--v=1',
        ...this.apiserverArgs,
      ],
      { name: 'kube-apiserver', logFile: join(this.logDir, 'kube-apiserver.log') },
    );
    await this.apiProc.whileRunning(
      waitFor(
        'kube-apiserver /readyz',
        async () => ((await this.request('GET', '/readyz')).status === 200 ? true : undefined),
        90_000,
        200,
      ),
    );
    this.say(`kube-apiserver ready in ${Date.now() - t0} ms`);
  }

  /** Stops kube-apiserver (SIGTERM); etcd keeps running. */
  async stopApiserver(): Promise<void> {
    await this.apiProc?.stop();
    this.apiProc = undefined;
  }

  async restartApiserver(): Promise<void> {
    await this.stopApiserver();
    await this.startApiserver();
  }

  async stopEtcd(): Promise<void> {
    await this.etcdProc?.stop();
    this.etcdProc = undefined;
  }

  async restartEtcd(): Promise<void> {
    await this.stopEtcd();
    await this.startEtcd();
  }

  /** A request to the apiserver as the admin (system:masters). */
  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${this.server}${path}`,
        {
          method,
          ca: readFileSync(this.ca.cert),
          cert: readFileSync(this.admin.cert),
          key: readFileSync(this.admin.key),
          headers:
            payload === undefined
              ? {}
              : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Creates the object at `path` unless it exists (409 is fine). */
  async ensure(path: string, body: unknown): Promise<void> {
    const r = await this.request('POST', path, body);
    if (r.status !== 201 && r.status !== 200 && r.status !== 409) {
      throw new ProcessError('kube-apiserver', `POST ${path}: ${r.status} ${r.body}`);
    }
  }

  /** A ServiceAccount token from the TokenRequest API (creating the namespace and ServiceAccount if needed). */
  async serviceAccountToken(namespace: string, name: string, expirationSeconds = 24 * 3600): Promise<string> {
    await this.ensure('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
    });
    await this.ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name },
    });
    const r = await this.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds },
    });
    if (r.status !== 201)
      throw new ProcessError('kube-apiserver', `token for ${namespace}/${name}: ${r.status} ${r.body}`);
    const token = (JSON.parse(r.body) as { status?: { token?: string } }).status?.token;
    if (!token)
      throw new ProcessError('kube-apiserver', `token for ${namespace}/${name}: empty TokenRequest status`);
    return token;
  }

  /** Writes a kubeconfig that authenticates as the ServiceAccount with a real token; returns its path. */
  async kubeconfigFor(namespace: string, serviceAccount: string, server = this.server): Promise<string> {
    const token = await this.serviceAccountToken(namespace, serviceAccount);
    const path = join(this.dir, `sa-${namespace}-${serviceAccount}.kubeconfig`);
    writeFileSync(
      path,
      kubeconfigYaml(server, readFileSync(this.ca.cert, 'utf8'), `${namespace}-${serviceAccount}`, { token }),
      {
        mode: 0o600,
      },
    );
    return path;
  }

  /** Stops both processes and removes the folder it made (unless `keepDir`). Safe to call twice. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.apiProc?.stop();
    await this.etcdProc?.stop();
    if (this.ownsDir && !opts.keepDir && existsSync(this.dir))
      rmSync(this.dir, { recursive: true, force: true });
  }
}

export function kubeconfigYaml(
  server: string,
  caPem: string,
  user: string,
  credentials: Record<string, string>,
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'bollard-lab',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: user, user: credentials }],
    contexts: [{ name: user, context: { cluster: 'bollard-lab', user } }],
    'current-context': user,
  });
}

async function plainGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Starts a control plane, stopping it when the process exits or is interrupted. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  return ControlPlane.start(opts);
}
