// A real kube-proxy (iptables mode, or IPVS with or without strictARP) inside each node's namespace, talking to the apiserver through
// the node's forwarder with a ServiceAccount bound to system:node-proxier. Flags keep it off global
// state: no conntrack table sizing (--conntrack-max-per-core=0) and no conntrack timeouts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from './hosts.js';
import { waitFor, type ManagedProcess } from './process.js';

export const KUBE_PROXY_HEALTHZ_PORT = 10256;

export interface KubeProxyOptions {
  binary: string;
  kubeconfig: string;
  clusterCIDRs: readonly string[];
  logDir: string;
  /** Proxy mode (default iptables). IPVS needs the kernel's IP_VS (`ipvsAvailable`). */
  mode?: KubeProxyMode;
  /** IPVS mode: --ipvs-strict-arp (kube-proxy sets arp_ignore=1 and arp_announce=2). Default false. */
  strictARP?: boolean;
}

export type KubeProxyMode = 'iptables' | 'ipvs';

/** Whether this kernel has IPVS (built in or loaded): what kube-proxy's IPVS mode needs. */
export function ipvsAvailable(): boolean {
  return existsSync('/proc/net/ip_vs');
}

export function kubeProxyArgs(node: string, opts: KubeProxyOptions): string[] {
  return [
    `--kubeconfig=${opts.kubeconfig}`,
    `--hostname-override=${node}`,
    `--proxy-mode=${opts.mode ?? 'iptables'}`,
    ...(opts.mode === 'ipvs' && opts.strictARP ? ['--ipvs-strict-arp'] : []),
    `--cluster-cidr=${opts.clusterCIDRs.join(',')}`,
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--conntrack-udp-timeout=0',
    '--conntrack-udp-timeout-stream=0',
    `--healthz-bind-address=0.0.0.0:${KUBE_PROXY_HEALTHZ_PORT}`,
    '--metrics-bind-address=127.0.0.1:10249',
    '--v=2',
  ];
}

/** Starts kube-proxy in the node; resolves once its /healthz says it has synced its rules. */
export async function startKubeProxy(host: LabHost, opts: KubeProxyOptions): Promise<ManagedProcess> {
  const proc = host.spawn(opts.binary, kubeProxyArgs(host.name, opts), {
    name: `${host.name}/kube-proxy`,
    logFile: join(opts.logDir, `${host.name}-kube-proxy.log`),
  });
  await proc.whileRunning(
    waitFor(
      `${host.name} kube-proxy /healthz`,
      async () => {
        const r = await host.exec('curl', [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-m',
          '1',
          `http://127.0.0.1:${KUBE_PROXY_HEALTHZ_PORT}/healthz`,
        ]);
        return r.stdout.trim() === '200' ? true : undefined;
      },
      60_000,
      200,
    ),
  );
  return proc;
}
