// The Events the reconciler records: on Services (IPAllocated, AllocationFailed, ClearAssignment,
// deprecatedAnnotation) and on invalid configuration objects (InvalidConfiguration). Recorded without
// waiting: a failure is the recorder's to report, and is logged with the object it concerns.
import { background } from '../k8s/background.js';
import type { EventRecorder, EventType } from '../k8s/events.js';
import type { Logger } from '../k8s/logger.js';
import type { ConfigError } from '../config/errors.js';
import { svcRef, type Service } from './informers.js';

export class ControllerEvents {
  constructor(
    private readonly o: {
      events: EventRecorder;
      log: Logger;
      /** The install namespace (for errors that name none). */
      namespace: string;
      /** The uid of a configuration object, when it is in the cache. */
      uidOf: (kind: string, namespace: string, name: string) => string | undefined;
    },
  ) {}

  service(s: Service, type: EventType, reason: string, note: string): void {
    this.record(svcRef(s), type, reason, note);
  }

  invalidConfig(e: ConfigError): void {
    const apiVersion = e.kind === 'BGPPeer' ? 'metallb.io/v1beta2' : 'metallb.io/v1beta1';
    this.record(
      {
        apiVersion,
        kind: e.kind,
        namespace: e.namespace || this.o.namespace,
        name: e.objectName,
        uid: this.o.uidOf(e.kind, e.namespace, e.objectName),
      },
      'Warning',
      'InvalidConfiguration',
      `${e.field ? e.field + ': ' : ''}${e.reason}; the last valid configuration stays in force`,
      'Validate',
    );
  }

  /** Records an Event without waiting for it (failures are the recorder's to report). */
  private record(...args: Parameters<EventRecorder['emit']>): void {
    const [regarding, , reason] = args;
    background(this.o.log, 'record Event', this.o.events.emit(...args), {
      object: { kind: regarding.kind, namespace: regarding.namespace, name: regarding.name },
      reason,
    });
  }
}
