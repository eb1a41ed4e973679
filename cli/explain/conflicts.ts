// `bollard explain service`: the implementation and kube-proxy conflicts on a Service (pure), read from
// the conditions the controller (bollard.io/ImplementationConflict) and the announcing speaker
// (bollard.io/KubeProxyConflict) write on it. A True condition is also a problem of the Service.
import type { ServiceObject } from './types.js';

export const CONFLICT_CONDITIONS = ['bollard.io/ImplementationConflict', 'bollard.io/KubeProxyConflict'];

export interface ConflictLine {
  readonly type: string;
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly since?: string;
}

interface Cond {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** The conflict conditions on the Service, in CONFLICT_CONDITIONS order. */
export function conflictsOf(svc: ServiceObject | undefined): ConflictLine[] {
  const conds = (svc?.status as { conditions?: Cond[] } | undefined)?.conditions ?? [];
  const out: ConflictLine[] = [];
  for (const type of CONFLICT_CONDITIONS) {
    const c = conds.find((x) => x.type === type);
    if (!c) continue;
    out.push({
      type,
      status: c.status ?? 'Unknown',
      reason: c.reason ?? '',
      message: c.message ?? '',
      ...(c.lastTransitionTime ? { since: c.lastTransitionTime } : {}),
    });
  }
  return out;
}

/** The explanation with its conflicts: a `conflicts` field, and each True one as a problem. */
export function withConflicts<T extends { problems: string[] }>(
  e: T,
  svc: ServiceObject | undefined,
): T & { conflicts: ConflictLine[] } {
  const conflicts = conflictsOf(svc);
  const problems = [
    ...conflicts.filter((c) => c.status === 'True').map((c) => `${c.reason}: ${c.message}`),
    ...e.problems,
  ];
  return { ...e, problems, conflicts };
}

/** The "Conflicts:" section (empty when the Service never had a conflict condition). */
export function renderConflicts(conflicts: readonly ConflictLine[] | undefined): string[] {
  if (!conflicts || conflicts.length === 0) return [];
  const out = ['', 'Conflicts:'];
  for (const c of conflicts)
    out.push(
      `  ${c.status === 'True' ? '✗' : '✓'} ${c.type}=${c.status} ${c.reason}${c.since ? ` since ${c.since}` : ''}: ${c.message}`,
    );
  return out;
}
