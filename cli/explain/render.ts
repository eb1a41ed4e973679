// Plain-words rendering of the explanations (pure).
import type { NodeExplanation, PoolExplanation } from './pool.js';
import type { ServiceExplanation } from './service.js';
import { renderConflicts } from './conflicts.js';
import { renderVerification } from './verification.js';

const mark = (ok: boolean): string => (ok ? '✓' : '✗');

export function renderService(e: ServiceExplanation): string {
  const out: string[] = [];
  const head: Record<ServiceExplanation['verdict'], string> = {
    pending: 'EXTERNAL-IP pending',
    announced: `has ${e.ips.join(', ')} and it is announced`,
    'not-announced': `has ${e.ips.join(', ')} but it is NOT announced`,
    'not-handled': 'not handled by Bollard',
  };
  out.push(`Service ${e.service}: ${head[e.verdict]}`);
  if (e.problems.length > 0) {
    out.push('', 'Problems:');
    for (const p of e.problems) out.push(`  - ${p}`);
  }
  out.push('', 'Configuration:');
  out.push(
    `  ${e.config.valid ? 'valid' : 'INVALID'}${e.config.controllerState ? ` (ConfigurationState controller: ${e.config.controllerState})` : ''}`,
  );
  for (const err of e.config.errors) out.push(`    ${err}`);
  if (e.request) {
    const r = e.request;
    out.push('', 'Request:');
    out.push(
      `  families ${r.families.join(', ')} (${r.policy}), externalTrafficPolicy ${r.externalTrafficPolicy}`,
    );
    if (r.requestedIPs.length) out.push(`  requested IPs: ${r.requestedIPs.join(', ')}`);
    if (r.pool) out.push(`  address-pool: ${r.pool}`);
    if (r.sharingKey) out.push(`  allow-shared-ip: ${r.sharingKey}`);
  }
  out.push('', 'Allocation:');
  out.push(`  ${e.allocation.ok ? mark(true) : mark(false)} ${e.allocation.reason}`);
  if (e.allocation.lastEvent) out.push(`  last controller Event: ${e.allocation.lastEvent}`);
  for (const x of e.exhausted ?? []) {
    out.push(`  pool ${x.pool} is full; its addresses are held by:`);
    for (const h of x.holders)
      out.push(`    ${h.service}  ${h.ips.join(', ')}${h.created ? `  (created ${h.created})` : ''}`);
    if (x.more > 0)
      out.push(`    … and ${x.more} more (the newest are listed: bollard explain pool ${x.pool})`);
    out.push('  what you can do:');
    for (const r of x.remedies) out.push(`    - ${r}`);
  }
  if (e.pools.length > 0) {
    out.push('', 'Pools:');
    for (const p of e.pools)
      out.push(
        `  ${mark(p.usable)} ${p.pool}${p.priority !== undefined ? ` (priority ${p.priority})` : ''}: ${p.verdict}: ${p.reason}`,
      );
  }
  if (e.advertisements.length > 0) {
    out.push('', 'Advertisements:');
    for (const a of e.advertisements) out.push(`  ${mark(a.applies)} ${a.kind} ${a.name}: ${a.reason}`);
  }
  if (e.layer2) {
    out.push('', 'Layer 2:');
    for (const n of e.layer2.nodes)
      out.push(`  ${mark(n.eligible)} ${n.node}: ${n.eligible ? n.detail : `${n.reason}: ${n.detail}`}`);
    out.push(`  elected: ${e.layer2.expectedOwner ?? 'none (no eligible node)'}`);
    out.push(
      `  answering ARP/NDP now: ${e.layer2.announcing.length ? e.layer2.announcing.join(', ') : 'nobody'}`,
    );
    out.push(...renderVerification(e.layer2.verification));
  }
  if (e.bgp) {
    out.push('', 'BGP:');
    for (const n of e.bgp.nodes) {
      out.push(`  ${mark(n.eligible)} ${n.node}: ${n.eligible ? n.detail : `${n.reason}: ${n.detail}`}`);
      for (const p of n.peers) out.push(`      ${mark(p.carries)} peer ${p.peer}: ${p.detail}`);
    }
  }
  out.push(...renderConflicts(e.conflicts));
  out.push('', 'Speakers:');
  if (e.speakers.length === 0)
    out.push('  none found (no Node InternalIP, or pass --speaker-metrics host:port,…)');
  for (const s of e.speakers)
    out.push(
      `  ${mark(s.reachable)} ${s.node ?? '?'} ${s.endpoint}${s.reachable ? '' : ` unreachable (${s.error ?? ''})`}`,
    );
  return out.join('\n') + '\n';
}

