// MetalLB's controller and speaker, built from the pinned Go module in lab/build/metallb (for
// `npm run bench -- versus`), cached like the Kubernetes binaries and keyed by the module's files.
// MetalLB's CRDs come from the same module (config/crd/bases in the module's zip).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ManagedProcess, type SpawnOptions } from './process.js';
import { repoPath } from './repo.js';
import { cacheRoot, ensureDebianPackages, ToolchainError } from './toolchain.js';

export const METALLB_MODULE = 'go.universe.tf/metallb';

export interface MetalLBBinaries {
  dir: string;
  version: string;
  controller: string;
  speaker: string;
  /** MetalLB's own CRD manifests (metallb.io_*.yaml), as its module ships them. */
  crds: string[];
}

type Say = (line: string) => void;
const defaultSay: Say = (line) => process.stderr.write(`[metallb] ${line}\n`);

const FILES = ['go.mod', 'go.sum', 'tools.go'] as const;

/** The MetalLB version pinned in lab/build/metallb/go.mod. */
export function metallbVersion(): string {
  const mod = readFileSync(repoPath('lab', 'build', 'metallb', 'go.mod'), 'utf8');
  const v = /require go\.universe\.tf\/metallb (v\S+)/.exec(mod)?.[1];
  if (!v) throw new ToolchainError('pins', 'lab/build/metallb/go.mod does not name go.universe.tf/metallb');
  return v;
}

function metallbDir(version: string): string {
  const h = createHash('sha256');
  for (const f of FILES) h.update(readFileSync(repoPath('lab', 'build', 'metallb', f)));
  return join(cacheRoot(), 'metallb', `${version}-${h.digest('hex').slice(0, 10)}`);
}

function layout(dir: string, version: string): MetalLBBinaries {
  const crdDir = join(dir, 'crds');
  const crds = existsSync(crdDir)
    ? readdirSync(crdDir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .map((f) => join(crdDir, f))
    : [];
  return { dir, version, controller: join(dir, 'controller'), speaker: join(dir, 'speaker'), crds };
}

function go(args: string[], say: Say): string {
  const r = spawnSync('go', args, {
    cwd: repoPath('lab', 'build', 'metallb'),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=readonly' },
    maxBuffer: 16 * 2 ** 20,
  });
  if (r.status !== 0) throw new ToolchainError(`go ${args[0] ?? ''}`, `exited ${r.status}`);
  say(`go ${args.slice(0, 2).join(' ')}: done`);
  return r.stdout;
}

/**
 * Builds MetalLB's controller and speaker at the pinned version (once; later calls find them in the
 * cache) and copies its CRDs out of the module cache. Needs only the Go module proxy.
 */
export function ensureMetalLB(say: Say = defaultSay): MetalLBBinaries {
  const version = metallbVersion();
  const dir = metallbDir(version);
  const have = layout(dir, version);
  if (existsSync(have.controller) && existsSync(have.speaker) && have.crds.length > 0) {
    say(`MetalLB ${version}: cached in ${dir}`);
    return have;
  }
  if (spawnSync('sh', ['-c', 'command -v go'], { stdio: 'ignore' }).status !== 0) ensureDebianPackages(say);
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'crds'), { recursive: true });
  try {
    const started = Date.now();
    say(`go build MetalLB ${version} controller and speaker (first time only; minutes on 2 cores)`);
    go(
      [
        'build',
        '-trimpath',
        '-ldflags',
        '-s -w',
        '-o',
        tmp + '/',
        `${METALLB_MODULE}/controller`,
        `${METALLB_MODULE}/speaker`,
      ],
      say,
    );
    say(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const info = JSON.parse(go(['mod', 'download', '-json', `${METALLB_MODULE}@${version}`], say)) as {
      Dir?: string;
    };
    if (!info.Dir) throw new ToolchainError('go mod download', `no Dir for ${METALLB_MODULE}@${version}`);
    const bases = join(info.Dir, 'config', 'crd', 'bases');
    const files = readdirSync(bases).filter((f) => f.startsWith('metallb.io_') && f.endsWith('.yaml'));
    if (files.length === 0) throw new ToolchainError('crds', `no metallb.io_*.yaml in ${bases}`);
    for (const f of files) copyFileSync(join(bases, f), join(tmp, 'crds', f));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return layout(dir, version);
}

/** The label MetalLB's speakers find each other by (memberlist), on the Pod objects made for them. */
export const METALLB_SPEAKER_LABELS = 'app=metallb,component=speaker';
export const METALLB_MEMBERLIST_PORT = 7946;
export const METALLB_METRICS_PORT = 7472;

export interface MetalLBSpeakerOptions {
  binary: string;
  /** A kubeconfig that works inside the node (the node's apiserver forwarder). */
  kubeconfig: string;
  namespace: string;
  /** The node's own address: memberlist binds here, metrics on <ip>:7472. */
  nodeIP: string;
  /** A folder holding `secretkey` (MetalLB's memberlist secret, as its DaemonSet mounts it). */
  secretDir: string;
  logDir: string;
}

/** Starts MetalLB's speaker in a lab node (hostNetwork-like), in native BGP mode with memberlist. */
export function startMetalLBSpeaker(
  host: { name: string; spawn: (cmd: string, args: readonly string[], o: SpawnOptions) => ManagedProcess },
  opts: MetalLBSpeakerOptions,
): ManagedProcess {
  return host.spawn(
    opts.binary,
    [
      `--node-name=${host.name}`,
      `--pod-name=metallb-speaker-${host.name}`,
      `--namespace=${opts.namespace}`,
      `--host=${opts.nodeIP}`,
      `--port=${METALLB_METRICS_PORT}`,
      `--ml-bindaddr=${opts.nodeIP}`,
      `--ml-bindport=${METALLB_MEMBERLIST_PORT}`,
      `--ml-labels=${METALLB_SPEAKER_LABELS}`,
      `--ml-secret-key-path=${opts.secretDir}`,
      '--log-level=warn',
    ],
    {
      name: `${host.name}/metallb-speaker`,
      logFile: join(opts.logDir, `${host.name}-metallb-speaker.log`),
      env: { ...process.env, KUBECONFIG: opts.kubeconfig, METALLB_BGP_TYPE: 'native' },
    },
  );
}

/**
 * The Pod object a speaker would have in a cluster: MetalLB's memberlist lists its peers' Pods by
 * label and joins their `status.podIP`. Created by the admin; the status is patched to the node's IP.
 */
export function metallbSpeakerPod(namespace: string, node: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `metallb-speaker-${node}`,
      namespace,
      labels: Object.fromEntries(METALLB_SPEAKER_LABELS.split(',').map((kv) => kv.split('='))),
    },
    spec: { nodeName: node, hostNetwork: true, containers: [{ name: 'speaker', image: 'metallb/speaker' }] },
  };
}

export function metallbSpeakerPodStatus(ip: string): Record<string, unknown> {
  return { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: ip } };
}
