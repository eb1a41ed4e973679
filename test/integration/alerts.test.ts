// The alert rules, checked by Prometheus's own tool: `promtool check rules` on the kustomize file and the
// Helm chart's, and `promtool test rules` on deploy/monitoring/alerts.test.yaml (series in, alerts out,
// for every alert) against each of them. promtool is in Debian's `prometheus` package.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoPath } from '../support/repo.js';

interface Run {
  code: number;
  output: string;
}

/** Runs promtool; the exit code and everything it printed (a missing promtool is exit code 127). */
function promtool(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('promtool', args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (!err) return resolve({ code: 0, output });
      const code = typeof err.code === 'number' ? err.code : err.code === 'ENOENT' ? 127 : 1;
      resolve({
        code,
        output:
          code === 127 ? "promtool not found: install Debian's prometheus package" : output || err.message,
      });
    });
  });
}

const KUSTOMIZE = repoPath('deploy', 'monitoring', 'alerts.yaml');
const HELM = repoPath('deploy', 'helm', 'bollard', 'files', 'bollard-alerts.yaml');
const TESTS = repoPath('deploy', 'monitoring', 'alerts.test.yaml');

interface RuleFile {
  groups: { rules: { alert?: string }[] }[];
}
interface TestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

describe('alert rules (promtool)', () => {
  it('alerts.test.yaml has, for every alert, a time it fires and a time it does not', () => {
    const rules = parse(readFileSync(KUSTOMIZE, 'utf8')) as RuleFile;
    const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    const tests = (parse(readFileSync(TESTS, 'utf8')) as TestFile).tests.flatMap(
      (t) => t.alert_rule_test ?? [],
    );
    const firing = new Set(tests.filter((t) => (t.exp_alerts ?? []).length > 0).map((t) => t.alertname));
    const quiet = new Set(tests.filter((t) => (t.exp_alerts ?? []).length === 0).map((t) => t.alertname));
    assert.equal(alerts.length, 8);
    assert.deepEqual(
      alerts.filter((a) => !firing.has(a)),
      [],
      'alerts never seen firing',
    );
    assert.deepEqual(
      alerts.filter((a) => !quiet.has(a)),
      [],
      'alerts never seen quiet',
    );
  });

  for (const [what, file] of [
    ['deploy/monitoring/alerts.yaml', KUSTOMIZE],
    ["the Helm chart's files/bollard-alerts.yaml", HELM],
  ] as const) {
    it(`promtool check rules accepts ${what}`, async () => {
      const r = await promtool(['check', 'rules', file]);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /SUCCESS: 8 rules found/);
    });

    it(`promtool test rules: every alert of ${what} fires as alerts.test.yaml expects`, async () => {
      // alerts.test.yaml names its rule file `alerts.yaml`, next to it: run it beside a copy of this one.
      const dir = mkdtempSync(join(tmpdir(), 'bollard-alerts-'));
      try {
        copyFileSync(TESTS, join(dir, 'alerts.test.yaml'));
        copyFileSync(file, join(dir, 'alerts.yaml'));
        const r = await promtool(['test', 'rules', join(dir, 'alerts.test.yaml')]);
        assert.equal(r.code, 0, r.output);
        assert.match(r.output, /SUCCESS/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
