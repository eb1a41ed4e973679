// Pods without a kubelet: each pod is a network namespace behind its node (a veth, a /32 and a /128
// route on the node; the pod's default route points at the node, like a flat CNI without overlay),
// running lab/pod-server.js, and a Pod object whose status the lab writes as a kubelet would.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, type KubeClient } from '../k8s/client.js';
import { LabError } from './errors.js';
import { LabHost } from './hosts.js';
import { deleteNetns, run, type Lan } from './netns.js';
import { waitFor } from './process.js';
import type { ProcessTable } from './procs.js';
import { nodePlan, podAddresses, type NodePlan, type Topology } from './topology.js';

/** The pod's gateway as the pod sees it (an address on every node-side veth), as Calico does. */
const POD_GATEWAY_V4 = '169.254.1.1';
const POD_GATEWAY_V6 = 'fe80::1';

export interface LabPod {
  namespace: string;
  name: string;
  node: string;
  labels: Record<string, string>;
  ipv4: string;
  ipv6?: string;
  port: number;
  ready: boolean;
  uid: string;
  /** The pod's network namespace. */
  ns: string;
  /** 1-based index on its node (the last octet is 10 + index). */
  index: number;
}

export interface AddPodOptions {
  namespace: string;
  node: string;
  labels: Record<string, string>;
  /** Default `<app label or "pod">-<node>-<index>`. */
  name?: string;
  ready?: boolean;
}

interface PodObject {
  metadata?: { uid?: string };
}

export class PodManager {
  private readonly pods = new Map<string, LabPod>();
  private readonly serverScript: { script: string; nodeArgs: string[] };

  constructor(
    private readonly topo: Topology,
    private readonly lan: Lan,
    private readonly nodeHosts: ReadonlyMap<string, LabHost>,
    private readonly client: KubeClient,
    private readonly procs: ProcessTable,
    private readonly logDir: string,
    /** Called after every change, resolving once EndpointSlices reflect it. */
    private readonly changed: () => Promise<void>,
  ) {
    const here = dirname(fileURLToPath(import.meta.url));
    const js = join(here, 'pod-server.js');
    this.serverScript = existsSync(js)
      ? { script: js, nodeArgs: [] }
      : { script: join(here, 'pod-server.ts'), nodeArgs: ['--import', 'tsx'] };
  }

