// The whole lab in one object: control plane, LAN, nodes (Node objects + kube-proxy + pods), router,
// clients, and Bollard's controller and speakers once they exist. The CLI's supervisor runs one; tests
// run one in-process through test/support/lab.ts, so a test's lab dies with the test.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ApiError, KubeClient } from '../k8s/client.js';
import { ControlPlane } from './controlplane.js';
import { startMachineForwarder, startNodeForwarder } from './apiserver-forward.js';
import { componentEntry, startController, startSpeaker, SPEAKER_METRICS_PORT } from './components.js';
import {
  Applier,
  manifestFiles,
  METALLB_NAMESPACE,
  metallbDemoObjects,
  readManifests,
  serviceAccountOf,
  serviceObject,
  type ServiceOptions,
} from './deploy.js';
import { EndpointController, type Service } from './endpoints.js';
import { LabError } from './errors.js';
import { LabHost } from './hosts.js';
import { ipvsAvailable, startKubeProxy, type KubeProxyMode } from './kubeproxy.js';
import { type ExecResult } from './netns.js';
import { buildNetwork, type LabNetwork } from './network.js';
import { NodeAgent } from './nodes.js';
import { PodManager, type LabPod } from './pods.js';
import { MemoryCgroup, removeStaleCgroups, type MemoryUsage } from './memory-cgroup.js';
import { pidAlive, waitFor, type ManagedProcess } from './process.js';
import { ProcessTable, type ProcInfo } from './procs.js';
import { repoPath } from './repo.js';
import { routerCli, routerProcesses } from './routers.js';
import { makeTopology, type Topology, type TopologyOptions } from './topology.js';
import {
  POD_APISERVER_IP,
  removeRealNode,
  startControllers,
  startRealNode,
  waitNodesReady,
  writeKubernetesEndpoints,
  type ClusterImages,
  type NodeRuntime,
} from './cluster.js';
import { helmInstall, kustomizeInstall, waitInstalled, type InstallMethod } from './install.js';
import { removeStaleNodeCgroups } from './node-cgroups.js';
import { unmountUnder } from './mounts.js';
import {
  deletePod,
  listPods,
  podOn,
  waitPodsReady,
  webDeployment,
  webDeploymentName,
  type PodSummary,
} from './workloads.js';
import { ctr } from './containerd.js';
import { startEgressProxy, writeEgressSelectorConfig, type EgressProxy } from './egress.js';
import { labImages } from './lab-images.js';

/**
 * How Bollard runs in the lab. `helm` and `kustomize`: real nodes (containerd + kubelet, the
 * controller-manager and scheduler), Bollard's image installed as a user installs it. `none`: real
 * nodes, nothing installed (a test installs). `processes`: Bollard as host processes on nodes whose
 * status, Leases, pods and EndpointSlices the lab writes itself: fast, for the protocol tests.
 */
export type InstallMode = InstallMethod | 'none' | 'processes';

/** The label selector of Bollard's pods of one component (the chart's and deploy/'s labels). */
export function bollardSelector(component: string): string {
  return `app.kubernetes.io/name=bollard,app.kubernetes.io/component=${component}`;
}
export const INSTALL_MODES: readonly InstallMode[] = ['helm', 'kustomize', 'none', 'processes'];

/** The images real nodes get, and Bollard's reference. */
export interface LabImages extends ClusterImages {
  bollard: string;
  web: string;
}

export interface LabOptions extends TopologyOptions {
  /** The lab's folder (logs, kubeconfigs, configs, sockets). Default: a fresh temporary folder, removed on stop. */
  dir?: string;
  /** Names the run in namespace names (`bollard-<pid>-<tag>-…`; default random). */
  tag?: string;
  /** Create the demo: metallb.io pools/advertisements/peers, Services demo/web (+ demo/web-bgp), two pods. */
  demo?: boolean;
  /** Start Bollard's controller and speakers if they exist in the tree (default true). */
  components?: boolean;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
  /**
   * Run kube-proxy in every node (default true). Off for soaks: three kube-proxies rewriting iptables
   * for thousands of Services on the same cores measure the machine, not Bollard.
   */
  kubeProxy?: boolean;
  /**
   * kube-proxy's mode (default iptables). `ipvs` binds every Service IP to kube-ipvs0 in each node; without
   * `kubeProxyStrictARP` every node then answers ARP for the VIPs (bollard.io/KubeProxyConflict).
   * Refused when the kernel has no IPVS.
   */
  kubeProxyMode?: KubeProxyMode;
  kubeProxyStrictARP?: boolean;
  /**
   * Run Bollard's controller and each speaker in a memory cgroup with this limit (MiB), as the
   * deploy manifests' resources.limits.memory: Node sizes its heap from it, the kernel enforces it.
   */
  memoryLimitMiB?: number;
  /** How Bollard runs (default `processes`; the CLI's default is `helm`). */
  install?: InstallMode;
  /** The images for real nodes (default: built or taken from the cache by lab/image). */
  images?: () => Promise<LabImages>;
  say?: (line: string) => void;
}

/** The typed plan plus where things are: what tests and Bollard's e2e tests use. */
export interface LabTopology extends Topology {
  /** Admin kubeconfig (system:masters) for the machine's namespace. */
  kubeconfig: string;
  /** The apiserver URL in the machine's namespace (loopback). */
  apiserver: string;
  /** The Unix socket the in-node forwarders connect to. */
  apiserverSocket: string;
  /** Network namespace of every host (router, client, external, node-1…). */
  namespaces: Record<string, string>;
  dir: string;
  logDir: string;
}

