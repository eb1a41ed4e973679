// Prometheus text exposition -> samples (pure). Enough of the format for our own /metrics: one sample per
// line, `name{label="value",…} value`, comments skipped, label values with \" \\ \n escapes.
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
  for (const m of text.matchAll(re)) {
    out[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const value = Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') continue;
    out.push({ name: m[1] as string, labels: m[3] ? parseLabels(m[3]) : {}, value });
  }
  return out;
}

/** The metric families named in an exposition (for checking dashboards against what we export). */
export function metricNames(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m) out.add(m[1] as string);
  }
  return out;
}