export function renderPool(e: PoolExplanation): string {
  const out: string[] = [`IPAddressPool ${e.pool}: ${e.addresses.join(', ')}`];
  out.push(`  autoAssign ${e.autoAssign}, avoidBuggyIPs ${e.avoidBuggyIPs}`);
  if (e.serviceAllocation) {
    const sa = e.serviceAllocation;
    out.push(
      `  serviceAllocation: priority ${sa.priority}${sa.namespaces.length ? `, namespaces ${sa.namespaces.join(', ')}` : ''}${sa.namespaceSelectors.length ? `, namespaceSelectors ${sa.namespaceSelectors.join(' | ')}` : ''}${sa.serviceSelectors.length ? `, serviceSelectors ${sa.serviceSelectors.join(' | ')}` : ''}`,
    );
  }
  if (e.problems.length) {
    out.push('', 'Problems:');
    for (const p of e.problems) out.push(`  - ${p}`);
  }
  out.push('', 'Usage:');
  for (const u of e.usage) out.push(`  ${u.family}: ${u.inUse} of ${u.total} in use, ${u.available} left`);
  out.push('', 'Held by:');
  if (e.holders.length === 0) out.push('  nobody');
  for (const h of e.holders) out.push(`  ${h.service}: ${h.ips.join(', ')}`);
  out.push('', `Announced by: ${e.advertisements.length ? e.advertisements.join(', ') : 'nothing'}`);
  return out.join('\n') + '\n';
}

export function renderNode(e: NodeExplanation): string {
  const out: string[] = [
    `Node ${e.node} (${e.addresses.join(', ')}): ${e.ready ? 'Ready' : 'NOT Ready'}${e.excluded ? ', excluded from load balancers' : ''}`,
  ];
  if (e.problems.length) {
    out.push('', 'Problems:');
    for (const p of e.problems) out.push(`  - ${p}`);
  }
  out.push('', `Membership: ${e.membership.alive ? 'alive' : 'NOT alive'}: ${e.membership.detail}`);
  const view = Object.entries(e.membership.view);
  if (view.length) out.push(`  its view: ${view.map(([m, a]) => `${m} ${a ? 'alive' : 'dead'}`).join(', ')}`);
  out.push(
    `Speaker: ${e.speaker.endpoint ?? 'unknown endpoint'} ${e.speaker.reachable ? 'reachable' : `unreachable (${e.speaker.error ?? ''})`}${e.speaker.configState ? `, ConfigurationState ${e.speaker.configState}` : ''}`,
  );
  out.push('', 'BGP sessions:');
  if (e.sessions.length === 0) out.push('  none');
  for (const x of e.sessions)
    out.push(
      `  ${x.up === undefined ? '?' : mark(x.up)} ${x.peer}${x.address ? ` (${x.address})` : ''}: ${x.up === undefined ? 'unknown' : x.up ? 'up' : 'down'}`,
    );
  out.push('', 'VIPs announced:');
  if (e.vips.length === 0) out.push('  none');
  for (const v of e.vips) out.push(`  ${v.ip} ${v.service} (${v.protocol})`);
  if (e.healthChecks.length) {
    out.push('', 'Health checks (kube-proxy healthCheckNodePort):');
    for (const h of e.healthChecks) out.push(`  ${mark(h.ok)} ${h.service}`);
  }
  return out.join('\n') + '\n';
}