  list(): LabPod[] {
    return [...this.pods.values()].sort((a, b) =>
      `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
    );
  }

  get(namespace: string, name: string): LabPod | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  private freeIndex(node: string): number {
    const used = new Set([...this.pods.values()].filter((p) => p.node === node).map((p) => p.index));
    for (let k = 1; k <= 240; k++) if (!used.has(k)) return k;
    throw new LabError(node, 'no free pod address');
  }

  /** Ensures the namespace and its default ServiceAccount (the ServiceAccount admission plugin wants it). */
  async ensureNamespace(namespace: string): Promise<void> {
    for (const [path, body] of [
      ['/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }],
      [
        `/api/v1/namespaces/${namespace}/serviceaccounts`,
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } },
      ],
    ] as const) {
      try {
        await this.client.create(path, body);
      } catch (err) {
        if (!(err instanceof ApiError && err.conflict)) throw err;
      }
    }
  }

  /** Starts a pod on a node: namespace, veth, routes, HTTP server, Pod object; then EndpointSlices. */
  async add(opts: AddPodOptions): Promise<LabPod> {
    const plan = nodePlan(this.topo, opts.node);
    const nodeHost = this.nodeHosts.get(opts.node);
    if (!nodeHost) throw new LabError(opts.node, 'no such node host');
    const index = this.freeIndex(opts.node);
    const name = opts.name ?? `${opts.labels['app'] ?? 'pod'}-${opts.node}-${index}`;
    const key = `${opts.namespace}/${name}`;
    if (this.pods.has(key)) throw new LabError(key, 'pod exists');
    const addrs = podAddresses(plan, index);
    const ns = await this.lan.addNamespace(`pod-${plan.index}-${index}`);
    const pod: LabPod = {
      namespace: opts.namespace,
      name,
      node: opts.node,
      labels: { ...opts.labels },
      ipv4: addrs.ipv4,
      ...(addrs.ipv6 ? { ipv6: addrs.ipv6 } : {}),
      port: this.topo.podPort,
      ready: opts.ready ?? true,
      uid: '',
      ns,
      index,
    };
    this.pods.set(key, pod);
    try {
      await this.wire(pod, plan, nodeHost);
      await this.startServer(pod, nodeHost);
      await this.ensureNamespace(pod.namespace);
      pod.uid = await this.createPodObject(pod, plan);
    } catch (err) {
      await this.teardown(pod);
      this.pods.delete(key);
      throw err;
    }
    await this.changed();
    return pod;
  }

  private async wire(pod: LabPod, plan: NodePlan, nodeHost: LabHost): Promise<void> {
    // Named like Calico's (cali…), which the speaker's default interface exclusions cover, so speakers
    // neither answer ARP nor announce VIPs into pods.
    const veth = `cali${pod.index}`;
    const podIp = (...a: string[]) => run('ip', ['-n', pod.ns, ...a]);
    const nodeIp = (...a: string[]) => run('ip', ['-n', nodeHost.ns, ...a]);
    await podIp('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', veth, 'netns', nodeHost.ns);
    await podIp('addr', 'add', `${pod.ipv4}/32`, 'dev', 'eth0');
    if (pod.ipv6) await podIp('addr', 'add', `${pod.ipv6}/128`, 'dev', 'eth0', 'nodad');
    await podIp('link', 'set', 'eth0', 'up');
    await podIp('route', 'add', POD_GATEWAY_V4, 'dev', 'eth0', 'scope', 'link');
    await podIp('route', 'add', 'default', 'via', POD_GATEWAY_V4, 'dev', 'eth0');
    await nodeIp('addr', 'add', `${POD_GATEWAY_V4}/32`, 'dev', veth, 'scope', 'link');
    if (pod.ipv6) await nodeIp('addr', 'add', `${POD_GATEWAY_V6}/64`, 'dev', veth, 'nodad');
    await nodeIp('link', 'set', veth, 'up');
    await nodeIp('route', 'replace', `${pod.ipv4}/32`, 'dev', veth, 'scope', 'link', 'src', plan.ipv4.ip);
    if (pod.ipv6) {
      await podIp('-6', 'route', 'add', 'default', 'via', POD_GATEWAY_V6, 'dev', 'eth0');
      await nodeIp(
        '-6',
        'route',
        'replace',
        `${pod.ipv6}/128`,
        'dev',
        veth,
        ...(plan.ipv6 ? ['src', plan.ipv6.ip] : []),
      );
    }
  }

  private procName(pod: LabPod): string {
    return `pod/${pod.namespace}/${pod.name}`;
  }

  private async startServer(pod: LabPod, nodeHost: LabHost): Promise<void> {
    const host = new LabHost(`${pod.namespace}/${pod.name}`, pod.ns);
    const { script, nodeArgs } = this.serverScript;
    await this.procs.add({
      host: pod.node,
      name: this.procName(pod),
      start: async () => {
        const proc = host.spawn(
          process.execPath,
          [
            ...nodeArgs,
            script,
            '--pod',
            `${pod.namespace}/${pod.name}`,
            '--node',
            pod.node,
            '--port',
            String(pod.port),
          ],
          { name: this.procName(pod), logFile: join(this.logDir, `pod-${pod.namespace}-${pod.name}.log`) },
        );
        // Ready when the node reaches it over the veth: the wiring and the server both work.
        await proc.whileRunning(
          waitFor(
            `${pod.namespace}/${pod.name} answering`,
            async () => {
              const r = await nodeHost.exec('curl', [
                '-sf',
                '-m',
                '1',
                `http://${pod.ipv4}:${pod.port}/healthz`,
              ]);
              return r.code === 0 ? true : undefined;
            },
            15_000,
            50,
          ),
        );
        return proc;
      },
    });
  }

  private podObject(pod: LabPod): Record<string, unknown> {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod.name, namespace: pod.namespace, labels: pod.labels },
      spec: {
        nodeName: pod.node,
        automountServiceAccountToken: false,
        containers: [
          {
            name: 'http',
            image: 'bollard.io/lab-pod-server:1',
            ports: [{ name: 'http', containerPort: pod.port, protocol: 'TCP' }],
          },
        ],
        terminationGracePeriodSeconds: 0,
      },
    };
  }

  private podStatus(pod: LabPod, plan: NodePlan): Record<string, unknown> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const ready = pod.ready ? 'True' : 'False';
    return {
      status: {
        phase: 'Running',
        hostIP: plan.ipv4.ip,
        hostIPs: [{ ip: plan.ipv4.ip }, ...(plan.ipv6 ? [{ ip: plan.ipv6.ip }] : [])],
        podIP: pod.ipv4,
        podIPs: [{ ip: pod.ipv4 }, ...(pod.ipv6 ? [{ ip: pod.ipv6 }] : [])],
        startTime: now,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'Initialized', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: ready, lastTransitionTime: now },
          { type: 'Ready', status: ready, lastTransitionTime: now },
        ],
        containerStatuses: [
          {
            name: 'http',
            ready: pod.ready,
            started: true,
            restartCount: 0,
            image: 'bollard.io/lab-pod-server:1',
            imageID: '',
            containerID: `bollard-lab://${pod.namespace}/${pod.name}`,
            state: { running: { startedAt: now } },
          },
        ],
      },
    };
  }

  private async createPodObject(pod: LabPod, plan: NodePlan): Promise<string> {
    const base = `/api/v1/namespaces/${pod.namespace}/pods`;
    let created: PodObject;
    try {
      created = await this.client.create<PodObject>(base, this.podObject(pod));
    } catch (err) {
      if (!(err instanceof ApiError && err.conflict)) throw err;
      // A Pod object left by an earlier run of this lab: replace it.
      await this.client.delete(`${base}/${pod.name}`, { gracePeriodSeconds: 0 });
      created = await this.client.create<PodObject>(base, this.podObject(pod));
    }
    await this.client.patch(`${base}/${pod.name}/status`, this.podStatus(pod, plan), 'merge');
    return created.metadata?.uid ?? '';
  }

  private podOrThrow(namespace: string, name: string): LabPod {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) throw new LabError(`${namespace}/${name}`, 'no such lab pod');
    return pod;
  }

  /** Marks a pod ready or unready (its Pod status and its endpoints' conditions follow). */
  async setReady(namespace: string, name: string, ready: boolean): Promise<LabPod> {
    const pod = this.podOrThrow(namespace, name);
    pod.ready = ready;
    const plan = nodePlan(this.topo, pod.node);
    await this.client.patch(
      `/api/v1/namespaces/${namespace}/pods/${name}/status`,
      this.podStatus(pod, plan),
      'merge',
    );
    await this.changed();
    return pod;
  }

  /** Deletes a pod: its endpoints go first (as in a rollout), then its Pod object, server and namespace. */
  async remove(namespace: string, name: string): Promise<void> {
    const pod = this.podOrThrow(namespace, name);
    this.pods.delete(`${namespace}/${name}`);
    await this.changed();
    try {
      await this.client.delete(`/api/v1/namespaces/${namespace}/pods/${name}`, { gracePeriodSeconds: 0 });
    } catch (err) {
      if (!(err instanceof ApiError && err.notFound)) throw err;
    }
    await this.teardown(pod);
  }

  private async teardown(pod: LabPod): Promise<void> {
    if (this.procs.has(pod.node, this.procName(pod))) await this.procs.remove(pod.node, this.procName(pod));
    // Deleting the pod's namespace deletes the veth pair and with it the node's routes to the pod.
    await deleteNetns(pod.ns);
  }
}
