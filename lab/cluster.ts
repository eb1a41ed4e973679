// The parts that make the lab a real cluster rather than host processes: kube-controller-manager and
// kube-scheduler beside the apiserver, and in every node a containerd and a kubelet that register the
// Node, run pods from images and report their readiness. The EndpointSlice controller, the node
// lifecycle controller and the DaemonSet/Deployment controllers are Kubernetes' own.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from '../k8s/client.js';
import { ApiError } from '../k8s/client.js';
import type { ControlPlane } from './controlplane.js';
import { containerdPaths, importImage, listImages, startContainerd } from './containerd.js';
import { LabError } from './errors.js';
import type { LabHost } from './hosts.js';
import { startKubelet } from './kubelet.js';
import { unmountUnder } from './mounts.js';
import { NodeCgroups } from './node-cgroups.js';
import { ManagedProcess, waitFor } from './process.js';
import type { ProcessTable } from './procs.js';
import type { NodePlan, Topology } from './topology.js';

/**
 * Where pods (and hostNetwork pods) reach the apiserver: the `kubernetes` Service's one endpoint, an
 * address on every node's loopback that nothing else routes (EndpointSlices refuse link-local ones).
 */
export const POD_APISERVER_IP = '10.51.0.1';
export const POD_APISERVER_PORT = 6443;

export interface ImageArchive {
  /** The reference containerd names it by once imported. */
  ref: string;
  archive: string;
}

export interface ClusterImages {
  pause: ImageArchive;
  /** Every other image each node gets (Bollard's, the demo workload's). */
  others: ImageArchive[];
}

/** kube-controller-manager and kube-scheduler in the machine's namespace, as the admin. */
export function startControllers(cp: ControlPlane, procs: ProcessTable, logDir: string): Promise<unknown> {
  // both as the admin, serving nothing (no secure port), one instance each (no leader election)
  const common = [
    `--kubeconfig=${cp.adminKubeconfig}`,
    `--authentication-kubeconfig=${cp.adminKubeconfig}`,
    `--authorization-kubeconfig=${cp.adminKubeconfig}`,
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--leader-elect=false',
  ];
  const kcm = (): Promise<ManagedProcess> => {
    const p = ManagedProcess.start(
      cp.bins.kubeControllerManager,
      [
        ...common,
        '--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle-controller,-route',
        `--service-account-private-key-file=${cp.serviceAccountKey}`,
        `--root-ca-file=${cp.ca.cert}`,
        '--use-service-account-credentials=true',
        '--node-monitor-grace-period=20s',
        '--concurrent-endpoint-syncs=10',
        '--concurrent-service-endpoint-syncs=10',
        '--v=1',
      ],
      { name: 'kube-controller-manager', logFile: join(logDir, 'kube-controller-manager.log') },
    );
    return Promise.resolve(p);
  };
  const scheduler = (): Promise<ManagedProcess> =>
    Promise.resolve(
      ManagedProcess.start(cp.bins.kubeScheduler, [...common, '--v=1'], {
        name: 'kube-scheduler',
        logFile: join(logDir, 'kube-scheduler.log'),
      }),
    );
  return Promise.all([
    procs.add({ host: 'machine', name: 'kube-controller-manager', start: kcm }),
    procs.add({ host: 'machine', name: 'kube-scheduler', start: scheduler }),
  ]);
}

/** The `kubernetes` Service's endpoints: the in-node forwarder every node has at POD_APISERVER_IP. */
export async function writeKubernetesEndpoints(client: KubeClient): Promise<void> {
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: {
        'kubernetes.io/service-name': 'kubernetes',
        'endpointslice.kubernetes.io/managed-by': 'bollard-lab',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [POD_APISERVER_IP], conditions: { ready: true } }],
    ports: [{ name: 'https', port: POD_APISERVER_PORT, protocol: 'TCP' }],
  };
  try {
    await client.create('/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', slice);
  } catch (err) {
    if (!(err instanceof ApiError && err.conflict)) throw err;
  }
}

export interface NodeRuntime {
  node: NodePlan;
  dir: string;
  cgroups: NodeCgroups;
  containerdSocket: string;
}

/** One real node: cgroups, containerd (with the images imported), kubelet. Registered in `procs`. */
export async function startRealNode(opts: {
  node: NodePlan;
  host: LabHost;
  dir: string;
  runName: string;
  cp: ControlPlane;
  topo: Topology;
  images: ClusterImages;
  procs: ProcessTable;
  logDir: string;
}): Promise<NodeRuntime> {
  const { node, host } = opts;
  mkdirSync(opts.dir, { recursive: true });
  const cgroups = NodeCgroups.create(`${opts.runName}-${node.name}`);
  const socket = containerdPaths(opts.dir).socket;
  await opts.procs.add({
    host: node.name,
    name: 'containerd',
    start: async () => {
      const p = await startContainerd({
        node,
        host,
        nodeDir: opts.dir,
        sandboxImage: opts.images.pause.ref,
        cgroupProcs: cgroups.runtimeProcs,
        logDir: opts.logDir,
      });
      const have = new Set(await listImages(socket));
      for (const img of [opts.images.pause, ...opts.images.others]) {
        if (!have.has(img.ref)) await importImage(socket, img.archive, node.name);
      }
      return p;
    },
  });
  await opts.procs.add({
    host: node.name,
    name: 'kubelet',
    start: () =>
      Promise.resolve(
        startKubelet({
          node,
          host,
          binary: opts.cp.bins.kubelet,
          nodeDir: opts.dir,
          apiserver: opts.topo.nodeApiserver,
          ca: opts.cp.ca,
          cgroupRoot: cgroups.root,
          runtimeCgroup: cgroups.runtimeCgroup,
          containerdSocket: socket,
          logDir: opts.logDir,
        }),
      ),
  });
  return { node, dir: opts.dir, cgroups, containerdSocket: socket };
}

interface NodeObject {
  metadata?: { name?: string };
  status?: { conditions?: { type?: string; status?: string }[]; nodeInfo?: { kubeletVersion?: string } };
}

/** Resolves once every node is registered and Ready (as its kubelet reports it). */
export async function waitNodesReady(
  client: KubeClient,
  names: readonly string[],
  timeoutMs = 120_000,
): Promise<void> {
  await waitFor(
    `nodes ${names.join(', ')} Ready`,
    async () => {
      const list = await client.get<{ items: NodeObject[] }>('/api/v1/nodes');
      const ready = new Set(
        list.items
          .filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
          .map((n) => n.metadata?.name),
      );
      return names.every((n) => ready.has(n)) ? true : undefined;
    },
    timeoutMs,
    500,
  );
}

/** Tears a node's runtime down after its processes were stopped: every pod process, mount and cgroup. */
export async function removeRealNode(rt: NodeRuntime): Promise<void> {
  await rt.cgroups.remove();
  const left = unmountUnder(rt.dir);
  if (left.length > 0) throw new LabError(rt.node.name, `mounts left: ${left.slice(0, 5).join(', ')}`);
}
