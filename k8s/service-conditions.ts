// Conditions Bollard writes on a Service (status.conditions, metav1.Condition), one writer per type:
// the pure part (what the condition should be now, whether that is a change, whether it is a transition
// into trouble) and the write: a strategic-merge patch of services/<name>/status carrying only the
// writer's own condition (Service status.conditions merge by `type`), sent only when something changed.
import { ApiError, RESOURCES, resourcePath, type KubeClient } from './client.js';

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
 * Writes one condition onto the Service (strategic merge by type: the other writers' conditions stay).
 * Returns false when the Service is gone.
 */
export async function patchServiceCondition(
  client: KubeClient,
  namespace: string,
  name: string,
  condition: ServiceCondition,
  fieldManager: string,
): Promise<boolean> {
  try {
    await client.patch(
      resourcePath(RESOURCES.services, namespace, name, 'status'),
      { status: { conditions: [condition] } },
      'strategic',
      { fieldManager },
    );
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.notFound) return false;
    throw err;
  }
}
