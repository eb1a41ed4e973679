// Conditions Bollard writes on a Service (status.conditions, metav1.Condition), one writer per type:
// the pure part (what the condition should be now, whether that is a change, whether it is a transition
// into trouble) and the write: a strategic-merge patch of services/<name>/status carrying only the
// writer's own condition (Service status.conditions merge by `type`), sent only when something changed.
import { ApiError, RESOURCES, resourcePath, type KubeClient } from './client.js';

/** The field manager of the speakers' condition writes (the controller's is projection.ts's). */
export const SPEAKER_FIELD_MANAGER = 'bollard-speaker';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ServiceCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A condition as served or cached (nothing in it trusted to be well-formed). */
export interface ServedCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** What a writer wants the condition to say now (the time is filled in by `nextCondition`). */
export interface WantedCondition {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** The condition of `type` among a Service's conditions, if any. */
export function conditionOf(
  conditions: readonly ServedCondition[] | undefined,
  type: string,
): ServedCondition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** metav1.Time: RFC 3339 in whole seconds. */
export function conditionTime(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ConditionChange {
  /** The condition to write, or undefined when the served one already says this. */
  write: ServiceCondition | undefined;
  /** The status moved into True (a Warning Event is due). */
  raised: boolean;
  /** The status moved from True to something else. */
  cleared: boolean;
}

/**
 * Compares what the writer wants with the served condition. `want` undefined = the writer has nothing
 * to say: an existing True condition is turned False with `clearReason`, anything else is left as is
 * (a Service that never had the condition gets none: no write for the Services that are fine).
 */
export function nextCondition(
  type: string,
  served: ServedCondition | undefined,
  want: WantedCondition | undefined,
  nowMs: number,
  generation: number | undefined,
  clear: { reason: string; message: string },
): ConditionChange {
  const w: WantedCondition | undefined =
    want ?? (served?.status === 'True' ? { status: 'False', ...clear } : undefined);
  if (!w) return { write: undefined, raised: false, cleared: false };
  const sameStatus = served?.status === w.status;
  const same =
    sameStatus &&
    served?.reason === w.reason &&
    served?.message === w.message &&
    (generation === undefined || served?.observedGeneration === generation);
  if (same) return { write: undefined, raised: false, cleared: false };
  const write: ServiceCondition = {
    type,
    status: w.status,
    reason: w.reason,
    message: w.message.slice(0, 32768),
    lastTransitionTime:
      sameStatus && served?.lastTransitionTime ? served.lastTransitionTime : conditionTime(nowMs),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  return {
    write,
    raised: w.status === 'True' && served?.status !== 'True',
    cleared: w.status !== 'True' && served?.status === 'True',
  };
}

/**
 * Writes a writer's own conditions onto the Service (strategic merge by type: the other writers'
 * conditions stay). Returns false when the Service is gone.
 */
export function patchServiceCondition(
  client: Pick<KubeClient, 'patch'>,
  namespace: string,
  name: string,
  conditions: ServiceCondition | readonly ServiceCondition[],
  fieldManager: string,
): Promise<boolean> {
  return patchConditions(
    client,
    namespace,
    name,
    Array.isArray(conditions) ? conditions : [conditions],
    fieldManager,
  );
}

/**
 * Removes conditions of these types from the Service (strategic merge `$patch: delete` by type: the other
 * writers' conditions stay). Returns false when the Service is gone.
 */
export function removeServiceConditions(
  client: Pick<KubeClient, 'patch'>,
  namespace: string,
  name: string,
  types: readonly string[],
  fieldManager: string,
): Promise<boolean> {
  return patchConditions(
    client,
    namespace,
    name,
    types.map((type) => ({ type, $patch: 'delete' })),
    fieldManager,
  );
}

/** A strategic-merge patch of the Service's status.conditions (merged by type); false when it is gone. */
async function patchConditions(
  client: Pick<KubeClient, 'patch'>,
  namespace: string,
  name: string,
  conditions: readonly unknown[],
  fieldManager: string,
): Promise<boolean> {
  try {
    await client.patch(
      resourcePath(RESOURCES.services, namespace, name, 'status'),
      { status: { conditions } },
      'strategic',
      { fieldManager },
    );
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.notFound) return false;
    throw err;
  }
}

/**
 * The conditions written but not yet seen in the cache (the watch brings our own write back a moment
 * later): a pass in between would otherwise write, and report, the same transition again.
 */
export class ConditionsInFlight {
  private readonly pending = new Map<string, { uid: string | undefined; sig: string }>();

  private static sig(c: { status?: string; reason?: string; message?: string }): string {
    return `${c.status ?? ''}\u0000${c.reason ?? ''}\u0000${c.message ?? ''}`;
  }

  /**
   * Whether `write` still needs writing, given the condition the cache serves now. `uid` tells a
   * re-created Service apart: what was in flight for the old one does not count.
   */
  needed(
    key: string,
    uid: string | undefined,
    served: ServedCondition | undefined,
    write: ServiceCondition,
  ): boolean {
    const p = this.pending.get(key);
    if (p === undefined || p.uid !== uid) return true;
    if (served && ConditionsInFlight.sig(served) === p.sig) {
      this.pending.delete(key); // the cache caught up
      return true;
    }
    return p.sig !== ConditionsInFlight.sig(write);
  }

  wrote(key: string, uid: string | undefined, c: ServiceCondition): void {
    this.pending.set(key, { uid, sig: ConditionsInFlight.sig(c) });
  }

  forget(key: string): void {
    this.pending.delete(key);
  }

  /** Drops what is pending for any key not in `keys` (Services no longer written by this writer). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.pending.keys()) if (!keys.has(k)) this.pending.delete(k);
  }
}
