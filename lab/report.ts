// What the CLI prints: the lab's summary after `up` (with commands that work as printed) and `status`.
import { relative } from 'node:path';
import type { LabStatus, LabTopology, ServiceInfo } from './lab.js';
import { routerCli } from './routers.js';

const CMD = 'npm run lab --';

function hostLine(name: string, ips: (string | undefined)[], extra = ''): string {
  return `  ${name.padEnd(9)} ${ips.filter(Boolean).join('  ')}${extra}`;
}

function running(status: LabStatus, host: string, name: string): boolean {
  return status.processes.some((p) => p.host === host && p.name === name && p.running);
}

function url(ip: string, port?: number): string {
  const h = ip.includes(':') ? `[${ip}]` : ip;
  return `http://${h}${port && port !== 80 ? `:${port}` : ''}/`;
}

export function upReport(topo: LabTopology, status: LabStatus, upMs: number, cwd: string): string {
  const kc = relative(cwd, topo.kubeconfig) || topo.kubeconfig;
  const lines: string[] = [];
  const family = topo.ipv6 ? 'dual-stack' : 'IPv4 only';
  lines.push(
    `Bollard lab is up: ${topo.nodes.length} nodes, router ${topo.router.kind}, ${family} (${(upMs / 1000).toFixed(1)} s).`,
  );
  lines.push('', `kubeconfig: ${topo.kubeconfig}`, '', 'Hosts:');
  lines.push(
    hostLine(
      'router',
      [topo.router.ipv4.ip, topo.router.ipv6?.ip],
      topo.router.kind === 'none' ? '  (no BGP)' : `  AS ${topo.router.asn}, ${topo.router.kind}`,
    ),
  );
  lines.push(hostLine('client', [topo.client.ipv4.ip, topo.client.ipv6?.ip], '  (on the LAN)'));
  lines.push(hostLine('external', [topo.external.ipv4.ip, topo.external.ipv6?.ip], '  (behind the router)'));
  for (const n of topo.nodes) {
    lines.push(
      hostLine(
        n.name,
        [n.ipv4.ip, n.ipv6?.ip],
        `  AS ${n.asn}, pods ${[n.podCIDRv4, n.podCIDRv6].filter(Boolean).join(' ')}`,
      ),
    );
  }
  lines.push('', 'Pools:');
  lines.push(`  ${topo.l2Pool.name.padEnd(9)} ${topo.l2Pool.addresses.join(', ')}  (layer 2)`);
  if (topo.router.kind !== 'none')
    lines.push(`  ${topo.bgpPool.name.padEnd(9)} ${topo.bgpPool.addresses.join(', ')}  (BGP)`);
  const real = status.install !== 'processes';
  const bollardPods = (c: string): LabStatus['pods'] =>
    status.pods.filter(
      (p) => p.namespace === 'metallb-system' && p.labels['app.kubernetes.io/component'] === c && !p.deleting,
    );
  const comps = ['controller', 'speaker'].map((c) => {
    if (real) {
      const pods = bollardPods(c);
      return `${c}: ${pods.filter((p) => p.ready).length}/${pods.length} pods ready`;
    }
    const procs = status.processes.filter((p) => p.name === c);
    return procs.length === 0
      ? `${c}: not built yet`
      : `${c}: ${procs.filter((p) => p.running).length}/${procs.length} running`;
  });
  const image = bollardPods('speaker')[0]?.images[0] ?? bollardPods('controller')[0]?.images[0];
  const how =
    status.install === 'helm'
      ? ' (helm release bollard'
      : status.install === 'kustomize'
        ? ' (kubectl apply -k'
        : status.install === 'none'
          ? ' (not installed'
          : ' (host processes';
  lines.push('', `Bollard${how}${image ? `, image ${image}` : ''}): ${comps.join(', ')}`);
  if (real && status.pods.length > 0) {
    lines.push('', 'Pods:');
    for (const p of status.pods.filter((x) => x.namespace !== 'kube-system')) {
      lines.push(
        `  ${`${p.namespace}/${p.name}`.padEnd(38)} ${p.node.padEnd(7)} ${p.ready ? 'Ready' : p.phase.padEnd(5)}  ${p.ips.join(' ')}`,
      );
    }
  }
  lines.push('', 'Services:');
  for (const s of status.services) lines.push(`  ${serviceLine(s)}`);
  const speakers = real
    ? bollardPods('speaker').some((p) => p.ready)
    : topo.nodes.some((n) => running(status, n.name, 'speaker'));
  const web = status.services.find((s) => s.namespace === 'demo' && s.name === 'web');
  const webBgp = status.services.find((s) => s.namespace === 'demo' && s.name === 'web-bgp');
  const first = topo.nodes[0];
  lines.push('', 'Try:');
  if (real) {
    lines.push(`  kubectl --kubeconfig ${kc} get nodes -o wide`);
    lines.push(`  kubectl --kubeconfig ${kc} get pods -A -o wide`);
    if (speakers) lines.push(`  kubectl --kubeconfig ${kc} -n metallb-system logs ds/speaker --tail=5`);
  }
  lines.push(`  kubectl --kubeconfig ${kc} get nodes,svc,endpointslices -A`);
  if (web && speakers && web.vips[0]) {
    lines.push(`  ${CMD} exec client -- curl -s ${url(web.vips[0])}`);
    if (web.vips[1]) lines.push(`  ${CMD} exec client -- curl -s ${url(web.vips[1])}`);
  }
  if (webBgp && speakers && webBgp.vips[0])
    lines.push(`  ${CMD} exec external -- curl -s ${url(webBgp.vips[0])}`);
  if (web?.nodePort && first)
    lines.push(`  ${CMD} exec client -- curl -s ${url(first.ipv4.ip, web.nodePort)}`);
  const cli = routerCli(topo.router.kind);
  if (cli)
    lines.push(
      `  ${CMD} exec router -- ${cli.sessions.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`,
    );
  lines.push(`  ${CMD} status`);
  const last = topo.nodes[topo.nodes.length - 1];
  if (last) lines.push(`  ${CMD} pods add --node ${last.name} --service demo/web`);
  const proc = speakers ? 'speaker' : 'kube-proxy';
  if (first && real && speakers) {
    lines.push(`  npx bollard explain service demo/web --kubeconfig ${kc}`);
    lines.push(`  ${CMD} kill ${first.name} speaker     # SIGKILL the container; the kubelet restarts it`);
    lines.push(`  ${CMD} stop ${first.name} speaker     # delete the pod; the DaemonSet makes a new one`);
    lines.push(`  ${CMD} pods unready --node ${first.name} --service demo/web`);
    lines.push(`  ${CMD} link ${first.name} down`, `  ${CMD} link ${first.name} up`);
  } else if (first) {
    lines.push(`  ${CMD} kill ${first.name} ${proc}`, `  ${CMD} start ${first.name} ${proc}`);
    lines.push(`  ${CMD} link ${first.name} down`, `  ${CMD} link ${first.name} up`);
  }
  lines.push(`  ${CMD} down`);
  if (!speakers && web) {
    lines.push('', 'VIPs answer once the speaker runs; until then, reach demo/web through its NodePort.');
  }
  if (status.warnings.length > 0) lines.push('', 'Warnings:', ...status.warnings.map((w) => `  ${w}`));
  return lines.join('\n') + '\n';
}

