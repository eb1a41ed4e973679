// Dashboards, alerts and the metrics reference use only metric names our programs register: the
// controller's and the speaker's registries (with BGP/BFD peers) are rendered and their names compared
// with every metric named in deploy/monitoring (dashboard, rules), the Helm chart's rules and docs/metrics.md.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { ControllerMetrics } from '../../../controller/metrics.js';
import { registerAssignmentMetric } from '../../../controller/assignment-metrics.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import { registerBgpMetrics } from '../../../speaker/bgp/metrics.js';
import { newCounters, type SessionCounters } from '../../../speaker/bgp/session-config.js';
import { metricNames } from '../../../cli/explain/prom.js';
import { repoPath } from '../../support/repo.js';

async function registered(): Promise<{ controller: Set<string>; speaker: Set<string> }> {
  const c = new ControllerMetrics({ defaultMetrics: false });
  registerAssignmentMetric(c.registry, () => [{ key: 'ns/svc', pool: 'p', ips: ['192.0.2.1'] }]);
  const s = new SpeakerMetrics();
  s.setNode('n1', () => new Map([['ns/svc', true]]));
  registerBgpMetrics(s.registry, () => [
    {
      name: 'tor',
      address: '10.0.0.1',
      port: 179,
      up: () => true,
      counters: (): SessionCounters => newCounters(),
      announced: () => 0,
      pending: () => 0,
      bfd: () => ({ up: true, input: 0, output: 0, upEvents: 0, downEvents: 0, echoInput: 0, echoOutput: 0 }),
    },
  ]);
  const expand = (names: Set<string>, text: string): Set<string> => {
    const out = new Set(names);
    for (const line of text.split('\n')) {
      const m = /^# TYPE (\S+) histogram/.exec(line);
      if (m) for (const suf of ['_bucket', '_sum', '_count']) out.add(`${m[1]}${suf}`);
    }
    return out;
  };
  const ct = await c.registry.metrics();
  const st = await s.registry.metrics();
  return { controller: expand(metricNames(ct), ct), speaker: expand(metricNames(st), st) };
}

const METRIC = /\b((?:metallb|bollard)_[a-z0-9_]+)\b/g;

function namesIn(text: string): Set<string> {
  return new Set([...text.matchAll(METRIC)].map((m) => m[1] as string));
}

describe('monitoring uses only metrics we export', () => {
  it('the dashboard queries only registered metrics, and covers pools, announcements, sessions and failovers', async () => {
    const { controller, speaker } = await registered();
    const all = new Set([...controller, ...speaker]);
    const dash = JSON.parse(
      readFileSync(repoPath('deploy', 'monitoring', 'bollard-dashboard.json'), 'utf8'),
    ) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const used = new Set<string>();
    for (const p of dash.panels)
      for (const t of p.targets ?? []) for (const n of namesIn(t.expr)) used.add(n);
    const unknown = [...used].filter((n) => !all.has(n));
    assert.deepEqual(unknown, [], `dashboard metrics not exported: ${unknown.join(', ')}`);
    for (const n of [
      'metallb_allocator_addresses_in_use_total',
      'metallb_speaker_announced',
      'metallb_bgp_session_up',
      'bollard_membership_failures_detected_total',
    ])
      assert.ok(used.has(n), `dashboard shows ${n}`);
  });

  it('the alert rules use only registered metrics; the kustomize and Helm rules are the same file', async () => {
    const { controller, speaker } = await registered();
    const all = new Set([...controller, ...speaker]);
    const alerts = parse(readFileSync(repoPath('deploy', 'monitoring', 'alerts.yaml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const rules = alerts.groups.flatMap((g) => g.rules);
    const used = new Set(rules.flatMap((r) => [...namesIn(r.expr)]));
    const unknown = [...used].filter((n) => !all.has(n));
    assert.deepEqual(unknown, [], `alert metrics not exported: ${unknown.join(', ')}`);
    for (const a of [
      'BollardPoolNearlyExhausted',
      'BollardBGPSessionDown',
      'BollardVIPWithoutAnnouncer',
      'BollardConfigurationStale',
    ])
      assert.ok(
        rules.some((r) => r.alert === a),
        a,
      );
    const [rule] = parseAllDocuments(
      readFileSync(repoPath('deploy', 'monitoring', 'prometheusrule.yaml'), 'utf8'),
    ).map((d) => d.toJS() as { kind: string; spec: unknown });
    assert.equal(rule?.kind, 'PrometheusRule');
    assert.deepEqual(rule?.spec, alerts);
    const helm = parse(
      readFileSync(repoPath('deploy', 'helm', 'bollard', 'files', 'bollard-alerts.yaml'), 'utf8'),
    ) as unknown;
    assert.deepEqual(helm, alerts);
  });

  it('docs/metrics.md documents every metric both programs register, and nothing else', async () => {
    const { controller, speaker } = await registered();
    const doc = readFileSync(repoPath('docs', 'metrics.md'), 'utf8');
    const documented = namesIn(doc);
    const base = (n: string): string => n.replace(/_(bucket|sum|count)$/, '');
    const ours = (n: string): boolean => /^(metallb|bollard)_/.test(n);
    const missing = [...new Set([...controller, ...speaker].filter(ours).map(base))].filter(
      (n) => !documented.has(n),
    );
    assert.deepEqual(missing, [], `undocumented metrics: ${missing.join(', ')}`);
    const all = new Set([...controller, ...speaker]);
    const stray = [...documented].filter((n) => !all.has(n));
    assert.deepEqual(stray, [], `docs/metrics.md names metrics nobody exports: ${stray.join(', ')}`);
  });
});
