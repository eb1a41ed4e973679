// `bollard explain service`: the layer 2 verification lines (pure) — what the VIP's prober last saw on
// the wire, from the Service's bollard.io/Verified and bollard.io/AddressConflict conditions.
import type { ConditionView } from '../../k8s/projection.js';
import type { ServiceObject } from './types.js';

export const VERIFIED = 'bollard.io/Verified';
export const ADDRESS_CONFLICT = 'bollard.io/AddressConflict';

export interface VerificationCondition {
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly since: string;
}

export interface Verification {
  readonly verified?: VerificationCondition;
  readonly addressConflict?: VerificationCondition;
}

function pick(all: readonly ConditionView[], type: string): VerificationCondition | undefined {
  const c = all.find((x) => x.type === type);
  return c
    ? { status: c.status, reason: c.reason, message: c.message, since: c.lastTransitionTime }
    : undefined;
}

/** The verification conditions of a Service (none when no prober wrote any yet). */
export function verificationOf(svc: ServiceObject): Verification {
  const all = (svc as { status?: { conditions?: ConditionView[] } }).status?.conditions ?? [];
  const verified = pick(all, VERIFIED);
  const addressConflict = pick(all, ADDRESS_CONFLICT);
  return { ...(verified ? { verified } : {}), ...(addressConflict ? { addressConflict } : {}) };
}

/** Problems for the explanation's list, worst first. */
export function verificationProblems(v: Verification): string[] {
  const out: string[] = [];
  if (v.addressConflict?.status === 'True')
    out.push(`address conflict: ${v.addressConflict.message} (since ${v.addressConflict.since})`);
  if (v.verified?.status === 'False')
    out.push(
      `the announcement is not verified: ${v.verified.reason}: ${v.verified.message} (since ${v.verified.since})`,
    );
  return out;
}

/** The lines under "Layer 2:". */
export function renderVerification(v: Verification): string[] {
  if (!v.verified && !v.addressConflict) return ['  verified from the wire: not yet (no probe result)'];
  const out: string[] = [];
  if (v.verified) {
    const ok = v.verified.status === 'True' ? '✓' : '✗';
    out.push(
      `  ${ok} verified from the wire: ${v.verified.reason}: ${v.verified.message} (since ${v.verified.since})`,
    );
  }
  if (v.addressConflict) {
    const ok = v.addressConflict.status === 'True' ? '✗' : '✓';
    out.push(
      `  ${ok} address conflict: ${v.addressConflict.status === 'True' ? 'yes' : 'no'}: ${v.addressConflict.message} (since ${v.addressConflict.since})`,
    );
  }
  return out;
}
