// The flow handover chain as iptables-restore text (pure), and the commands that install it.
//
// mangle PREROUTING runs after conntrack and before kube-proxy's nat PREROUTING, so a packet that
// conntrack does not know (ctstate NEW) and that is not a SYN is still untouched there:
//   1. a copy another speaker handed over (DSCP FORWARDED_DSCP) of a flow this node does not know
//      either is dropped: it must not be answered with a reset nor handed on again;
//   2. a stray to a VIP with a window is marked (rate-limited: above the limit strays are left to
//      kube-proxy as before), copied by TEE to each target node, and dropped here.
// The copy keeps the client's addresses; the node that knows the flow DNATs it as before and answers
// the client itself.
import { isIPv6 } from 'node:net';

export const CHAIN = 'BOLLARD-FLOWS';
/** The DSCP a handed-over copy carries (21: no standard per-hop behaviour uses it). */
export const FORWARDED_DSCP = 21;
/** At most this many strays a second are handed over (the copies are bounded by it times the targets). */
export const STRAY_RATE = 2000;

export type Family = 4 | 6;

/** One VIP's handover: the addresses of the nodes its strays are copied to. */
export interface FlowRule {
  readonly vip: string;
  readonly gateways: readonly string[];
}

const STRAY = '-p tcp ! --syn -m conntrack --ctstate NEW';

/** iptables-restore --noflush input that replaces the chain's content (the chain is created if missing). */
export function restoreText(family: Family, rules: readonly FlowRule[]): string {
  const lines = ['*mangle', `:${CHAIN} - [0:0]`, `-F ${CHAIN}`];
  lines.push(`-A ${CHAIN} ${STRAY} -m dscp --dscp ${FORWARDED_DSCP} -j DROP`);
  const plen = family === 4 ? 32 : 128;
  for (const r of rules) {
    if ((family === 6) !== isIPv6(r.vip) || r.gateways.length === 0) continue;
    const dst = `-d ${r.vip}/${plen}`;
    lines.push(
      `-A ${CHAIN} ${dst} ${STRAY} -m limit --limit ${STRAY_RATE}/sec --limit-burst ${STRAY_RATE} -j DSCP --set-dscp ${FORWARDED_DSCP}`,
    );
    for (const g of r.gateways)
      lines.push(`-A ${CHAIN} ${dst} ${STRAY} -m dscp --dscp ${FORWARDED_DSCP} -j TEE --gateway ${g}`);
    lines.push(`-A ${CHAIN} ${dst} ${STRAY} -m dscp --dscp ${FORWARDED_DSCP} -j DROP`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The rules for one family: each VIP of that family with the targets' addresses of that family. */
export function familyRules(
  family: Family,
  rules: ReadonlyMap<string, readonly string[]>,
  addressesOf: (node: string) => readonly string[],
): FlowRule[] {
  const out: FlowRule[] = [];
  for (const [vip, nodes] of rules) {
    if ((family === 6) !== isIPv6(vip)) continue;
    const gateways = nodes.flatMap((n) =>
      addressesOf(n)
        .filter((a) => isIPv6(a) === (family === 6))
        .slice(0, 1),
    );
    if (gateways.length > 0) out.push({ vip, gateways });
  }
  return out;
}

/** What runs a command (spawnSync by default; tests give a fake). */
export type Runner = (
  cmd: string,
  args: readonly string[],
  input?: string,
) => { ok: boolean; stdout: string; error?: string };

/**
 * The iptables of the node's kube-proxy, like kubernetes-sigs/iptables-wrappers decides: the backend
 * (legacy or nft) whose tables hold KUBE- chains; plain `iptables` when neither does (or neither
 * variant is installed).
 */
export function chooseBackend(run: Runner, family: Family): string {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  for (const variant of ['legacy', 'nft']) {
    const r = run(`${base}-${variant}-save`, ['-t', 'nat']);
    if (r.ok && /KUBE-/.test(r.stdout)) return `${base}-${variant}`;
  }
  return base;
}
