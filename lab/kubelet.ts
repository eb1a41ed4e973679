// A node's real kubelet, built from the pinned Kubernetes module: in the node's network namespace,
// with its own root, certificate and configuration folders, the cgroupfs driver under the node's
// cgroup root, the node's containerd as its runtime, and a client certificate for system:node:<name>
// (the Node authorizer and NodeRestriction apply to it as in a real cluster). It registers its Node,
// reports its status and renews its Lease; the lab writes none of that on this path.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kubeconfigYaml } from './controlplane.js';
import type { LabHost } from './hosts.js';
import { makeCert, type CertFiles } from './pki.js';
import { ManagedProcess } from './process.js';
import type { NodePlan } from './topology.js';

export const KUBELET_PORT = 10250;

export interface KubeletOptions {
  node: NodePlan;
  host: LabHost;
  binary: string;
  nodeDir: string;
  /** Where in-node processes reach the apiserver (the node's forwarder). */
  apiserver: string;
  ca: CertFiles;
  /** The node's cgroup root (relative, e.g. `/bollard-…-node-1`) and its runtime cgroup. */
  cgroupRoot: string;
  runtimeCgroup: string;
  containerdSocket: string;
  logDir: string;
  /** Labels the kubelet registers its Node with. */
  labels?: Record<string, string>;
}

/** The KubeletConfiguration a lab node runs with. */
export function kubeletConfig(opts: KubeletOptions, pki: { cert: string; key: string }): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '0.0.0.0',
    port: KUBELET_PORT,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    tlsCertFile: pki.cert,
    tlsPrivateKeyFile: pki.key,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: opts.ca.cert },
    },
    authorization: { mode: 'AlwaysAllow' },
    cgroupDriver: 'cgroupfs',
    cgroupRoot: opts.cgroupRoot,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    runtimeCgroups: opts.runtimeCgroup,
    containerRuntimeEndpoint: `unix://${opts.containerdSocket}`,
    failSwapOn: false,
    failCgroupV1: false,
    // The lab's nodes share one machine: the kubelet must not retune its kernel or evict for its disk.
    protectKernelDefaults: false,
    makeIPTablesUtilChains: true,
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'imagefs.available': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    localStorageCapacityIsolation: false,
    serializeImagePulls: false,
    resolvConf: '/etc/resolv.conf',
    clusterDomain: 'cluster.local',
    // Status and pod lifecycle at a lab's pace (the defaults are 10 s and 1 min).
    nodeStatusUpdateFrequency: '4s',
    nodeStatusReportFrequency: '20s',
    syncFrequency: '10s',
    fileCheckFrequency: '20s',
    volumeStatsAggPeriod: '0s',
    maxPods: 110,
    podPidsLimit: -1,
    shutdownGracePeriod: '0s',
    registerNode: true,
    rotateCertificates: false,
    serverTLSBootstrap: false,
  });
}

/** Writes the node's kubelet certificates, kubeconfig and configuration; starts the kubelet. */
export function startKubelet(opts: KubeletOptions): ManagedProcess {
  const dir = join(opts.nodeDir, 'kubelet');
  const pki = join(opts.nodeDir, 'pki');
  mkdirSync(join(dir, 'root'), { recursive: true });
  mkdirSync(pki, { recursive: true });
  const name = opts.node.name;
  const client = makeCert(pki, opts.ca, {
    name: 'kubelet-client',
    commonName: `system:node:${name}`,
    organization: 'system:nodes',
    usage: 'client',
  });
  const serving = makeCert(pki, opts.ca, {
    name: 'kubelet-serving',
    commonName: name,
    usage: 'server',
    ips: [opts.node.ipv4.ip, ...(opts.node.ipv6 ? [opts.node.ipv6.ip] : []), '127.0.0.1'],
    dnsNames: [name],
  });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    kubeconfigYaml(opts.apiserver, readFileSync(opts.ca.cert, 'utf8'), `system:node:${name}`, {
      'client-certificate': client.cert,
      'client-key': client.key,
    }),
    { mode: 0o600 },
  );
  const config = join(dir, 'config.yaml');
  writeFileSync(config, kubeletConfig(opts, serving));
  const labels = Object.entries(opts.labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return opts.host.spawnNetOnly(
    opts.binary,
    [
      `--config=${config}`,
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${name}`,
      `--node-ip=${[opts.node.ipv4.ip, ...(opts.node.ipv6 ? [opts.node.ipv6.ip] : [])].join(',')}`,
      `--root-dir=${join(dir, 'root')}`,
      `--cert-dir=${pki}`,
      ...(labels ? [`--node-labels=${labels}`] : []),
      '--v=1',
    ],
    { name: `${name}/kubelet`, logFile: join(opts.logDir, `${name}-kubelet.log`) },
  );
}
