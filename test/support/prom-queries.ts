// The queries deploy/monitoring makes (every Grafana panel target, every alert expression), and the
// rewriting that lets a test ask a real Prometheus "does this query find the series it is about?".
// Pure: text in, text out.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { repoPath } from './repo.js';

export interface MonitoringQuery {
  /** `panel: <title>` or `alert: <name>`. */
  readonly what: string;
  /** As written in the dashboard or the rule. */
  readonly expr: string;
  /** What to send to Prometheus (see `dashboardQuery` and `alertProbe`). */
  readonly query: string;
}

/** Grafana's built-in interval variables, and what a test puts in their place. */
const BUILTIN: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
};

/**
 * A dashboard target with its variables expanded: Grafana's interval variables become fixed ranges,
 * any other `$var` / `${var}` (a template variable, used in a label matcher) becomes `.+`, "all values".
 */
export function dashboardQuery(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_, name: string) => BUILTIN[name] ?? '.+');
}

/**
 * An alert expression made into a probe that returns series whenever the data the alert reads is there,
 * whether or not the condition holds: every comparison gets `bool` (it yields 0 or 1 instead of dropping
 * the series), and `unless` becomes `and` (non-empty only when both sides have series and their
 * `on (…)` labels match — what makes `unless` meaningful). Label matchers and strings are left alone.
 */
export function alertProbe(expr: string): string {
  let out = '';
  let i = 0;
  const n = expr.length;
  while (i < n) {
    const c = expr[i] as string;
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < n && expr[j] !== c) j += expr[j] === '\\' ? 2 : 1;
      out += expr.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '{') {
      // A label matcher list: copied as is (its strings may hold braces).
      let j = i + 1;
      while (j < n && expr[j] !== '}') {
        const q = expr[j] as string;
        if (q === '"' || q === "'" || q === '`') {
          j++;
          while (j < n && expr[j] !== q) j += expr[j] === '\\' ? 2 : 1;
        }
        j++;
      }
      out += expr.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const op = /^(==|!=|>=|<=|>|<)/.exec(expr.slice(i));
    if (op) {
      out += op[1] as string;
      i += (op[1] as string).length;
      if (!/^\s*bool\b/.test(expr.slice(i))) out += ' bool';
      continue;
    }
    const word = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(expr.slice(i));
    if (word) {
      out += word[0] === 'unless' ? 'and' : word[0];
      i += word[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return out.trim();
}

interface Panel {
  readonly title?: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly Panel[];
}

/** Every target of every panel (rows' panels included) of a Grafana dashboard JSON. */
export function dashboardQueries(json: string): MonitoringQuery[] {
  const out: MonitoringQuery[] = [];
  const walk = (panels: readonly Panel[] | undefined): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? [])
        if (t.expr)
          out.push({ what: `panel: ${p.title ?? '?'}`, expr: t.expr, query: dashboardQuery(t.expr) });
      walk(p.panels);
    }
  };
  walk((JSON.parse(json) as { panels?: Panel[] }).panels);
  return out;
}

/** Every alert of a Prometheus rules file. */
export function alertQueries(yaml: string): MonitoringQuery[] {
  const rules = parse(yaml) as { groups: { rules: { alert?: string; expr: string }[] }[] };
  return rules.groups
    .flatMap((g) => g.rules)
    .filter((r) => r.alert !== undefined)
    .map((r) => ({ what: `alert: ${r.alert ?? ''}`, expr: r.expr.trim(), query: alertProbe(r.expr) }));
}

/** deploy/monitoring's dashboard and alerts, as the e2e test and the docs list them. */
export function monitoringQueries(): MonitoringQuery[] {
  return [
    ...dashboardQueries(readFileSync(repoPath('deploy', 'monitoring', 'bollard-dashboard.json'), 'utf8')),
    ...alertQueries(readFileSync(repoPath('deploy', 'monitoring', 'alerts.yaml'), 'utf8')),
  ];
}
