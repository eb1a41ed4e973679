// Where the apiserver is and how to authenticate to it: the in-cluster ServiceAccount, or a kubeconfig
// file (or $KUBECONFIG's files, ~/.kube/config), read without @kubernetes/client-node. That library costs
// the speaker and the controller ~70 MiB of RSS just to load (its KubeConfig imports the whole generated
// API); what the two programs need of it is this file. A kubeconfig whose user authenticates by `exec`
// or `auth-provider`, impersonates, or whose cluster names a `proxy-url`, is handed to the library as it
// is (loaded only then, see client.ts): every kubeconfig a user has keeps working.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { isIPv6 } from 'node:net';

export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long a token or certificate read from a file is used before the file is read again. */
export const FILE_REFRESH_MS = 60_000;

/** One source of bytes: inline, or a file read again every FILE_REFRESH_MS (rotated tokens, certificates). */
export type Material = { data: Buffer } | { file: string };

/** What a request needs: the server, the TLS material and the credentials (all plain data). */
export interface ClusterAccess {
  server: string;
  ca?: Material;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  cert?: Material;
  key?: Material;
  /** A bearer token, inline or from a file (in-cluster, `tokenFile`). */
  token?: Material;
  username?: string;
  password?: string;
  /** Where it came from (for error messages). */
  origin: string;
  /**
   * Set when the kubeconfig needs what only @kubernetes/client-node does (exec, auth-provider,
   * impersonation, a proxy): the files to load into its KubeConfig, in order, and the context.
   */
  delegate?: { files: string[]; context: string };
}

export class KubeconfigError extends Error {
  constructor(
    readonly origin: string,
    reason: string,
  ) {
    super(`${origin}: ${reason}`);
    this.name = 'KubeconfigError';
  }
}

