import type { ConfigKind } from './types.js';

/** One thing wrong with one object: which object, which field, and why. */
export class ConfigError extends Error {
  constructor(
    readonly kind: ConfigKind,
    readonly namespace: string,
    readonly objectName: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${kind} ${namespace ? namespace + '/' : ''}${objectName}: ${field ? field + ': ' : ''}${reason}`);
    this.name = 'ConfigError';
  }

  toJSON(): { kind: string; namespace: string; name: string; field: string; reason: string } {
    return {
      kind: this.kind,
      namespace: this.namespace,
      name: this.objectName,
      field: this.field,
      reason: this.reason,
    };
  }
}
