// Every field of every metallb.io CRD Bollard reads, walked: each one either changes the model
// parseConfig builds (and that model property is read by the controller, the speaker or explain), or
// is refused at admission with an error naming it, or is a documented no-op that warns (as MetalLB
// warns). A field added to a CRD without a row here fails the walk; so does a row for a field the
// CRDs no longer have. config/crd-specs.gen.ts (the parser's field names) is generated from the same
// schema as the CRD files; the first test proves the two did not drift.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../config/parse.js';
import { SPEC_FIELDS } from '../../../config/crd-specs.gen.js';
import type { CRObject, ConfigInput } from '../../../config/types.js';
import { repoPath } from '../../support/repo.js';

type Kind = keyof typeof SPEC_FIELDS;
const NS = 'metallb-system';

interface Schema {
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly items?: Schema;
}
interface CrdVersion {
  readonly name: string;
  readonly served: boolean;
  readonly storage: boolean;
  readonly schema: { readonly openAPIV3Schema: { readonly properties: { readonly spec?: Schema } } };
}
interface Crd {
  readonly spec: { readonly names: { readonly kind: string }; readonly versions: readonly CrdVersion[] };
}

function walk(s: Schema | undefined, prefix: string): string[] {
  if (!s) return [];
  const out: string[] = [];
  for (const [k, c] of Object.entries(s.properties ?? {}))
    out.push(`${prefix}.${k}`, ...walk(c, `${prefix}.${k}`));
  if (s.items) out.push(...walk(s.items, `${prefix}[]`));
  return out;
}

function crds(): Crd[] {
  const dir = repoPath('deploy', 'crds');
  return readdirSync(dir)
    .filter((f) => f.startsWith('metallb.io_') && f.endsWith('.yaml'))
    .map((f) => parseYaml(readFileSync(join(dir, f), 'utf8')) as Crd);
}

// ---- the rows -------------------------------------------------------------------------------

const SELECTOR = {
  matchLabels: { zone: 'a' },
  matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1'] }],
};

type Effect =
  /**
   * Changes the model; `model` is the model property the controller or the speaker reads — or, with
   * `via`, a function of config/ that reads it and that the controller or the speaker calls.
   */
  | { readonly model: string; readonly via?: { readonly file: string; readonly fn: string } }
  /** Accepted, changes nothing, and warns naming the field (MetalLB deprecations). */
  | { readonly noop: string }
  /** Refused at admission: the error names the field. */
  | { readonly refused: string };

interface Row {
  readonly kind: Kind;
  /** The CRD field paths this row exercises (a selector row covers the selector's inner fields). */
  readonly paths: readonly string[];
  /** Merged over the kind's baseline spec. */
  readonly patch: Readonly<Record<string, unknown>>;
  readonly effect: Effect;
}

/** A selector field's own path and its inner fields (`list`: a list of selectors). */
const sel = (path: string, list = true): string[] => {
  const inner = list ? `${path}[]` : path;
  return [
    path,
    `${inner}.matchLabels`,
    `${inner}.matchExpressions`,
    `${inner}.matchExpressions[].key`,
    `${inner}.matchExpressions[].operator`,
    `${inner}.matchExpressions[].values`,
  ];
};

