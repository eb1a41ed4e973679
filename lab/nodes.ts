// The lab plays kubelet for Node objects only: it registers every node (labels, pod CIDRs, addresses,
// capacity, nodeInfo) and keeps its Ready condition and its Lease fresh, as a kubelet's status loop
// would. Tests can flip a node NotReady (`setReady`) to act out a kubelet that stopped reporting.
import { hostname as machineName, release } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KubeClient } from '../k8s/client.js';
import { ApiError } from '../k8s/client.js';
import type { NodePlan } from './topology.js';

const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};
export const LAB_NODE_LABEL = 'lab.bollard.io/node';

export interface NodeStatusOptions {
  kubeVersion: string;
  /** Status and Lease refresh period (default 10 s, as a kubelet's lease). */
  periodMs?: number;
  onError?: (err: Error) => void;
}

function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export class NodeAgent {
  private readonly ready = new Map<string, boolean>();
  private readonly transitions = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private readonly bootId = randomUUID();

  constructor(
    private readonly client: KubeClient,
    private readonly nodes: readonly NodePlan[],
    private readonly opts: NodeStatusOptions,
  ) {
    for (const n of nodes) this.ready.set(n.name, true);
  }

  nodeObject(n: NodePlan): Record<string, unknown> {
    const arch = ARCH[process.arch] ?? process.arch;
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        labels: {
          'kubernetes.io/hostname': n.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': arch,
          'beta.kubernetes.io/os': 'linux',
          'beta.kubernetes.io/arch': arch,
          'node.kubernetes.io/instance-type': 'bollard-lab',
          [LAB_NODE_LABEL]: 'true',
        },
        annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
      },
      spec: {
        podCIDR: n.podCIDRv4,
        podCIDRs: [n.podCIDRv4, ...(n.podCIDRv6 ? [n.podCIDRv6] : [])],
      },
    };
  }

  private statusPatch(n: NodePlan): Record<string, unknown> {
    const now = nowRfc3339();
    const ready = this.ready.get(n.name) ?? true;
    const since = this.transitions.get(n.name) ?? now;
    this.transitions.set(n.name, since);
    const cond = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: since,
    });
    const capacity = { cpu: '2', memory: '4Gi', pods: '110', 'ephemeral-storage': '20Gi' };
    const arch = ARCH[process.arch] ?? process.arch;
    return {
      status: {
        addresses: [
          { type: 'InternalIP', address: n.ipv4.ip },
          ...(n.ipv6 ? [{ type: 'InternalIP', address: n.ipv6.ip }] : []),
          { type: 'Hostname', address: n.name },
        ],
        conditions: [
          cond(
            'MemoryPressure',
            'False',
            'KubeletHasSufficientMemory',
            'kubelet has sufficient memory available',
          ),
          cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
          ready
            ? cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status (bollard lab)')
            : cond('Ready', 'False', 'KubeletNotReady', 'the lab marked this node not ready'),
        ],
        capacity,
        allocatable: capacity,
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: n.name,
          systemUUID: n.name,
          bootID: this.bootId,
          kernelVersion: release(),
          osImage: `bollard lab on ${machineName()}`,
          containerRuntimeVersion: 'bollard-lab://1',
          kubeletVersion: this.opts.kubeVersion,
          kubeProxyVersion: this.opts.kubeVersion,
          operatingSystem: 'linux',
          architecture: arch,
        },
      },
    };
  }

  /** Creates (or updates) every Node and posts its status once. */
  async register(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        try {
          await this.client.create('/api/v1/nodes', this.nodeObject(n));
        } catch (err) {
          if (!(err instanceof ApiError && err.conflict)) throw err;
          await this.client.patch(`/api/v1/nodes/${n.name}`, this.nodeObject(n), 'merge');
        }
        await this.postStatus(n);
      }),
    );
  }

  private async postStatus(n: NodePlan): Promise<void> {
    await this.client.patch(`/api/v1/nodes/${n.name}/status`, this.statusPatch(n), 'merge');
    await this.renewLease(n);
  }

  private async renewLease(n: NodePlan): Promise<void> {
    if (!(this.ready.get(n.name) ?? true)) return;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases`;
    const spec = {
      holderIdentity: n.name,
      leaseDurationSeconds: 40,
      renewTime: new Date().toISOString().replace('Z', '000Z'),
    };
    try {
      await this.client.patch(`${path}/${n.name}`, { spec }, 'merge');
    } catch (err) {
      if (!(err instanceof ApiError && err.notFound)) throw err;
      await this.client.create(path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: n.name, namespace: 'kube-node-lease' },
        spec,
      });
    }
  }

  /** Posts every node's status now. */
  async refresh(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.postStatus(n)));
  }

  /** Marks a node Ready or NotReady (and stops renewing its Lease while NotReady). */
  async setReady(name: string, ready: boolean): Promise<void> {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new ApiError('LAB', `/api/v1/nodes/${name}`, 404, 'no such lab node', '');
    if (this.ready.get(name) !== ready) this.transitions.set(name, nowRfc3339());
    this.ready.set(name, ready);
    await this.postStatus(n);
  }

  /** Starts the status loop. */
  start(): void {
    const period = this.opts.periodMs ?? 10_000;
    this.timer = setInterval(() => {
      if (this.inflight) return;
      this.inflight = this.refresh()
        .catch((err: unknown) => this.opts.onError?.(err instanceof Error ? err : new Error(String(err))))
        .finally(() => {
          this.inflight = undefined;
        });
    }, period);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight;
  }
}