export interface ServiceInfo {
  namespace: string;
  name: string;
  type: string;
  clusterIPs: string[];
  nodePort?: number;
  healthCheckNodePort?: number;
  vips: string[];
  externalTrafficPolicy?: string;
}

export interface Announcement {
  vip: string;
  /** Nodes seen announcing it: from the client's neighbour table (L2) or the router's kernel routes (BGP). */
  nodes: string[];
  via: 'l2' | 'bgp' | 'none';
}

export interface LabStatus {
  hosts: { name: string; ns: string; addresses: string[] }[];
  processes: ProcInfo[];
  services: ServiceInfo[];
  bgp?: string;
  announcements: Announcement[];
  l2Statuses: { name: string; namespace: string; node?: string; service?: string }[];
  /** How Bollard runs; on real nodes, the pods of every namespace but kube-system. */
  install: InstallMode;
  pods: PodSummary[];
  warnings: string[];
}

const DIR_PREFIX = 'bollard-lab-';

/** Removes temporary lab folders whose owning process is gone. */
export function removeStaleLabDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    // Only folders made by mkdtemp for a lab (`bollard-lab-XXXXXX`).
    if (!new RegExp(`^${DIR_PREFIX}[A-Za-z0-9]{6}$`).test(name)) continue;
    const dir = join(tmpdir(), name);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      // half-made
    }
    if (owner > 0 && pidAlive(owner)) continue;
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  }
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

interface ServiceObj extends Service {
  spec?: Service['spec'] & {
    clusterIPs?: string[];
    externalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    ports?: (NonNullable<Service['spec']>['ports'] extends (infer P)[] | undefined
      ? P & { nodePort?: number }
      : never)[];
  };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

export class Lab {
  readonly procs = new ProcessTable();
  private readonly cgroups = new Map<string, MemoryCgroup>();
  readonly warnings: string[] = [];
  private endpoints: EndpointController | undefined;
  private nodeAgent: NodeAgent | undefined;
  private podManager: PodManager | undefined;
  private readonly realNodes: NodeRuntime[] = [];
  private labImages: LabImages | undefined;
  private egress: EgressProxy | undefined;
  private stopped = false;
  private kubeconfigs = new Map<string, string>();
  private controllerPort: number | undefined;

  private constructor(
    readonly topology: LabTopology,
    readonly cp: ControlPlane,
    readonly net: LabNetwork,
    readonly client: KubeClient,
    private readonly ownsDir: boolean,
    private readonly say: (line: string) => void,
    private readonly runTag: string,
    readonly installMode: InstallMode,
  ) {}

  get dir(): string {
    return this.topology.dir;
  }

  get logDir(): string {
    return this.topology.logDir;
  }

  get kubeconfig(): string {
    return this.topology.kubeconfig;
  }

  /** The controller's metrics address on the machine's loopback (`--install processes` only). */
  get controllerMetrics(): string | undefined {
    return this.controllerPort === undefined ? undefined : `127.0.0.1:${this.controllerPort}`;
  }

  /** Whether the nodes are real (kubelet + containerd) rather than the lab's stand-ins. */
  get realKubelets(): boolean {
    return this.installMode !== 'processes';
  }

  get images(): LabImages {
    if (!this.labImages) throw new LabError('lab', 'no images: the nodes are not real');
    return this.labImages;
  }

  /** A real node's cgroup root (relative, e.g. `/bollard-…-node-1`): its pods are under `kubepods`. */
  nodeCgroupRoot(node: string): string {
    const rt = this.realNodes.find((n) => n.node.name === node);
    if (!rt) throw new LabError(node, 'not a real node');
    return rt.cgroups.root;
  }

  /** The containerd socket of a real node (for `ctr`). */
  containerdSocket(node: string): string {
    const rt = this.realNodes.find((n) => n.node.name === node);
    if (!rt) throw new LabError(node, 'not a real node');
    return rt.containerdSocket;
  }

  get pods(): PodManager {
    if (!this.podManager) throw new LabError('lab', 'not started');
    return this.podManager;
  }

