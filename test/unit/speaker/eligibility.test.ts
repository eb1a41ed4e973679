import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  EXCLUDE_LB_LABEL,
  eligibleNodes,
  type EligibilityInput,
  type NodeFacts,
} from '../../../speaker/eligibility.js';

const node = (name: string, over: Partial<NodeFacts> = {}): NodeFacts => ({
  name,
  labels: {},
  networkUnavailable: false,
  alive: true,
  ...over,
});
const all = (names: string[]): Map<string, readonly string[]> => new Map(names.map((n) => [n, []]));

function run(over: Partial<EligibilityInput>): { eligible: string[]; reasons: Record<string, string> } {
  const r = eligibleNodes({
    service: { externalTrafficPolicy: 'Cluster' },
    endpoints: [{ nodeName: 'n2' }],
    nodes: [node('n1'), node('n2'), node('n3')],
    selected: all(['n1', 'n2', 'n3']),
    health: () => true,
    ...over,
  });
  return { eligible: [...r.eligible.keys()].sort(), reasons: Object.fromEntries(r.ineligible) };
}

describe('eligibility', () => {
  const table: Array<[string, Partial<EligibilityInput>, string[], Record<string, string>]> = [
    ['Cluster: every selected live node when an endpoint serves', {}, ['n1', 'n2', 'n3'], {}],
    [
      'Cluster: nobody without a serving endpoint',
      { endpoints: [{ nodeName: 'n2', ready: false }] },
      [],
      { n1: 'no-serving-endpoint', n2: 'no-serving-endpoint', n3: 'no-serving-endpoint' },
    ],
    [
      'Cluster: a terminating but serving endpoint counts',
      { endpoints: [{ nodeName: 'n2', ready: false, serving: true, terminating: true }] },
      ['n1', 'n2', 'n3'],
      {},
    ],
    [
      'dead nodes are out',
      { nodes: [node('n1', { alive: false }), node('n2'), node('n3')] },
      ['n2', 'n3'],
      { n1: 'not-alive' },
    ],
    [
      'NetworkUnavailable nodes are out',
      { nodes: [node('n1'), node('n2', { networkUnavailable: true }), node('n3')] },
      ['n1', 'n3'],
      { n2: 'network-unavailable' },
    ],
    [
      'the exclude-from-external-load-balancers label (any value) is out',
      { nodes: [node('n1', { labels: { [EXCLUDE_LB_LABEL]: '' } }), node('n2'), node('n3')] },
      ['n2', 'n3'],
      { n1: 'excluded-by-label' },
    ],
    [
      'nodes no advertisement selects are out',
      { selected: all(['n1']) },
      ['n1'],
      { n2: 'not-selected', n3: 'not-selected' },
    ],
    [
      'Local: only nodes with a ready local endpoint and a healthy health check',
      {
        service: { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 },
        endpoints: [{ nodeName: 'n2' }, { nodeName: 'n3', ready: false }],
      },
      ['n2'],
      { n1: 'no-local-endpoint', n3: 'no-local-endpoint' },
    ],
    [
      'Local: a failing health check loses the node',
      {
        service: { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 },
        endpoints: [{ nodeName: 'n2' }, { nodeName: 'n3' }],
        health: (n) => n !== 'n2',
      },
      ['n3'],
      { n1: 'no-local-endpoint', n2: 'health-check-failing' },
    ],
    [
      'Local: unknown health is ineligible by default',
      {
        service: { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 },
        endpoints: [{ nodeName: 'n2' }],
        health: () => undefined,
      },
      [],
      { n1: 'no-local-endpoint', n2: 'health-unknown', n3: 'no-local-endpoint' },
    ],
    [
      'Local: unknown health may count as eligible (membership off)',
      {
        service: { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 },
        endpoints: [{ nodeName: 'n2' }],
        health: () => undefined,
        unknownHealth: 'eligible',
      },
      ['n2'],
      { n1: 'no-local-endpoint', n3: 'no-local-endpoint' },
    ],
    [
      'Local without a healthCheckNodePort: local endpoints decide',
      {
        service: { externalTrafficPolicy: 'Local' },
        endpoints: [{ nodeName: 'n1' }, { nodeName: 'n3' }],
        health: () => false,
      },
      ['n1', 'n3'],
      { n2: 'no-local-endpoint' },
    ],
    [
      'Local: none eligible when every endpoint node is failing',
      {
        service: { externalTrafficPolicy: 'Local', healthCheckNodePort: 31000 },
        endpoints: [{ nodeName: 'n2' }],
        health: () => false,
      },
      [],
      { n1: 'no-local-endpoint', n2: 'health-check-failing', n3: 'no-local-endpoint' },
    ],
  ];
  for (const [name, input, eligible, reasons] of table) {
    it(name, () => {
      const r = run(input);
      assert.deepEqual(r.eligible, eligible);
      for (const [n, why] of Object.entries(reasons)) assert.equal(r.reasons[n], why, n);
    });
  }
  it('keeps the interfaces the advertisement selected', () => {
    const r = eligibleNodes({
      service: { externalTrafficPolicy: 'Cluster' },
      endpoints: [{ nodeName: 'n1' }],
      nodes: [node('n1')],
      selected: new Map([['n1', ['eth1']]]),
      health: () => true,
    });
    assert.deepEqual(r.eligible.get('n1'), ['eth1']);
  });
});
