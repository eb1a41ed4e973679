// How the Prometheus e2e test turns deploy/monitoring's queries into queries that must find series
// (test/support/prom-queries.ts), and that docs/metrics.md lists every panel and alert it checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { alertProbe, dashboardQuery, monitoringQueries } from '../../support/prom-queries.js';
import { repoPath } from '../../support/repo.js';

describe('monitoring queries for the Prometheus e2e test', () => {
  it('alert probes: comparisons yield 0/1 (bool), unless becomes and; matchers and strings untouched', () => {
    assert.equal(alertProbe('up == 0'), 'up == bool 0');
    assert.equal(alertProbe('a >= b and b > 0'), 'a >= bool b and b > bool 0');
    assert.equal(alertProbe('x == bool 1'), 'x == bool 1');
    assert.equal(
      alertProbe('a{pool!~"x|y",peer!="10.0.0.1:179"} unless on (ip) (b == 1)'),
      'a{pool!~"x|y",peer!="10.0.0.1:179"} and on (ip) (b == bool 1)',
    );
    assert.equal(
      alertProbe('label_replace(a, "d", "$1", "s", "(.*)<=")'),
      'label_replace(a, "d", "$1", "s", "(.*)<=")',
    );
    assert.equal(alertProbe('sum(unless_metric) < 1'), 'sum(unless_metric) < bool 1');
  });

  it('dashboard variables: interval variables become ranges, template variables match every value', () => {
    assert.equal(dashboardQuery('rate(x[$__rate_interval])'), 'rate(x[1m])');
    assert.equal(dashboardQuery('x{pool=~"$pool",node=~"${node}"}'), 'x{pool=~".+",node=~".+"}');
  });

  it('docs/metrics.md names every dashboard panel and alert the e2e test queries', () => {
    const doc = readFileSync(repoPath('docs', 'metrics.md'), 'utf8');
    const missing = [
      ...new Set(monitoringQueries().map((q) => q.what.replace(/^(panel|alert): /, ''))),
    ].filter((t) => !doc.includes(t));
    assert.deepEqual(missing, []);
  });
});
