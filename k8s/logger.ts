// JSON-lines logger (pino): `level` as a label, `msg`, and the object concerned. Secrets are redacted.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Field paths that may carry secrets; their values are replaced before anything is written. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'secretkey',
  '*.secretkey',
  'token',
  '*.token',
  'data',
  '*.data',
  'stringData',
  '*.stringData',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

export interface LoggerOptions {
  level?: string;
  /** Component name added to every line (e.g. "controller"). */
  component?: string;
  /** Where lines go (default stdout). */
  destination?: DestinationStream;
}

export function makeLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: opts.component ? { component: opts.component } : {},
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** What was thrown, as log fields: its message (`err`, as everywhere) and, for an Error, its stack. */
export function errorFields(thrown: unknown): { err: string; stack?: string } {
  if (thrown instanceof Error)
    return { err: thrown.message, ...(thrown.stack ? { stack: thrown.stack } : {}) };
  return { err: String(thrown) };
}

/** The fields that name a Kubernetes object in a log line. */
export function objRef(
  kind: string,
  namespace: string | undefined,
  name: string,
): { object: { kind: string; namespace?: string; name: string } } {
  return { object: namespace ? { kind, namespace, name } : { kind, name } };
}
