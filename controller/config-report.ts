// Logs the outcome of a configuration parse: each warning, and each error with the object and field
// it concerns (the Events for errors are the reconciler's, recorded only by the leader).
import type { Logger } from '../k8s/logger.js';
import type { ParseResult } from '../config/parse.js';

export function logConfigResult(log: Logger, res: ParseResult): void {
  for (const w of res.warnings)
    log.warn(
      { object: { kind: w.kind, namespace: w.namespace, name: w.objectName }, field: w.field },
      w.message,
    );
  if (res.ok) return;
  for (const e of res.errors)
    log.error(
      {
        object: { kind: e.kind, namespace: e.namespace, name: e.objectName },
        field: e.field,
        reason: e.reason,
      },
      `invalid configuration: ${e.message}`,
    );
}
