// Go time.Duration strings to milliseconds, as metav1.Duration (time.ParseDuration) accepts them:
// an optional sign, then "0" or one or more <number><unit> with a decimal number that may start or
// end with its point ("1.5h", ".5m", "1.s"), units ns, us, µs (U+00B5), μs (U+03BC), ms, s, m, h.

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  '\u00b5s': 1e-3,
  '\u03bcs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const NUMBER = '(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)';
const UNIT = '(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)';
const WHOLE = new RegExp(`^[-+]?(?:0|(?:${NUMBER}${UNIT})+)$`);
const PART = new RegExp(`(${NUMBER})(${UNIT})`, 'g');

/** The pattern of a Go duration, for the CRDs' OpenAPI schema. */
export const DURATION_PATTERN = WHOLE.source;

/** Milliseconds (negative for a leading "-"), or undefined when Go would refuse the text. */
export function parseDuration(s: string): number | undefined {
  if (!WHOLE.test(s)) return undefined;
  const sign = s.startsWith('-') ? -1 : 1;
  let total = 0;
  for (const m of s.matchAll(PART)) total += Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 0);
  return sign * total;
}

/** Truncated toward zero to whole seconds, as MetalLB hands BGP timers to FRR (int(d.Seconds())). */
export function wholeSecondsMs(ms: number): number {
  return Math.trunc(ms / 1000) * 1000;
}
