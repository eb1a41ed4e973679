// What the lab and the tests need on the machine, installed idempotently:
// Debian packages (routers, data-path tools) and the Kubernetes binaries built from the pinned
// Go modules in lab/build/ into a cache outside the repository.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoPath } from './repo.js';

/** Debian packages the lab and the tests use, with the command each provides (for the "is it there" check). */
export const DEBIAN_PACKAGES: ReadonlyArray<{ pkg: string; provides: string }> = [
  { pkg: 'iproute2', provides: 'ip' },
  { pkg: 'iptables', provides: 'iptables' },
  { pkg: 'conntrack', provides: 'conntrack' },
  { pkg: 'bird2', provides: 'bird' },
  { pkg: 'frr', provides: 'vtysh' },
  { pkg: 'gobgpd', provides: 'gobgpd' },
  { pkg: 'exabgp', provides: 'exabgp' },
  { pkg: 'arping', provides: 'arping' },
  { pkg: 'ndisc6', provides: 'ndisc6' },
  { pkg: 'tcpdump', provides: 'tcpdump' },
  { pkg: 'iputils-ping', provides: 'ping' },
  { pkg: 'curl', provides: 'curl' },
  { pkg: 'openssl', provides: 'openssl' },
  { pkg: 'socat', provides: 'socat' },
  { pkg: 'golang-go', provides: 'go' },
  // real nodes: a container runtime, CNI, and the tools that build and move images
  { pkg: 'containerd', provides: 'containerd' },
  { pkg: 'runc', provides: 'runc' },
  { pkg: 'containernetworking-plugins', provides: '/usr/lib/cni/bridge' },
  { pkg: 'buildah', provides: 'buildah' },
  { pkg: 'umoci', provides: 'umoci' },
  { pkg: 'skopeo', provides: 'skopeo' },
  { pkg: 'mmdebstrap', provides: 'mmdebstrap' },
  { pkg: 'util-linux', provides: 'nsenter' },
  // promtool, to test the alert rules in deploy/monitoring
  { pkg: 'prometheus', provides: 'promtool' },
];

export class ToolchainError extends Error {
  constructor(
    readonly step: string,
    readonly reason: string,
  ) {
    super(`${step}: ${reason}`);
    this.name = 'ToolchainError';
  }
}

type Say = (line: string) => void;
const defaultSay: Say = (line) => process.stderr.write(`[toolchain] ${line}\n`);

