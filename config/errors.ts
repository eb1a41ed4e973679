import type { ConfigKind } from './types.js';

/** One thing wrong with one object: which object, which field, and why. */
export class ConfigError extends Error {
  constructor(
    readonly kind: ConfigKind,
    readonly namespace: string,
    readonly objectName: string,
    readonly field: string,
    readonly reason: string,
    /**
     * The object names another that does not exist (yet): a BFDProfile, a Community alias. MetalLB's
     * webhook admits such objects (they may be created in any order); the configuration stays invalid
     * until the other exists.
     */
    readonly danglingReference = false,
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