export function serviceLine(s: ServiceInfo): string {
  const vips =
    s.vips.length > 0 ? `VIP ${s.vips.join(' ')}` : s.type === 'LoadBalancer' ? 'VIP <pending>' : '';
  const np = s.nodePort ? `NodePort ${s.nodePort}` : '';
  const hc = s.healthCheckNodePort ? `health ${s.healthCheckNodePort}` : '';
  return [
    `${s.namespace}/${s.name}`.padEnd(20),
    s.type.padEnd(12),
    `ClusterIP ${s.clusterIPs.join(' ')}`,
    vips,
    np,
    hc,
  ]
    .filter(Boolean)
    .join('  ');
}

export function statusReport(status: LabStatus): string {
  const lines: string[] = ['Hosts:'];
  for (const h of status.hosts) lines.push(`  ${h.name.padEnd(9)} ${h.addresses.join('  ')}`);
  lines.push('', 'Processes:');
  const byHost = new Map<string, string[]>();
  for (const p of status.processes) {
    const list = byHost.get(p.host) ?? [];
    list.push(`${p.name}${p.running ? '' : ' (NOT RUNNING)'}`);
    byHost.set(p.host, list);
  }
  for (const [host, procs] of byHost) lines.push(`  ${host.padEnd(9)} ${procs.join(', ')}`);
  lines.push('', 'Services:');
  for (const s of status.services) lines.push(`  ${serviceLine(s)}`);
  lines.push('', 'Announcements (client neighbour table for layer 2, router kernel routes for BGP):');
  if (status.announcements.length === 0) lines.push('  no VIPs assigned');
  for (const a of status.announcements) {
    lines.push(
      `  ${a.vip.padEnd(16)} ${a.nodes.length > 0 ? `${a.via}: ${a.nodes.join(', ')}` : 'not announced'}`,
    );
  }
  if (status.l2Statuses.length > 0) {
    lines.push('', 'ServiceL2Status:');
    for (const s of status.l2Statuses)
      lines.push(`  ${s.namespace}/${s.name}: ${s.service ?? '?'} on ${s.node ?? '?'}`);
  }
  if (status.bgp !== undefined)
    lines.push(
      '',
      'BGP sessions (router):',
      ...status.bgp
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  if (status.warnings.length > 0) lines.push('', 'Warnings:', ...status.warnings.map((w) => `  ${w}`));
  return lines.join('\n') + '\n';
}