interface Named<T> {
  name?: string;
  [k: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

interface RawConfig {
  clusters: Named<Record<string, unknown>>[];
  users: Named<Record<string, unknown>>[];
  contexts: Named<Record<string, unknown>>[];
  currentContext: string;
}

/** The `yaml` package, loaded only when a kubeconfig file is read (in a pod, none is). */
function parseYaml(text: string): unknown {
  const require = createRequire(import.meta.url);
  return (require('yaml') as { parse: (s: string) => unknown }).parse(text);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function list(v: unknown): Named<Record<string, unknown>>[] {
  return Array.isArray(v)
    ? v.filter((x): x is Named<Record<string, unknown>> => typeof x === 'object' && x !== null)
    : [];
}

function absolute(dir: string, file: string): string {
  return isAbsolute(file) ? file : join(dir, file);
}

/** Makes the file paths in a cluster or user entry absolute against the kubeconfig's folder (as kubectl). */
function withAbsolutePaths(entry: Record<string, unknown>, dir: string): Record<string, unknown> {
  const out = { ...entry };
  for (const k of ['certificate-authority', 'client-certificate', 'client-key', 'tokenFile']) {
    const v = str(out[k]);
    if (v) out[k] = absolute(dir, v);
  }
  return out;
}

function readConfigFile(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(path, `cannot read: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(path, `not YAML: ${(err as Error).message}`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const dir = dirname(path);
  const fix = (key: 'cluster' | 'user') => (e: Named<Record<string, unknown>>) =>
    e[key] && typeof e[key] === 'object' ? { ...e, [key]: withAbsolutePaths(e[key], dir) } : e;
  return {
    clusters: list(d.clusters).map(fix('cluster')),
    users: list(d.users).map(fix('user')),
    contexts: list(d.contexts),
    currentContext: str(d['current-context']) ?? '',
  };
}

/** Several files merged as kubectl does: the first entry of a name wins, the first current-context wins. */
function merge(configs: RawConfig[]): RawConfig {
  const firstByName = (xs: Named<Record<string, unknown>>[]) => {
    const seen = new Set<string>();
    return xs.filter((x) => {
      const n = x.name ?? '';
      if (seen.has(n)) return false;
      seen.add(n);
      return true;
    });
  };
  return {
    clusters: firstByName(configs.flatMap((c) => c.clusters)),
    users: firstByName(configs.flatMap((c) => c.users)),
    contexts: firstByName(configs.flatMap((c) => c.contexts)),
    currentContext: configs.find((c) => c.currentContext)?.currentContext ?? '',
  };
}

function material(entry: Record<string, unknown>, fileKey: string, dataKey: string): Material | undefined {
  const data = str(entry[dataKey]);
  if (data) return { data: Buffer.from(data, 'base64') };
  const file = str(entry[fileKey]);
  return file ? { file } : undefined;
}

const DELEGATED_USER_FIELDS = ['exec', 'auth-provider', 'as', 'as-uid', 'as-groups', 'as-user-extra'];

/** The current context of kubeconfig files (read in order and merged), as plain data. */
export function fromKubeconfigFiles(files: readonly string[], context?: string): ClusterAccess {
  const origin = files.join(delimiter);
  const raw = merge(files.map(readConfigFile));
  const ctxName = context ?? raw.currentContext;
  const ctx = raw.contexts.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new KubeconfigError(origin, `no context ${JSON.stringify(ctxName)}`);
  const cluster = raw.clusters.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new KubeconfigError(origin, `no cluster ${JSON.stringify(ctx.cluster)}`);
  const user = raw.users.find((u) => u.name === ctx.user)?.user ?? {};
  const server = str(cluster.server);
  if (!server) throw new KubeconfigError(origin, `cluster ${JSON.stringify(ctx.cluster)} has no server`);
  const access: ClusterAccess = {
    server: server.replace(/\/$/, ''),
    origin,
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecureSkipTLSVerify: true } : {}),
  };
  const ca = material(cluster, 'certificate-authority', 'certificate-authority-data');
  if (ca) access.ca = ca;
  const sni = str(cluster['tls-server-name']);
  if (sni) access.tlsServerName = sni;
  const cert = material(user, 'client-certificate', 'client-certificate-data');
  if (cert) access.cert = cert;
  const key = material(user, 'client-key', 'client-key-data');
  if (key) access.key = key;
  const token = str(user.token);
  const tokenFile = str(user.tokenFile);
  if (token) access.token = { data: Buffer.from(token) };
  else if (tokenFile) access.token = { file: tokenFile };
  const username = str(user.username);
  const password = str(user.password);
  if (username !== undefined && password !== undefined) {
    access.username = username;
    access.password = password;
  }
  if (str(cluster['proxy-url']) || DELEGATED_USER_FIELDS.some((k) => user[k] !== undefined))
    access.delegate = { files: [...files], context: ctxName };
  return access;
}

/** The Pod's ServiceAccount, when the process runs in a Pod; undefined elsewhere. */
export function inCluster(
  env: NodeJS.ProcessEnv = process.env,
  dir = SERVICEACCOUNT_DIR,
  exists: (path: string) => boolean = fileExists,
): ClusterAccess | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(dir, 'token');
  if (!host || !port || !exists(tokenFile)) return undefined;
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  return {
    server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca: { file: join(dir, 'ca.crt') },
    token: { file: tokenFile },
    origin: 'in-cluster ServiceAccount',
  };
}

function fileExists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * As kubectl and client-node's loadFromDefault: the files in $KUBECONFIG, else ~/.kube/config, else the
 * in-cluster ServiceAccount, else http://localhost:8080.
 */
export function defaultAccess(env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (files.length > 0) return fromKubeconfigFiles(files);
  let home = env.HOME;
  try {
    home ??= homedir();
  } catch {
    // a uid without a passwd entry and no $HOME (the controller's 65532 in some runtimes): no home
  }
  const config = home ? join(home, '.kube', 'config') : '';
  if (config && fileExists(config)) return fromKubeconfigFiles([config]);
  return inCluster(env) ?? { server: 'http://localhost:8080', origin: 'default' };
}

/** A Material's bytes, re-reading files at most every FILE_REFRESH_MS. */
export class MaterialCache {
  private readonly cache = new Map<string, { at: number; bytes: Buffer }>();
  constructor(private readonly now: () => number = Date.now) {}

  read(m: Material | undefined): Buffer | undefined {
    if (!m) return undefined;
    if ('data' in m) return m.data;
    const hit = this.cache.get(m.file);
    const t = this.now();
    if (hit && t - hit.at < FILE_REFRESH_MS) return hit.bytes;
    const bytes = readFileSync(m.file);
    this.cache.set(m.file, { at: t, bytes });
    return bytes;
  }
}
