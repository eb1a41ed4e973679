// A node's container runtime: Debian's containerd with its own root, state and socket under the node's
// folder, run in the node's network namespace (so hostNetwork pods share the node's network) and in
// the node's runtime cgroup (so its shims and everything they start die with the node). Pods get
// addresses from the node's pod CIDRs through Debian's CNI plugins (bridge + host-local), routed
// between nodes by the lab's static routes (lab/network.ts), as a flat CNI without overlay.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import type { LabHost } from './hosts.js';
import { ManagedProcess, waitFor } from './process.js';
import type { NodePlan } from './topology.js';

export const CNI_BIN_DIR = '/usr/lib/cni';

export interface ContainerdPaths {
  dir: string;
  config: string;
  socket: string;
  cniConfDir: string;
}

export function containerdPaths(nodeDir: string): ContainerdPaths {
  const dir = join(nodeDir, 'containerd');
  return {
    dir,
    config: join(dir, 'config.toml'),
    socket: join(dir, 'containerd.sock'),
    cniConfDir: join(dir, 'net.d'),
  };
}

/** containerd's configuration (version 2, containerd 1.6/1.7): everything under the node's folder. */
export function containerdConfig(p: ContainerdPaths, sandboxImage: string): string {
  const q = (s: string): string => JSON.stringify(s);
  return `version = 2
root = ${q(join(p.dir, 'root'))}
state = ${q(join(p.dir, 'state'))}
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${q(p.socket)}
[ttrpc]
  address = ${q(`${p.socket}.ttrpc`)}
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(p.dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(sandboxImage)}
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # No container may go below containerd's own oom_score_adj: lowering it needs CAP_SYS_RESOURCE, which
  # a machine like this one (a sandbox) may not grant even to root; runc would fail every sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(CNI_BIN_DIR)}
    conf_dir = ${q(p.cniConfDir)}
    max_conf_num = 1
`;
}

/** The node's pod network: a bridge `cni0` with the node's pod CIDRs (host-local IPAM), dual-stack. */
export function cniConfig(node: NodePlan, ipamDir: string): string {
  const ranges = [[{ subnet: node.podCIDRv4 }], ...(node.podCIDRv6 ? [[{ subnet: node.podCIDRv6 }]] : [])];
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'bollard-lab',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: ipamDir,
            ranges,
            routes: [{ dst: '0.0.0.0/0' }, ...(node.podCIDRv6 ? [{ dst: '::/0' }] : [])],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** `ctr` against a node's containerd (the CRI's namespace, k8s.io). */
export function ctr(
  socket: string,
  args: readonly string[],
  timeoutMs = 300_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ctr',
      ['--address', socket, '--namespace', 'k8s.io', ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const raw = (err as { code?: unknown } | null)?.code;
        resolve({ stdout, stderr, code: err ? (typeof raw === 'number' ? raw : 1) : 0 });
      },
    );
  });
}

export interface StartContainerdOptions {
  node: NodePlan;
  host: LabHost;
  nodeDir: string;
  sandboxImage: string;
  /** cgroup.procs files of the node's runtime cgroup. */
  cgroupProcs: readonly string[];
  logDir: string;
}

/** Writes the configuration and starts containerd in the node; resolves once it answers. */
export async function startContainerd(opts: StartContainerdOptions): Promise<ManagedProcess> {
  const p = containerdPaths(opts.nodeDir);
  mkdirSync(p.cniConfDir, { recursive: true });
  writeFileSync(p.config, containerdConfig(p, opts.sandboxImage));
  writeFileSync(join(p.cniConfDir, '10-bollard-lab.conflist'), cniConfig(opts.node, join(p.dir, 'ipam')));
  const proc = opts.host.spawnNetOnly('containerd', ['--config', p.config], {
    name: `${opts.node.name}/containerd`,
    logFile: join(opts.logDir, `${opts.node.name}-containerd.log`),
    cgroupProcs: opts.cgroupProcs,
  });
  await proc.whileRunning(
    waitFor(
      `${opts.node.name} containerd`,
      async () =>
        existsSync(p.socket) && (await ctr(p.socket, ['version'], 5000)).code === 0 ? true : undefined,
      30_000,
      100,
    ),
  );
  return proc;
}

/** Imports an image archive (docker-archive or oci-archive) into a node's containerd. */
export async function importImage(socket: string, archive: string, node: string): Promise<void> {
  const r = await ctr(socket, ['images', 'import', archive]);
  if (r.code !== 0) throw new LabError(`${node}/containerd`, `import ${archive}: ${r.stderr.trim()}`);
}

/** The image references a node's containerd holds. */
export async function listImages(socket: string): Promise<string[]> {
  const r = await ctr(socket, ['images', 'ls', '-q']);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Tags an image under another name in a node's containerd. */
export async function tagImage(socket: string, from: string, to: string, node: string): Promise<void> {
  const r = await ctr(socket, ['images', 'tag', '--force', from, to]);
  if (r.code !== 0) throw new LabError(`${node}/containerd`, `tag ${from} ${to}: ${r.stderr.trim()}`);
}
