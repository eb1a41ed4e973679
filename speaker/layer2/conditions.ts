// The Service conditions of layer 2 verification (pure): `bollard.io/Verified` and
// `bollard.io/AddressConflict` from the prober's per-VIP results (verify-core.ts), with the transition
// times kept from the conditions the Service already has, and whether they differ from those (no write
// when nothing changed).
import type { ConditionView } from '../../k8s/projection.js';
import type { VipResult } from './verify-core.js';

export const VERIFIED = 'bollard.io/Verified';
export const ADDRESS_CONFLICT = 'bollard.io/AddressConflict';

/** metav1.Condition as Service status.conditions carries it. */
export type ServiceCondition = ConditionView;

type Draft = Omit<ServiceCondition, 'lastTransitionTime'>;

const list = (xs: readonly string[]): string => xs.join(', ');

function vipWord(r: VipResult): string {
  return r.ip.includes(':') ? 'NDP' : 'ARP';
}

/**
 * The conditions for one Service from its VIPs' results, seen from node `prober`; undefined while every
 * VIP is still Pending (nothing is known yet, so nothing is written).
 */
export function draftConditions(
  results: readonly VipResult[],
  prober: string,
  /** The owner's delivery check: endpoints it could not reach through the VIP ("" = none). */
  undelivered = '',
): Draft[] | undefined {
  const known = results.filter((r) => r.state !== 'Pending' || r.foreign.length > 0);
  if (known.length === 0) return undefined;
  const conflicts = results.filter((r) => r.foreign.length > 0);
  const conflict: Draft =
    conflicts.length > 0
      ? {
          type: ADDRESS_CONFLICT,
          status: 'True',
          reason: 'ForeignMAC',
          message: conflicts
            .map(
              (r) =>
                `${r.ip} is claimed by ${list(r.foreign)} (no speaker's MAC), while node "${r.owner}" announces it`,
            )
            .join('; '),
        }
      : {
          type: ADDRESS_CONFLICT,
          status: 'False',
          reason: 'NoConflict',
          message: `only speakers answer ${list(results.map((r) => r.ip))}, as seen from node "${prober}"`,
        };
  const notAnswering = results.filter((r) => r.state === 'NotAnswering');
  const wrong = results.filter((r) => r.state === 'WrongMAC');
  const pending = results.filter((r) => r.state === 'Pending');
  let verified: Draft;
  if (notAnswering.length > 0)
    verified = {
      type: VERIFIED,
      status: 'False',
      reason: 'NotAnswering',
      message: notAnswering
        .map(
          (r) => `${r.ip}: no answer to ${vipWord(r)} from node "${prober}"; node "${r.owner}" should answer`,
        )
        .join('; '),
    };
  else if (wrong.length > 0)
    verified = {
      type: VERIFIED,
      status: 'False',
      reason: 'WrongMAC',
      message: wrong
        .map(
          (r) => `${r.ip}: answered by ${list(r.answered)}, not by node "${r.owner}" (seen from "${prober}")`,
        )
        .join('; '),
    };
  else if (conflicts.length > 0)
    verified = {
      type: VERIFIED,
      status: 'False',
      reason: 'AddressConflict',
      message: conflicts
        .map((r) => `${r.ip}: node "${r.owner}" answers, and so does ${list(r.foreign)}`)
        .join('; '),
    };
  else if (pending.length > 0)
    verified = {
      type: VERIFIED,
      status: 'Unknown',
      reason: 'Pending',
      message: `${list(pending.map((r) => r.ip))} not probed yet from node "${prober}"`,
    };
  else if (undelivered !== '')
    verified = {
      type: VERIFIED,
      status: 'False',
      reason: 'NotDelivered',
      message: `${list(results.map((r) => r.ip))} answer ${[...new Set(results.map(vipWord))].join('/')} from node "${
        results[0]?.owner ?? ''
      }", but from there kube-proxy does not deliver: ${undelivered}`,
    };
  else
    verified = {
      type: VERIFIED,
      status: 'True',
      reason: 'Answering',
      message: results
        .map(
          (r) =>
            `${r.ip} answers ${vipWord(r)} from node "${r.owner}" (${list(r.answered)}), seen from "${prober}"`,
        )
        .join('; '),
    };
  return [verified, conflict];
}

function same(a: Draft, b: Draft): boolean {
  return a.type === b.type && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

export interface ConditionUpdate {
  /** The conditions to write (both types), or undefined when the Service already has them. */
  readonly write: ServiceCondition[] | undefined;
  /** Types that just turned bad (Verified False, AddressConflict True): one Warning Event each. */
  readonly turnedBad: ServiceCondition[];
}

/** What to write for `drafts` given the Service's current conditions (`nowIso` for new transitions). */
export function conditionUpdate(
  drafts: readonly Draft[],
  current: readonly ServiceCondition[],
  nowIso: string,
): ConditionUpdate {
  const out: ServiceCondition[] = [];
  const turnedBad: ServiceCondition[] = [];
  let differs = false;
  for (const d of drafts) {
    const cur = current.find((c) => c.type === d.type);
    if (!cur || !same(cur, d)) differs = true;
    const c: ServiceCondition = {
      ...d,
      lastTransitionTime: cur && cur.status === d.status ? cur.lastTransitionTime : nowIso,
    };
    out.push(c);
    const bad = (x: { type: string; status: string }): boolean =>
      x.type === ADDRESS_CONFLICT ? x.status === 'True' : x.status === 'False';
    if (bad(d) && !(cur && bad(cur))) turnedBad.push(c);
  }
  return { write: differs ? out : undefined, turnedBad };
}