  /** Builds the whole lab. On failure, removes what it made and rethrows. */
  static async start(opts: LabOptions = {}): Promise<Lab> {
    const t0 = Date.now();
    const say = opts.say ?? (() => undefined);
    if (opts.kubeProxyMode === 'ipvs' && opts.kubeProxy !== false && !ipvsAvailable())
      throw new Error(
        'kube-proxy --proxy-mode=ipvs needs IPVS in the kernel (CONFIG_IP_VS, module ip_vs): /proc/net/ip_vs is missing',
      );
    const topo = makeTopology(opts);
    // a crashed run's real nodes first: their processes hold the mounts under its folder
    await removeStaleNodeCgroups(pidAlive);
    removeStaleLabDirs();
    removeStaleCgroups(pidAlive);
    const installMode = opts.install ?? 'processes';
    const real = installMode !== 'processes';
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), DIR_PREFIX));
    mkdirSync(dir, { recursive: true });
    // FRR's daemons read their configuration after dropping to the frr user.
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'owner.pid'), String(process.pid));
    const logDir = join(dir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const tag = opts.tag ?? randomBytes(2).toString('hex');

    let cp: ControlPlane | undefined;
    let net: LabNetwork | undefined;
    // real nodes: the apiserver reaches kubelets and pods through the egress proxy (lab/egress.ts)
    const egressSocket = join(dir, 'egress.sock');
    const egressArgs: string[] = [];
    if (real) {
      const file = join(dir, 'egress-selector.yaml');
      writeEgressSelectorConfig(file, egressSocket);
      egressArgs.push(`--egress-selector-config-file=${file}`);
    }
    const [cpRes, netRes] = await Promise.allSettled([
      ControlPlane.start({
        dir: join(dir, 'cp'),
        logDir,
        apiserverArgs: [...egressArgs, ...(opts.apiserverArgs ?? [])],
        kubelets: real,
        say: (l) => say(l),
      }),
      buildNetwork(topo, tag, dir),
    ]);
    if (cpRes.status === 'fulfilled') cp = cpRes.value;
    if (netRes.status === 'fulfilled') net = netRes.value;
    if (!cp || !net) {
      await cp?.stop();
      await net?.lan.destroy();
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      const err =
        cpRes.status === 'rejected' ? cpRes.reason : netRes.status === 'rejected' ? netRes.reason : undefined;
      throw err instanceof Error ? err : new LabError('lab', String(err));
    }
    say(`control plane and network ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const kubeconfig = join(dir, 'kubeconfig');
    copyFileSync(cp.adminKubeconfig, kubeconfig);
    const namespaces: Record<string, string> = {};
    for (const [name, h] of net.hosts) namespaces[name] = h.ns;
    const topology: LabTopology = {
      ...topo,
      kubeconfig,
      apiserver: cp.server,
      apiserverSocket: join(dir, 'apiserver.sock'),
      namespaces,
      dir,
      logDir,
    };
    const lab = new Lab(topology, cp, net, KubeClient.fromFile(kubeconfig), ownsDir, say, tag, installMode);
    try {
      await lab.build(opts);
    } catch (err) {
      await lab.stop();
      throw err;
    }
    say(`lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return lab;
  }

  private onError = (err: Error): void => {
    this.say(`lab: ${err.message}`);
  };

  private async build(opts: LabOptions): Promise<void> {
    const topo = this.topology;
    const cp = this.cp;
    const real = this.realKubelets;
    this.procs.register({
      host: 'machine',
      name: 'kube-apiserver',
      start: async () => {
        await cp.startApiserver();
        return undefined;
      },
      stop: () => cp.stopApiserver(),
      running: () => cp.apiserverRunning,
    });
    this.procs.register({
      host: 'machine',
      name: 'etcd',
      start: async () => {
        await cp.startEtcd();
        return undefined;
      },
      stop: () => cp.stopEtcd(),
      running: () => cp.etcdRunning,
    });
    // Real nodes need their images: build them (or take them from the cache) while the rest comes up.
    const imagesReady = real ? this.loadImages(opts) : undefined;
    imagesReady?.catch(() => undefined);
    const port = Number(new URL(cp.server).port);
    await this.procs.add({
      host: 'machine',
      name: 'apiserver-forward',
      start: () => startMachineForwarder(topo.apiserverSocket, port, this.logDir),
    });
    await Promise.all(
      topo.nodes.map(async (n) => {
        await this.procs.add({
          host: n.name,
          name: 'apiserver-forward',
          start: () => startNodeForwarder(this.host(n.name), topo.apiserverSocket, this.logDir),
        });
        if (!real) return;
        // pods (and hostNetwork pods) reach the apiserver through the `kubernetes` Service, whose one
        // endpoint is this address on every node's loopback: the same forwarder, on one more port
        await this.host(n.name).sh('ip', ['addr', 'replace', `${POD_APISERVER_IP}/32`, 'dev', 'lo']);
        await this.procs.add({
          host: n.name,
          name: 'apiserver-forward-pods',
          start: () =>
            startNodeForwarder(this.host(n.name), topo.apiserverSocket, this.logDir, POD_APISERVER_IP),
        });
      }),
    );

    const applier = new Applier(this.client);
    // On real nodes the CRDs come with Bollard (the chart's crds/, deploy/crds in the kustomization).
    const crds = real ? [] : await applier.applyCrds(manifestFiles(repoPath('deploy', 'crds')));
    if (crds.length > 0) this.say(`applied ${crds.length} CRDs from deploy/crds`);

    if (!real) {
      this.nodeAgent = new NodeAgent(this.client, topo.nodes, {
        kubeVersion: cp.bins.version.kubernetes,
        onError: this.onError,
      });
      await this.nodeAgent.register();
      this.nodeAgent.start();
    } else {
      this.egress = await startEgressProxy(join(this.dir, 'egress.sock'), (ip) => this.egressNamespace(ip));
      await startControllers(cp, this.procs, this.logDir);
      await writeKubernetesEndpoints(this.client);
    }

    // kube-proxy: a ServiceAccount bound to system:node-proxier, reaching the apiserver through the node's forwarder.
    await this.ensure('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'bollard-lab:kube-proxy' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node-proxier' },
      subjects: [{ kind: 'ServiceAccount', name: 'kube-proxy', namespace: 'kube-system' }],
    });
    const proxyKubeconfig = await this.kubeconfigFor('kube-system', 'kube-proxy', { inNode: true });

    const router = this.host('router');
    await Promise.all([
      ...topo.nodes
        .filter(() => opts.kubeProxy !== false)
        .map((n) =>
          this.procs.add({
            host: n.name,
            name: 'kube-proxy',
            start: () =>
              startKubeProxy(this.host(n.name), {
                binary: cp.bins.kubeProxy,
                kubeconfig: proxyKubeconfig,
                clusterCIDRs: topo.clusterCIDRs,
                logDir: this.logDir,
                ...(opts.kubeProxyMode ? { mode: opts.kubeProxyMode } : {}),
                ...(opts.kubeProxyStrictARP ? { strictARP: true } : {}),
              }),
          }),
        ),
      (async () => {
        for (const spec of routerProcesses(topo, router, join(this.dir, 'hosts', 'router'), this.logDir)) {
          await this.procs.add(spec);
        }
      })(),
      ...(imagesReady ? [this.startRealNodes(imagesReady)] : []),
    ]);

    if (real) {
      const mode = this.installMode;
      if (mode === 'helm' || mode === 'kustomize') await this.installBollard(mode);
      if (opts.demo) await this.createClusterDemo();
      return;
    }

    this.endpoints = new EndpointController(this.client, () => this.podManager?.list() ?? [], this.onError);
    await this.endpoints.start();
    const nodeHosts = new Map(topo.nodes.map((n) => [n.name, this.host(n.name)]));
    this.podManager = new PodManager(
      topo,
      this.net.lan,
      nodeHosts,
      this.client,
      this.procs,
      this.logDir,
      () => (this.endpoints ? this.endpoints.sync() : Promise.resolve()),
    );

    if (opts.demo) await this.createDemo(crds.length > 0);
    if (opts.components ?? true) await this.startComponents(opts.memoryLimitMiB);
  }

  /** The lab host that dials an address for the apiserver: the node it belongs to, else the first node. */
  private egressNamespace(ip: string): string | undefined {
    const nodes = this.topology.nodes;
    const owner = nodes.find(
      (n) =>
        n.ipv4.ip === ip ||
        n.ipv6?.ip === ip ||
        ip.startsWith(n.podCIDRv4.replace(/0\/24$/, '')) ||
        (n.podCIDRv6 !== undefined && ip.startsWith(n.podCIDRv6.replace(/\/64$/, ''))),
    );
    const node = owner ?? nodes[0];
    return node ? this.topology.namespaces[node.name] : undefined;
  }

  private async loadImages(opts: LabOptions): Promise<LabImages> {
    const t0 = Date.now();
    const load = opts.images ?? (() => labImages((l) => this.say(l)));
    const images = await load();
    this.labImages = images;
    this.say(`images ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return images;
  }

  private async startRealNodes(images: Promise<LabImages>): Promise<void> {
    const imgs = await images;
    const t0 = Date.now();
    await Promise.all(
      this.topology.nodes.map(async (n) => {
        const rt = await startRealNode({
          node: n,
          host: this.host(n.name),
          dir: join(this.dir, 'nodes', n.name),
          runName: `${process.pid}-${this.runTag}`,
          cp: this.cp,
          topo: this.topology,
          images: { pause: imgs.pause, others: imgs.others },
          procs: this.procs,
          logDir: this.logDir,
        });
        this.realNodes.push(rt);
      }),
    );
    await waitNodesReady(
      this.client,
      this.topology.nodes.map((n) => n.name),
    );
    this.say(
      `${this.topology.nodes.length} kubelets registered and Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }

  /** Installs Bollard (helm or kustomize) and waits until the controller and every speaker are ready. */
  async installBollard(method: InstallMethod, set?: Record<string, string>): Promise<void> {
    const t0 = Date.now();
    if (method === 'helm') {
      await helmInstall({ kubeconfig: this.kubeconfig, dir: this.dir, ...(set ? { set } : {}) });
    } else {
      await kustomizeInstall({ kubeconfig: this.kubeconfig, dir: this.dir, image: this.images.bollard });
    }
    await waitInstalled(this.client);
    this.say(`Bollard installed with ${method} and rolled out in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  /** The demo on real nodes: metallb.io objects, one web Deployment on each of the first two nodes, the Services. */
  private async createClusterDemo(): Promise<void> {
    const topo = this.topology;
    if (this.installMode === 'none') {
      // nothing installed the CRDs: apply them (a later `helm install` keeps them), so the demo's
      // pools are there when the user installs Bollard
      await new Applier(this.client).applyCrds(manifestFiles(repoPath('deploy', 'crds')));
      await this.ensureNamespace(METALLB_NAMESPACE);
      this.warnings.push(
        'Bollard is not installed (--install none): the demo Services stay <pending> until you install it',
      );
    }
    await this.apply(...metallbDemoObjects(topo));
    await this.ensureNamespace('demo');
    const nodes = await this.addDemoServices();
    for (const n of nodes) await this.addWebDeployment('demo', 'web', n.name);
    await waitPodsReady(this.client, 'demo', 'app=web', nodes.length);
  }

  /** The demo's Services (demo/web, and demo/web-bgp with a router); returns the nodes its pods go on. */
  private async addDemoServices(): Promise<Topology['nodes']> {
    const topo = this.topology;
    await this.addService({ namespace: 'demo', name: 'web' });
    if (topo.router.kind !== 'none') {
      await this.addService({
        namespace: 'demo',
        name: 'web-bgp',
        selector: { app: 'web' },
        annotations: { 'metallb.io/address-pool': topo.bgpPool.name },
      });
    }
    return topo.nodes.slice(0, 2);
  }

  /** A web Deployment pinned to a node (real nodes): `<app>-<node>`, selected by `app: <app>`. */
  async addWebDeployment(
    namespace: string,
    app: string,
    node: string,
    opts: { replicas?: number; drainSeconds?: number } = {},
  ): Promise<void> {
    await this.ensureNamespace(namespace);
    await this.apply(
      webDeployment({
        namespace,
        app,
        node,
        image: this.images.web,
        port: this.topology.podPort,
        ...opts,
      }),
    );
  }

  /** Ensures a namespace and its default ServiceAccount exist. */
  async ensureNamespace(namespace: string): Promise<void> {
    await this.ensure('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
    });
  }

  private async ensure(path: string, body: unknown): Promise<void> {
    try {
      await this.client.create(path, body);
    } catch (err) {
      if (!(err instanceof ApiError && err.conflict)) throw err;
    }
  }

  /**
   * A kubeconfig for a ServiceAccount (real token). `inNode`: for processes inside a node, through the
   * node's forwarder (https://127.0.0.1:6443); otherwise loopback in the machine's namespace.
   */
  async kubeconfigFor(
    namespace: string,
    serviceAccount: string,
    opts: { inNode?: boolean } = {},
  ): Promise<string> {
    const key = `${namespace}/${serviceAccount}/${opts.inNode ? 'node' : 'machine'}`;
    const have = this.kubeconfigs.get(key);
    if (have) return have;
    const made = await this.cp.kubeconfigFor(
      namespace,
      serviceAccount,
      opts.inNode ? this.topology.nodeApiserver : this.cp.server,
    );
    const dest = join(
      this.dir,
      'kubeconfigs',
      `${namespace}-${serviceAccount}${opts.inNode ? '-node' : ''}.kubeconfig`,
    );
    mkdirSync(join(this.dir, 'kubeconfigs'), { recursive: true });
    copyFileSync(made, dest);
    rmSync(made, { force: true });
    this.kubeconfigs.set(key, dest);
    return dest;
  }

  /** Applies manifests (server-side apply as admin). */
  async apply(...objects: Parameters<Applier['apply']>[0][]): Promise<void> {
    await new Applier(this.client).applyAll(objects);
  }

  private async createDemo(withMetallb: boolean): Promise<void> {
    const topo = this.topology;
    if (withMetallb) {
      await this.ensure('/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: METALLB_NAMESPACE },
      });
      await this.apply(...metallbDemoObjects(topo));
    } else {
      this.warnings.push('deploy/crds has no CRDs yet: the demo has no metallb.io pools');
    }
    const nodes = await this.addDemoServices();
    for (const n of nodes) await this.pods.add({ namespace: 'demo', node: n.name, labels: { app: 'web' } });
  }

  private async startComponents(memoryLimitMiB: number | undefined): Promise<void> {
    const topo = this.topology;
    const rbacDir = repoPath('deploy', 'rbac');
    for (const name of ['controller', 'speaker'] as const) {
      const file = join(rbacDir, `${name}.yaml`);
      const sa = serviceAccountOf(file);
      if (!componentEntry(name)) continue;
      if (!sa) {
        this.warnings.push(`${name}: built, but ${file} has no ServiceAccount yet; not started`);
        continue;
      }
      try {
        await this.ensure('/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: sa.namespace },
        });
        await this.apply(...readManifests(file));
      } catch (err) {
        this.warnings.push(`${name} RBAC from ${file}: ${(err as Error).message}; not started`);
        continue;
      }
      if (name === 'controller') {
        const kubeconfig = await this.kubeconfigFor(sa.namespace, sa.name);
        const metricsPort = await freePort();
        this.controllerPort = metricsPort;
        await this.procs.add({
          host: 'machine',
          name: 'controller',
          start: async () => {
            const cg = this.cgroupFor('machine', 'controller', memoryLimitMiB);
            const p = startController({
              kubeconfig,
              namespace: METALLB_NAMESPACE,
              metricsPort,
              logDir: this.logDir,
              ...(cg ? { cgroupProcs: cg.procsFile } : {}),
            });
            if (!p) throw new LabError('machine/controller', 'entry point vanished');
            await this.softReady(p, 'controller', async () => {
              const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
              return r?.ok ? true : undefined;
            });
            return p;
          },
        });
      } else {
        const kubeconfig = await this.kubeconfigFor(sa.namespace, sa.name, { inNode: true });
        await Promise.all(
          topo.nodes.map((n) =>
            this.procs.add({
              host: n.name,
              name: 'speaker',
              start: async () => {
                const host = this.host(n.name);
                const cg = this.cgroupFor(n.name, 'speaker', memoryLimitMiB);
                const p = startSpeaker(host, {
                  kubeconfig,
                  namespace: METALLB_NAMESPACE,
                  metricsHost: n.ipv4.ip,
                  logDir: this.logDir,
                  ...(cg ? { cgroupProcs: cg.procsFile } : {}),
                });
                if (!p) throw new LabError(`${n.name}/speaker`, 'entry point vanished');
                await this.softReady(p, `${n.name}/speaker`, async () => {
                  const r = await host.exec('curl', [
                    '-sf',
                    '-m',
                    '1',
                    '-o',
                    '/dev/null',
                    `http://${n.ipv4.ip}:${SPEAKER_METRICS_PORT}/metrics`,
                  ]);
                  return r.code === 0 ? true : undefined;
                });
                return p;
              },
            }),
          ),
        );
      }
      this.say(`started ${name} (RBAC from ${file})`);
    }
  }

  /** The memory cgroup of one of Bollard's processes (made at its first start), when limits are on. */
  private cgroupFor(host: string, proc: string, limitMiB: number | undefined): MemoryCgroup | undefined {
    if (limitMiB === undefined) return undefined;
    const key = `${host}/${proc}`;
    let cg = this.cgroups.get(key);
    if (!cg) {
      cg = MemoryCgroup.create(`${process.pid}-${this.runTag}-${host}-${proc}`, limitMiB);
      this.cgroups.set(key, cg);
    }
    return cg;
  }

  /** Memory of a process run under `memoryLimitMiB` (limit, peak, OOM kills); undefined without one. */
  memoryUsage(host: string, proc: string): MemoryUsage | undefined {
    return this.cgroups.get(`${host}/${proc}`)?.usage();
  }

  private async softReady(
    p: ManagedProcess,
    what: string,
    probe: () => Promise<true | undefined>,
  ): Promise<void> {
    try {
      await p.whileRunning(waitFor(`${what} metrics`, probe, 15_000, 200));
    } catch (err) {
      this.warnings.push(`${what}: ${(err as Error).message} (see ${this.logDir})`);
    }
  }

  /** A host by name: router, client, external, node-1… */
  host(name: string): LabHost {
    const h = this.net.hosts.get(name);
    if (!h) throw new LabError(name, `no such host (hosts: ${[...this.net.hosts.keys()].join(', ')})`);
    return h;
  }

  /** A pod's network namespace as a host (to run commands "inside the pod"). */
  podHost(pod: LabPod): LabHost {
    return new LabHost(`${pod.namespace}/${pod.name}`, pod.ns);
  }

  get hostNames(): string[] {
    return [...this.net.hosts.keys()];
  }

  exec(host: string, cmd: string, args: readonly string[] = [], timeoutMs?: number): Promise<ExecResult> {
    return this.host(host).exec(cmd, args, timeoutMs);
  }

  /** Pulls or restores a host's cable: at its bridge port for LAN hosts, at its eth0 for `external`. */
  async link(host: string, state: 'up' | 'down'): Promise<void> {
    const lanHost = this.net.lanHosts.get(host);
    if (lanHost) return lanHost.link(state);
    await this.host(host).sh('ip', ['link', 'set', 'eth0', state]);
  }

  /**
   * SIGKILL a lab process. On real nodes `speaker` and `controller` are Bollard's containers: the one on
   * that node is killed through the runtime (the kubelet restarts it, as after a crash).
   */
  async kill(host: string, proc: string): Promise<void> {
    if (this.isBollardPod(proc)) return this.killContainer(host, proc);
    await this.procs.kill(host, proc);
  }

  /**
   * SIGTERM a lab process. On real nodes `speaker` and `controller` are pods: the one on that node is
   * deleted (the kubelet stops it with its grace period; the DaemonSet or Deployment makes a new one).
   */
  async stopProcess(host: string, proc: string): Promise<void> {
    if (this.isBollardPod(proc)) {
      const pod = await podOn(this.client, METALLB_NAMESPACE, bollardSelector(proc), host);
      await deletePod(this.client, pod.namespace, pod.name);
      return;
    }
    await this.procs.stop(host, proc);
  }

  /** Starts a lab process again. On real nodes Bollard's pods come back by themselves: this waits for it. */
  async startProcess(host: string, proc: string): Promise<void> {
    if (this.isBollardPod(proc)) {
      await waitFor(
        `${host} ${proc} pod Ready`,
        async () => {
          const pods = await listPods(this.client, METALLB_NAMESPACE, bollardSelector(proc));
          return pods.some((p) => p.node === host && p.ready && !p.deleting) ? true : undefined;
        },
        120_000,
        250,
      );
      return;
    }
    await this.procs.start(host, proc);
  }

  private isBollardPod(proc: string): boolean {
    return this.realKubelets && (proc === 'speaker' || proc === 'controller');
  }

  /** SIGKILL the running container of Bollard's `component` pod on `node`, through its containerd. */
  async killContainer(node: string, component: string): Promise<void> {
    const pod = await podOn(this.client, METALLB_NAMESPACE, bollardSelector(component), node);
    const obj = await this.client.get<{
      status?: {
        containerStatuses?: { name?: string; containerID?: string; state?: { running?: unknown } }[];
      };
    }>(`/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`);
    const id = obj.status?.containerStatuses
      ?.find((c) => c.name === component && c.state?.running)
      ?.containerID?.replace(/^containerd:\/\//, '');
    if (!id) throw new LabError(`${node}/${component}`, `pod ${pod.name} has no running container`);
    const r = await ctr(this.containerdSocket(node), ['tasks', 'kill', '--signal', 'SIGKILL', id]);
    if (r.code !== 0) throw new LabError(`${node}/${component}`, `ctr tasks kill: ${r.stderr.trim()}`);
  }

  async setNodeReady(node: string, ready: boolean): Promise<void> {
    if (this.realKubelets)
      throw new LabError(
        node,
        `the kubelet reports readiness; stop it instead: npm run lab -- stop ${node} kubelet`,
      );
    if (!this.nodeAgent) throw new LabError(node, 'lab not started');
    await this.nodeAgent.setReady(node, ready);
  }

  /** Pods on real nodes: add (scale the `<app>-<node>` Deployment up), remove (down), ready/unready (the pod's readiness). */
  async clusterPods(
    action: 'add' | 'remove' | 'unready' | 'ready',
    service: string,
    node: string,
    count?: number,
  ): Promise<PodSummary[]> {
    const svc = await this.service(service);
    const [namespace] = service.split('/') as [string, string];
    const app = svc.spec?.selector?.['app'];
    if (!app) throw new LabError(service, 'the lab moves pods of Services that select `app: <name>`');
    const name = webDeploymentName(app, node);
    const selector = `app=${app},bollard.dev/lab-node=${node}`;
    const path = `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
    const current = async (): Promise<number> => {
      try {
        return (await this.client.get<{ spec?: { replicas?: number } }>(path)).spec?.replicas ?? 0;
      } catch (err) {
        if (err instanceof ApiError && err.notFound) return 0;
        throw err;
      }
    };
    if (action === 'add' || action === 'remove') {
      const have = await current();
      const want =
        action === 'add' ? have + (count ?? 1) : count === undefined ? 0 : Math.max(0, have - count);
      if (have === 0 && action === 'add')
        await this.addWebDeployment(namespace, app, node, { replicas: want });
      else await this.client.patch(path, { spec: { replicas: want } });
      return want > 0 ? waitPodsReady(this.client, namespace, selector, want) : [];
    }
    const pods = (await listPods(this.client, namespace, selector)).filter((p) => !p.deleting);
    if (pods.length === 0) throw new LabError(service, `no pods on ${node}`);
    await Promise.all(pods.map((p) => this.setPodReadiness(p, action === 'ready')));
    return pods;
  }

  /** Makes a web pod pass or fail its readiness probe (the lab's web image: POST /control/ready). */
  async setPodReadiness(pod: PodSummary, ready: boolean): Promise<void> {
    const ip = pod.ips[0];
    if (!ip) throw new LabError(`${pod.namespace}/${pod.name}`, 'no pod IP yet');
    await this.host(pod.node).sh('curl', [
      '-sf',
      '-m',
      '5',
      '-X',
      'POST',
      '--data',
      String(ready),
      `http://${ip.includes(':') ? `[${ip}]` : ip}:${this.topology.podPort}/control/ready`,
    ]);
  }

  /** Creates (or updates) a Service; the lab keeps its EndpointSlices. Resolves with the stored object. */
  async addService(opts: ServiceOptions): Promise<ServiceObj> {
    if (this.realKubelets) await this.ensureNamespace(opts.namespace);
    else await this.pods.ensureNamespace(opts.namespace);
    await this.apply(serviceObject(opts, this.topology));
    await this.endpoints?.sync();
    return this.client.get<ServiceObj>(`/api/v1/namespaces/${opts.namespace}/services/${opts.name}`);
  }

  /** Adds a pod for a Service (`ns/name`) on a node; resolves once its endpoints are written. */
  async addPod(
    service: string,
    node: string,
    opts: { ready?: boolean; name?: string } = {},
  ): Promise<LabPod> {
    const svc = await this.service(service);
    const [namespace] = service.split('/') as [string, string];
    return this.pods.add({ namespace, node, labels: svc.spec?.selector ?? {}, ...opts });
  }

  /** The lab pods backing a Service (`ns/name`), optionally on one node. */
  async podsOf(service: string, node?: string): Promise<LabPod[]> {
    const svc = await this.service(service);
    const [namespace] = service.split('/') as [string, string];
    const sel = svc.spec?.selector ?? {};
    return this.pods
      .list()
      .filter((p) => p.namespace === namespace && (!node || p.node === node))
      .filter((p) => Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => p.labels[k] === v));
  }

  /** Removes the Service's pods on a node (all, or the newest `count`). Returns the removed pods. */
  async removePods(service: string, node: string, count?: number): Promise<LabPod[]> {
    const pods = (await this.podsOf(service, node)).sort((a, b) => b.index - a.index).slice(0, count);
    if (pods.length === 0) throw new LabError(service, `no lab pods on ${node}`);
    for (const p of pods) await this.pods.remove(p.namespace, p.name);
    return pods;
  }

  /** Marks the Service's pods on a node unready (or ready again). */
  async setPodsReady(service: string, node: string, ready: boolean): Promise<LabPod[]> {
    const pods = await this.podsOf(service, node);
    if (pods.length === 0) throw new LabError(service, `no lab pods on ${node}`);
    for (const p of pods) await this.pods.setReady(p.namespace, p.name, ready);
    return pods;
  }

  async service(ref: string): Promise<ServiceObj> {
    const [namespace, name] = ref.split('/');
    if (!namespace || !name) throw new LabError(ref, 'a Service is namespace/name');
    try {
      return await this.client.get<ServiceObj>(`/api/v1/namespaces/${namespace}/services/${name}`);
    } catch (err) {
      if (err instanceof ApiError && err.notFound) throw new LabError(ref, 'no such Service');
      throw err;
    }
  }

  /** Services outside kube-system/default with their ClusterIPs, node ports and VIPs. */
  async services(): Promise<ServiceInfo[]> {
    const list = await this.client.get<{ items: ServiceObj[] }>('/api/v1/services');
    return list.items
      .filter((s) => s.metadata?.namespace !== 'default' || s.metadata?.name !== 'kubernetes')
      .map((s) => ({
        namespace: s.metadata?.namespace ?? '',
        name: s.metadata?.name ?? '',
        type: s.spec?.type ?? 'ClusterIP',
        clusterIPs: s.spec?.clusterIPs ?? [],
        ...(s.spec?.ports?.[0]?.nodePort ? { nodePort: s.spec.ports[0].nodePort } : {}),
        ...(s.spec?.healthCheckNodePort ? { healthCheckNodePort: s.spec.healthCheckNodePort } : {}),
        ...(s.spec?.externalTrafficPolicy ? { externalTrafficPolicy: s.spec.externalTrafficPolicy } : {}),
        vips: (s.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
      }));
  }

  /** Which nodes announce a VIP: the client's neighbour entry (L2) or the router's kernel route (BGP). */
  async announcers(vip: string): Promise<Announcement> {
    const v6 = vip.includes(':');
    const byMac = new Map(this.topology.nodes.map((n) => [n.mac.toLowerCase(), n.name]));
    const byIp = new Map(
      this.topology.nodes.flatMap(
        (n) => [[n.ipv4.ip, n.name], ...(n.ipv6 ? [[n.ipv6.ip, n.name]] : [])] as [string, string][],
      ),
    );
    const inLan = this.inL2Pool(vip);
    if (inLan) {
      await this.exec('client', 'ping', [...(v6 ? ['-6'] : []), '-c1', '-W1', vip], 3000);
      const neigh = await this.exec('client', 'ip', [...(v6 ? ['-6'] : []), 'neigh', 'show', vip]);
      const mac = /lladdr (\S+)/.exec(neigh.stdout)?.[1]?.toLowerCase();
      const node = mac ? byMac.get(mac) : undefined;
      return { vip, nodes: node ? [node] : [], via: node ? 'l2' : 'none' };
    }
    const route = await this.exec('router', 'ip', [...(v6 ? ['-6'] : []), 'route', 'show', vip]);
    const hops = [...route.stdout.matchAll(/via (\S+)/g)]
      .map((m) => byIp.get(m[1] as string))
      .filter((x): x is string => !!x);
    return { vip, nodes: [...new Set(hops)].sort(), via: hops.length > 0 ? 'bgp' : 'none' };
  }

  private inL2Pool(vip: string): boolean {
    return vip.startsWith('10.50.0.') || vip.startsWith('fd00:50::');
  }

  async status(): Promise<LabStatus> {
    const hosts = await Promise.all(
      [...this.net.hosts.values()].map(async (h) => {
        const r = await h.exec('ip', ['-br', 'addr', 'show', 'scope', 'global']);
        const addresses = r.stdout
          .split('\n')
          .flatMap((l) => l.trim().split(/\s+/).slice(2))
          .filter((a) => a.length > 0);
        return { name: h.name, ns: h.ns, addresses };
      }),
    );
    const cli = routerCli(this.topology.router.kind);
    const bgp = cli
      ? (await this.exec('router', cli.sessions[0] as string, cli.sessions.slice(1))).stdout
      : undefined;
    const services = await this.services().catch(() => []);
    const announcements = await Promise.all(services.flatMap((s) => s.vips).map((v) => this.announcers(v)));
    let l2Statuses: LabStatus['l2Statuses'] = [];
    try {
      const list = await this.client.get<{
        items: {
          metadata?: { name?: string; namespace?: string };
          status?: { node?: string; serviceName?: string };
        }[];
      }>('/apis/metallb.io/v1beta1/servicel2statuses');
      l2Statuses = list.items.map((i) => ({
        name: i.metadata?.name ?? '',
        namespace: i.metadata?.namespace ?? '',
        ...(i.status?.node ? { node: i.status.node } : {}),
        ...(i.status?.serviceName ? { service: i.status.serviceName } : {}),
      }));
    } catch {
      // CRD not there yet
    }
    return {
      hosts,
      processes: this.procs.list(),
      install: this.installMode,
      pods: this.realKubelets ? await listPods(this.client).catch(() => []) : [],
      services,
      ...(bgp !== undefined ? { bgp } : {}),
      announcements,
      l2Statuses,
      warnings: [...this.warnings],
    };
  }

  /** Stops everything and removes every namespace (and the folder, if the lab made it). Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.nodeAgent?.stop().catch(() => undefined);
    await this.endpoints?.stop().catch(() => undefined);
    await this.procs.stopAll();
    await this.egress?.close().catch(() => undefined);
    // real nodes: every pod and shim (in the node's cgroups), then the mounts the kubelet and containerd made
    for (const rt of this.realNodes) {
      await removeRealNode(rt).catch((err: unknown) => this.say(`lab: ${(err as Error).message}`));
    }
    for (const cg of this.cgroups.values()) cg.remove();
    this.client.close();
    await this.net.lan.destroy();
    await this.cp.stop();
    if (this.ownsDir && existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}

export { SPEAKER_METRICS_PORT };
