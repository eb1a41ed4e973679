// The image builder's errors are values: every step returns a Result, and the caller decides.

/** Why a step of an image build failed: which step, the reason, and the log holding the details. */
export interface ImageError {
  step: string;
  reason: string;
  /** The file with the failed command's full output, when there is one. */
  log?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ImageError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T>(step: string, reason: string, log?: string): Result<T> {
  return { ok: false, error: log === undefined ? { step, reason } : { step, reason, log } };
}

/** One line for a person: `step: reason (log: path)`. */
export function describeError(e: ImageError): string {
  return `${e.step}: ${e.reason}${e.log ? ` (log: ${e.log})` : ''}`;
}

/** Reports progress; one line each, no trailing newline. */
export type Say = (line: string) => void;