const ROWS: readonly Row[] = [
  // IPAddressPool
  {
    kind: 'IPAddressPool',
    paths: ['spec.addresses'],
    patch: { addresses: ['10.1.0.0/28'] },
    effect: { model: 'ranges' },
  },
  {
    kind: 'IPAddressPool',
    paths: ['spec.autoAssign'],
    patch: { autoAssign: false },
    effect: { model: 'autoAssign' },
  },
  {
    kind: 'IPAddressPool',
    paths: ['spec.avoidBuggyIPs'],
    patch: { avoidBuggyIPs: true },
    effect: { model: 'avoidBuggyIPs' },
  },
  {
    kind: 'IPAddressPool',
    paths: ['spec.serviceAllocation', 'spec.serviceAllocation.priority'],
    patch: { serviceAllocation: { priority: 5 } },
    effect: { model: 'priority' },
  },
  {
    kind: 'IPAddressPool',
    paths: ['spec.serviceAllocation.namespaces'],
    patch: { serviceAllocation: { namespaces: ['web'] } },
    effect: { model: 'namespaces' },
  },
  {
    kind: 'IPAddressPool',
    paths: sel('spec.serviceAllocation.namespaceSelectors'),
    patch: { serviceAllocation: { namespaceSelectors: [SELECTOR] } },
    effect: { model: 'namespaceSelectors', via: { file: 'config/parse-pools.ts', fn: 'poolServes' } },
  },
  {
    kind: 'IPAddressPool',
    paths: sel('spec.serviceAllocation.serviceSelectors'),
    patch: { serviceAllocation: { serviceSelectors: [SELECTOR] } },
    effect: { model: 'serviceSelectors' },
  },
  // L2Advertisement
  {
    kind: 'L2Advertisement',
    paths: ['spec.ipAddressPools'],
    patch: { ipAddressPools: ['other'] },
    effect: { model: 'pools' },
  },
  {
    kind: 'L2Advertisement',
    paths: sel('spec.ipAddressPoolSelectors'),
    patch: {
      ipAddressPoolSelectors: [
        { matchLabels: { tier: 'b' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['b'] }] },
      ],
    },
    effect: { model: 'pools' },
  },
  {
    kind: 'L2Advertisement',
    paths: sel('spec.nodeSelectors'),
    patch: { nodeSelectors: [SELECTOR] },
    effect: { model: 'nodeSelectors' },
  },
  {
    kind: 'L2Advertisement',
    paths: ['spec.interfaces'],
    patch: { interfaces: ['eth1'] },
    effect: { model: 'interfaces' },
  },
  {
    kind: 'L2Advertisement',
    paths: sel('spec.serviceSelectors'),
    patch: { serviceSelectors: [SELECTOR] },
    effect: { model: 'serviceSelectors' },
  },
  {
    kind: 'L2Advertisement',
    paths: [
      'spec.preferredNodeSelectors',
      'spec.preferredNodeSelectors[].weight',
      ...sel('spec.preferredNodeSelectors[].preference', false),
    ],
    patch: { preferredNodeSelectors: [{ weight: 10, preference: SELECTOR }] },
    effect: { model: 'preferredNodeSelectors' },
  },
  // BGPAdvertisement
  {
    kind: 'BGPAdvertisement',
    paths: ['spec.aggregationLength'],
    patch: { aggregationLength: 28 },
    effect: { model: 'aggregationLength' },
  },
  {
    kind: 'BGPAdvertisement',
    paths: ['spec.aggregationLengthV6'],
    patch: { aggregationLengthV6: 124 },
    effect: { model: 'aggregationLengthV6' },
  },
  {
    kind: 'BGPAdvertisement',
    paths: ['spec.localPref'],
    patch: { localPref: 200 },
    effect: { model: 'localPref' },
  },
  {
    kind: 'BGPAdvertisement',
    paths: ['spec.communities'],
    patch: { communities: ['65000:1', 'alias'] },
    effect: { model: 'communities' },
  },
  {
    kind: 'BGPAdvertisement',
    paths: ['spec.ipAddressPools'],
    patch: { ipAddressPools: ['other'] },
    effect: { model: 'pools' },
  },
  {
    kind: 'BGPAdvertisement',
    paths: sel('spec.ipAddressPoolSelectors'),
    patch: {
      ipAddressPoolSelectors: [
        { matchLabels: { tier: 'b' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['b'] }] },
      ],
    },
    effect: { model: 'pools' },
  },
  {
    kind: 'BGPAdvertisement',
    paths: sel('spec.nodeSelectors'),
    patch: { nodeSelectors: [SELECTOR] },
    effect: { model: 'nodeSelectors' },
  },
  { kind: 'BGPAdvertisement', paths: ['spec.peers'], patch: { peers: ['peer'] }, effect: { model: 'peers' } },
  {
    kind: 'BGPAdvertisement',
    paths: sel('spec.serviceSelectors'),
    patch: { serviceSelectors: [SELECTOR] },
    effect: { model: 'serviceSelectors' },
  },
  // BGPPeer
  { kind: 'BGPPeer', paths: ['spec.myASN'], patch: { myASN: 64510 }, effect: { model: 'myASN' } },
  { kind: 'BGPPeer', paths: ['spec.peerASN'], patch: { peerASN: 64502 }, effect: { model: 'peerASN' } },
  {
    kind: 'BGPPeer',
    paths: ['spec.peerAddress'],
    patch: { peerAddress: '10.0.0.9' },
    effect: { model: 'peerAddress' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.sourceAddress'],
    patch: { sourceAddress: '10.0.0.2' },
    effect: { model: 'sourceAddress' },
  },
  { kind: 'BGPPeer', paths: ['spec.peerPort'], patch: { peerPort: 1790 }, effect: { model: 'peerPort' } },
  {
    kind: 'BGPPeer',
    paths: ['spec.routerID'],
    patch: { routerID: '10.9.9.9' },
    effect: { model: 'routerID' },
  },
  { kind: 'BGPPeer', paths: ['spec.holdTime'], patch: { holdTime: '30s' }, effect: { model: 'holdTimeMs' } },
  {
    kind: 'BGPPeer',
    paths: ['spec.keepaliveTime'],
    patch: { keepaliveTime: '10s' },
    effect: { model: 'keepaliveTimeMs' },
  },
  {
    kind: 'BGPPeer',
    paths: sel('spec.nodeSelectors'),
    patch: { nodeSelectors: [SELECTOR] },
    effect: { model: 'nodeSelectors' },
  },
  { kind: 'BGPPeer', paths: ['spec.password'], patch: { password: 'sesame' }, effect: { model: 'password' } },
  {
    kind: 'BGPPeer',
    paths: ['spec.bfdProfile'],
    patch: { bfdProfile: 'bfd' },
    effect: { model: 'bfdProfile' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.ebgpMultiHop'],
    patch: { ebgpMultiHop: true },
    effect: { model: 'ebgpMultiHop' },
  },
  { kind: 'BGPPeer', paths: ['spec.localASN'], patch: { localASN: 64520 }, effect: { model: 'localASN' } },
  {
    kind: 'BGPPeer',
    paths: ['spec.dynamicASN'],
    patch: { peerASN: undefined, dynamicASN: 'external' },
    effect: { model: 'dynamicASN' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.interface'],
    patch: { peerAddress: undefined, interface: 'eth0' },
    effect: { model: 'interface' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.connectTime'],
    patch: { connectTime: '5s' },
    effect: { model: 'connectTimeMs' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.passwordSecret', 'spec.passwordSecret.name', 'spec.passwordSecret.namespace'],
    patch: { passwordSecret: { name: 'bgp-secret', namespace: NS } },
    effect: { model: 'passwordSecret' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.enableGracefulRestart'],
    patch: { enableGracefulRestart: true },
    effect: { model: 'enableGracefulRestart' },
  },
  { kind: 'BGPPeer', paths: ['spec.vrf'], patch: { vrf: 'red' }, effect: { model: 'vrf' } },
  {
    kind: 'BGPPeer',
    paths: ['spec.disableMP'],
    patch: { disableMP: true },
    effect: { noop: 'spec.disableMP' },
  },
  {
    kind: 'BGPPeer',
    paths: ['spec.dualStackAddressFamily'],
    patch: { dualStackAddressFamily: true },
    effect: { model: 'dualStackAddressFamily' },
  },
  // BFDProfile
  {
    kind: 'BFDProfile',
    paths: ['spec.receiveInterval'],
    patch: { receiveInterval: 400 },
    effect: { model: 'receiveInterval' },
  },
  {
    kind: 'BFDProfile',
    paths: ['spec.transmitInterval'],
    patch: { transmitInterval: 400 },
    effect: { model: 'transmitInterval' },
  },
  {
    kind: 'BFDProfile',
    paths: ['spec.detectMultiplier'],
    patch: { detectMultiplier: 5 },
    effect: { model: 'detectMultiplier' },
  },
  {
    kind: 'BFDProfile',
    paths: ['spec.echoInterval'],
    patch: { echoInterval: 100 },
    effect: { model: 'echoInterval' },
  },
  { kind: 'BFDProfile', paths: ['spec.echoMode'], patch: { echoMode: true }, effect: { model: 'echoMode' } },
  {
    kind: 'BFDProfile',
    paths: ['spec.passiveMode'],
    patch: { passiveMode: true },
    effect: { model: 'passiveMode' },
  },
  {
    kind: 'BFDProfile',
    paths: ['spec.minimumTtl'],
    patch: { minimumTtl: 200 },
    effect: { model: 'minimumTtl' },
  },
  // Community
  {
    kind: 'Community',
    paths: ['spec.communities', 'spec.communities[].name', 'spec.communities[].value'],
    patch: { communities: [{ name: 'alias', value: '65000:2' }] },
    effect: { model: 'communities' },
  },
];

// ---- the baseline every row patches ----------------------------------------------------------

const BASE: Record<Kind, Record<string, unknown>> = {
  IPAddressPool: { addresses: ['10.0.0.0/28', 'fc00::/124'] },
  L2Advertisement: {},
  BGPAdvertisement: {},
  BGPPeer: { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1' },
  BFDProfile: {},
  Community: { communities: [{ name: 'alias', value: '65000:1' }] },
};

function cr(name: string, spec: Record<string, unknown>, labels?: Record<string, string>): CRObject {
  return { metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec };
}

function input(kind: Kind | undefined, patch: Readonly<Record<string, unknown>>): ConfigInput {
  const spec = (k: Kind): Record<string, unknown> => {
    const merged: Record<string, unknown> = { ...BASE[k], ...(k === kind ? patch : {}) };
    for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
    return merged;
  };
  return {
    ipAddressPools: [
      cr('pool', spec('IPAddressPool'), { tier: 'a' }),
      cr('other', { addresses: ['10.2.0.0/28'] }, { tier: 'b' }),
    ],
    l2Advertisements: [cr('l2', spec('L2Advertisement'))],
    bgpAdvertisements: [cr('bgp', spec('BGPAdvertisement'))],
    bgpPeers: [cr('peer', spec('BGPPeer'))],
    bfdProfiles: [cr('bfd', spec('BFDProfile'))],
    communities: [cr('community', spec('Community'))],
    secrets: [
      {
        metadata: { name: 'bgp-secret', namespace: NS },
        type: 'kubernetes.io/basic-auth',
        data: { password: 'c2VzYW1l' },
      },
    ],
  };
}

/** A comparable text of the model (Maps and bigints made plain). */
function modelText(i: ConfigInput): string {
  const r = parseConfig(i);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return JSON.stringify(r.config, (_k, v: unknown) => {
    if (v instanceof Map) return [...(v as Map<unknown, unknown>).entries()];
    if (typeof v === 'bigint') return v.toString();
    return v;
  });
}

function hasPath(o: unknown, path: readonly string[]): boolean {
  if (path.length === 0) return o !== undefined;
  const [head, ...rest] = path as [string, ...string[]];
  if (head.endsWith('[]')) {
    const list = (o as Record<string, unknown> | undefined)?.[head.slice(0, -2)];
    return Array.isArray(list) && list.some((x) => hasPath(x, rest));
  }
  const v = (o as Record<string, unknown> | undefined)?.[head];
  return v !== undefined && hasPath(v, rest);
}

/** The text of every TypeScript source of the two programs (controller/, speaker/) outside config/. */
function consumerSource(): string {
  const texts: string[] = [];
  const read = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) read(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) texts.push(readFileSync(p, 'utf8'));
    }
  };
  for (const d of ['controller', 'speaker']) read(repoPath(d));
  return texts.join('\n');
}

describe('CRD fields, walked', () => {
  const all = crds();

  it('config/crd-specs.gen.ts is generated from the same schema as the CRD files', () => {
    for (const [kind, fields] of Object.entries(SPEC_FIELDS)) {
      const crd = all.find((c) => c.spec.names.kind === kind);
      assert.ok(crd, `no CRD for ${kind}`);
      const storage = crd.spec.versions.find((v) => v.storage);
      assert.ok(storage);
      assert.deepEqual(
        walk(storage.schema.openAPIV3Schema.properties.spec, 'spec'),
        [...fields],
        `${kind}: run node deploy/crds/generate.mjs`,
      );
      for (const v of crd.spec.versions.filter((x) => x.served && !x.storage))
        for (const p of walk(v.schema.openAPIV3Schema.properties.spec, 'spec'))
          assert.ok(
            (fields as readonly string[]).includes(p),
            `${kind} ${v.name} serves ${p}, which the storage version lacks`,
          );
    }
  });

  it('every field has exactly one row, and every row names fields the CRDs have', () => {
    for (const [kind, fields] of Object.entries(SPEC_FIELDS) as [Kind, readonly string[]][]) {
      const covered = ROWS.filter((r) => r.kind === kind).flatMap((r) => r.paths);
      const missing = fields.filter((f) => !covered.includes(f));
      assert.deepEqual(missing, [], `${kind}: fields without a row`);
      const unknown = covered.filter((f) => !fields.includes(f));
      assert.deepEqual(unknown, [], `${kind}: rows for fields the CRD lacks`);
      const twice = covered.filter((f, i) => covered.indexOf(f) !== i);
      assert.deepEqual(twice, [], `${kind}: fields with two rows`);
    }
  });

  const baseline = modelText(input(undefined, {}));
  const consumers = consumerSource();
  for (const row of ROWS) {
    const name = `${row.kind} ${row.paths[0] ?? ''}`;
    it(name, () => {
      for (const p of row.paths)
        assert.ok(hasPath({ spec: row.patch }, p.split('.')), `the row's patch does not set ${p}`);
      const i = input(row.kind, row.patch);
      const r = parseConfig(i);
      const effect = row.effect;
      if ('refused' in effect) {
        assert.equal(r.ok, false);
        if (!r.ok) assert.ok(r.errors.some((e) => e.message.includes(effect.refused)));
        return;
      }
      if (!r.ok) assert.fail(r.errors.map((e) => e.message).join('\n'));
      if ('noop' in effect) {
        assert.equal(modelText(i), baseline, 'a no-op field changed the model');
        assert.ok(
          r.warnings.some((w) => w.message.includes(effect.noop)),
          `no warning names ${effect.noop}`,
        );
        return;
      }
      assert.notEqual(modelText(i), baseline, `${row.paths.join(', ')} did not change the model`);
      const reader = effect.via ? readFileSync(repoPath(...effect.via.file.split('/')), 'utf8') : consumers;
      assert.match(reader, new RegExp(`\\.${effect.model}\\b`), `nothing reads .${effect.model}`);
      if (effect.via)
        assert.match(
          consumers,
          new RegExp(`\\b${effect.via.fn}\\(`),
          `neither program calls ${effect.via.fn}`,
        );
    });
  }
});