function onPath(cmd: string): boolean {
  if (cmd.startsWith('/')) return existsSync(cmd);
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs the Debian packages whose commands are missing. Runs `apt-get update` only when something is missing. */
export function ensureDebianPackages(say: Say = defaultSay): void {
  const missing = DEBIAN_PACKAGES.filter((p) => !onPath(p.provides)).map((p) => p.pkg);
  if (missing.length === 0) {
    say('Debian packages: all present');
    return;
  }
  if (process.getuid?.() !== 0)
    throw new ToolchainError('apt-get', `must run as root to install ${missing.join(', ')}`);
  say(`Debian packages: installing ${missing.join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (update.status !== 0) throw new ToolchainError('apt-get update', `exit ${update.status}`);
  const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (install.status !== 0) throw new ToolchainError('apt-get install', `exit ${install.status}`);
  const still = DEBIAN_PACKAGES.filter((p) => !onPath(p.provides)).map((p) => p.pkg);
  if (still.length > 0) throw new ToolchainError('apt-get install', `still missing: ${still.join(', ')}`);
}

/** The versions pinned in lab/build/*\/go.mod. */
export interface Pins {
  kubernetes: string;
  etcd: string;
}

export function readPins(): Pins {
  const k8sMod = readFileSync(repoPath('lab', 'build', 'kubernetes', 'go.mod'), 'utf8');
  const etcdMod = readFileSync(repoPath('lab', 'build', 'etcd', 'go.mod'), 'utf8');
  const k = /require k8s\.io\/kubernetes (v\S+)/.exec(k8sMod)?.[1];
  const e = /require go\.etcd\.io\/etcd\/server\/v3 (v\S+)/.exec(etcdMod)?.[1];
  if (!k || !e)
    throw new ToolchainError(
      'pins',
      'lab/build go.mod files do not name k8s.io/kubernetes and etcd server versions',
    );
  return { kubernetes: k, etcd: e };
}

export function cacheRoot(): string {
  return (
    process.env.BOLLARD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'bollard')
  );
}

/** Where the binaries for the current pins live: keyed by the pins and a hash of the build modules. */
export function kubeBinDir(): string {
  const pins = readPins();
  const h = createHash('sha256');
  for (const mod of ['kubernetes', 'etcd']) {
    for (const f of ['go.mod', 'go.sum', 'tools.go'])
      h.update(readFileSync(repoPath('lab', 'build', mod, f)));
  }
  return join(
    cacheRoot(),
    'kube',
    `k8s-${pins.kubernetes}-etcd-${pins.etcd}-${h.digest('hex').slice(0, 10)}`,
  );
}

export interface KubeBinaries {
  dir: string;
  kubeApiserver: string;
  kubeProxy: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubelet: string;
  etcd: string;
  version: Pins;
}

/** The Kubernetes commands built from lab/build/kubernetes (its tools.go imports each). */
const KUBE_COMMANDS = [
  'kube-apiserver',
  'kube-proxy',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
] as const;

export function kubeBinaries(): KubeBinaries {
  const dir = kubeBinDir();
  return {
    dir,
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubeProxy: join(dir, 'kube-proxy'),
    kubeControllerManager: join(dir, 'kube-controller-manager'),
    kubeScheduler: join(dir, 'kube-scheduler'),
    kubelet: join(dir, 'kubelet'),
    etcd: join(dir, 'etcd'),
    version: readPins(),
  };
}

function kubeLdflags(version: string): string {
  const m = /^v(\d+)\.(\d+)\./.exec(version);
  if (!m) throw new ToolchainError('pins', `unexpected Kubernetes version ${version}`);
  const v = 'k8s.io/component-base/version';
  const cv = 'k8s.io/client-go/pkg/version';
  return [
    '-s -w',
    `-X ${v}.gitVersion=${version} -X ${v}.gitMajor=${m[1]} -X ${v}.gitMinor=${m[2]} -X ${v}.gitTreeState=clean`,
    `-X ${cv}.gitVersion=${version} -X ${cv}.gitMajor=${m[1]} -X ${cv}.gitMinor=${m[2]}`,
  ].join(' ');
}

/** `out` is a folder (ending in /) for several commands, or a file path for one. */
function goBuild(moduleDir: string, out: string, pkgs: string[], ldflags: string, say: Say): void {
  const started = Date.now();
  say(`go build ${pkgs.join(' ')} (first time only; several minutes on 2 cores)`);
  const r = spawnSync('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', out, ...pkgs], {
    cwd: moduleDir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=readonly' },
  });
  if (r.status !== 0) throw new ToolchainError('go build', `${pkgs.join(' ')} exited ${r.status}`);
  say(`built ${pkgs.length} command(s) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Builds the Kubernetes commands and etcd for the pinned versions unless the cache has them. */
export function ensureKubeBinaries(say: Say = defaultSay): KubeBinaries {
  const bins = kubeBinaries();
  if ([...KUBE_COMMANDS.map((c) => join(bins.dir, c)), bins.etcd].every((f) => existsSync(f))) {
    say(`Kubernetes ${bins.version.kubernetes} and etcd ${bins.version.etcd}: cached in ${bins.dir}`);
    return bins;
  }
  if (!onPath('go')) ensureDebianPackages(say);
  const tmp = `${bins.dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    goBuild(
      repoPath('lab', 'build', 'kubernetes'),
      tmp + '/',
      KUBE_COMMANDS.map((c) => `k8s.io/kubernetes/cmd/${c}`),
      kubeLdflags(bins.version.kubernetes),
      say,
    );
    goBuild(repoPath('lab', 'build', 'etcd'), join(tmp, 'etcd'), ['go.etcd.io/etcd/server/v3'], '-s -w', say);
    rmSync(bins.dir, { recursive: true, force: true });
    renameSync(tmp, bins.dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return bins;
}

/** helm, built from the version pinned in lab/build/helm (to render and test deploy/helm). */
export function ensureHelm(say: Say = defaultSay): string {
  const mod = readFileSync(repoPath('lab', 'build', 'helm', 'go.mod'), 'utf8');
  const version = /require helm\.sh\/helm\/v3 (v\S+)/.exec(mod)?.[1];
  if (!version) throw new ToolchainError('pins', 'lab/build/helm/go.mod does not name helm.sh/helm/v3');
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum']) h.update(readFileSync(repoPath('lab', 'build', 'helm', f)));
  const dir = join(cacheRoot(), 'helm', `${version}-${h.digest('hex').slice(0, 10)}`);
  const bin = join(dir, 'helm');
  if (existsSync(bin)) {
    say(`helm ${version}: cached in ${dir}`);
    return bin;
  }
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    goBuild(
      repoPath('lab', 'build', 'helm'),
      join(tmp, 'helm'),
      ['helm.sh/helm/v3/cmd/helm'],
      `-s -w -X helm.sh/helm/v3/internal/version.version=${version}`,
      say,
    );
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return bin;
}

/** Everything the tests and the lab need. Idempotent; says what it does. */
export function ensureToolchain(say: Say = defaultSay): KubeBinaries {
  ensureDebianPackages(say);
  const bins = ensureKubeBinaries(say);
  ensureHelm(say);
  return bins;
}
