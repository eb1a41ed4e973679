// Generates the metallb.io CRD manifests in this folder: node deploy/crds/generate.mjs
import { stringify } from 'yaml';
import { writeFileSync, mkdirSync } from 'node:fs';
const out = new URL('.', import.meta.url).pathname.replace(/\/$/, '');
mkdirSync(out, { recursive: true });

const str = (description, extra = {}) => ({ description, type: 'string', ...extra });
const bool = (description, extra = {}) => ({ description, type: 'boolean', ...extra });
const int = (description, extra = {}) => ({ description, type: 'integer', ...extra });
const strList = (description) => ({ description, type: 'array', items: { type: 'string' } });
const labelSelector = {
  description: 'A label selector. matchLabels and matchExpressions are ANDed; an empty selector matches everything.',
  type: 'object',
  'x-kubernetes-map-type': 'atomic',
  properties: {
    matchLabels: { description: 'Labels that must all be present with these values.', type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: {
      description: 'Requirements, ANDed.',
      type: 'array',
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: str('The label key the requirement applies to.'),
          operator: str('In, NotIn, Exists or DoesNotExist.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
          values: { description: 'Non-empty for In and NotIn, empty for Exists and DoesNotExist.', type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'atomic' },
        },
        'x-kubernetes-validations': [
          { rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)", message: 'values must be non-empty for In/NotIn and empty for Exists/DoesNotExist' },
        ],
      },
    },
  },
};
const selectors = (description) => ({ description, type: 'array', items: labelSelector });
const meta = {
  apiVersion: { description: 'APIVersion of this representation of the object.', type: 'string' },
  kind: { description: 'Kind of the object.', type: 'string' },
  metadata: { type: 'object' },
};
function crd({ kind, plural, description, versions }) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.metallb.io`, labels: { 'app.kubernetes.io/part-of': 'bollard' } },
    spec: {
      group: 'metallb.io',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope: 'Namespaced',
      ...(versions.length > 1 ? { conversion: { strategy: 'None' } } : {}),
      versions: versions.map((v) => ({
        name: v.name,
        served: true,
        storage: v.storage ?? true,
        ...(v.deprecated ? { deprecated: true, deprecationWarning: v.deprecated } : {}),
        ...(v.columns ? { additionalPrinterColumns: v.columns } : {}),
        schema: { openAPIV3Schema: { description, type: 'object', properties: { ...meta, ...v.properties }, ...(v.required ? { required: v.required } : {}) } },
        subresources: { status: {} },
      })),
    },
  };
}
const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const files = {};

files.ipaddresspools = crd({
  kind: 'IPAddressPool', plural: 'ipaddresspools',
  description: 'IPAddressPool is a set of IP addresses that can be allocated to LoadBalancer Services.',
  versions: [{
    name: 'v1beta1',
    required: ['spec'],
    columns: [
      { name: 'Auto Assign', type: 'boolean', jsonPath: '.spec.autoAssign' },
      { name: 'Avoid Buggy IPs', type: 'boolean', jsonPath: '.spec.avoidBuggyIPs' },
      { name: 'Addresses', type: 'string', jsonPath: '.spec.addresses' },
      { name: 'Assigned IPv4', type: 'integer', jsonPath: '.status.assignedIPv4', priority: 1 },
      { name: 'Available IPv4', type: 'integer', jsonPath: '.status.availableIPv4', priority: 1 },
      { name: 'Assigned IPv6', type: 'integer', jsonPath: '.status.assignedIPv6', priority: 1 },
      { name: 'Available IPv6', type: 'integer', jsonPath: '.status.availableIPv6', priority: 1 },
      age,
    ],
    properties: {
      spec: {
        description: 'IPAddressPoolSpec defines the addresses of the pool and how they are handed out.',
        type: 'object',
        required: ['addresses'],
        properties: {
          addresses: { description: 'Address ranges: CIDR prefixes (192.168.1.0/24, fc00::/64) or explicit first-last ranges (192.168.1.10-192.168.1.20).', type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          autoAssign: bool('Whether addresses are handed out automatically; false = only on request (address-pool annotation or a requested IP).', { default: true }),
          avoidBuggyIPs: bool('Never hand out IPv4 addresses ending in .0 or .255.', { default: false }),
          serviceAllocation: {
            description: 'Restricts the pool to some namespaces/Services and sets its priority. Namespace and Service conditions are ANDed.',
            type: 'object',
            properties: {
              priority: int('Any integer; lower values are tried first (negative ones before positive ones); 0 or unset is the lowest priority.'),
              namespaces: strList('Namespaces whose Services may use the pool.'),
              namespaceSelectors: selectors('Label selectors on Namespaces whose Services may use the pool.'),
              serviceSelectors: selectors('Label selectors on Services that may use the pool.'),
            },
          },
        },
      },
      status: {
        description: 'IPAddressPoolStatus counts the pool\'s addresses.',
        type: 'object',
        properties: {
          assignedIPv4: int('IPv4 addresses in use.', { format: 'int64' }),
          assignedIPv6: int('IPv6 addresses in use.', { format: 'int64' }),
          availableIPv4: int('IPv4 addresses still free.', { format: 'int64' }),
          availableIPv6: int('IPv6 addresses still free (capped at 2^63-1).', { format: 'int64' }),
        },
      },
    },
  }],
});

files.l2advertisements = crd({
  kind: 'L2Advertisement', plural: 'l2advertisements',
  description: 'L2Advertisement announces the IPs of the selected pools with ARP/NDP.',
  versions: [{
    name: 'v1beta1',
    columns: [
      { name: 'IPAddressPools', type: 'string', jsonPath: '.spec.ipAddressPools' },
      { name: 'IPAddressPool Selectors', type: 'string', jsonPath: '.spec.ipAddressPoolSelectors' },
      { name: 'Interfaces', type: 'string', jsonPath: '.spec.interfaces' },
      { name: 'Node Selectors', type: 'string', jsonPath: '.spec.nodeSelectors', priority: 10 },
      age,
    ],
    properties: {
      spec: {
        type: 'object',
        description: 'L2AdvertisementSpec selects pools, nodes and interfaces. No pools and no pool selectors = all pools.',
        properties: {
          ipAddressPools: strList('Names of the pools to announce.'),
          ipAddressPoolSelectors: selectors('Label selectors on pools to announce.'),
          nodeSelectors: selectors('Nodes that may announce; empty = all nodes.'),
          interfaces: strList('Interfaces to announce from; empty = all eligible interfaces.'),
          serviceSelectors: selectors('Services to announce; empty = all. Not with the allow-shared-ip annotation.'),
          preferredNodeSelectors: {
            description: 'Soft, weighted preference among the nodes that may announce: the eligible node with the highest sum of matching weights announces (ties and no preferred node eligible: the usual hash order).',
            type: 'array',
            items: {
              type: 'object',
              required: ['preference', 'weight'],
              properties: {
                weight: int('Added to the score of every node the preference matches, 1 to 100.', { format: 'int32', minimum: 1, maximum: 100 }),
                preference: { ...labelSelector, description: 'The nodes that get the weight; an empty selector matches every node the advertisement selects.' },
              },
            },
          },
        },
      },
      status: { type: 'object' },
    },
  }],
});

files.bgpadvertisements = crd({
  kind: 'BGPAdvertisement', plural: 'bgpadvertisements',
  description: 'BGPAdvertisement announces the IPs of the selected pools to BGP peers.',
  versions: [{
    name: 'v1beta1',
    columns: [
      { name: 'IPAddressPools', type: 'string', jsonPath: '.spec.ipAddressPools' },
      { name: 'IPAddressPool Selectors', type: 'string', jsonPath: '.spec.ipAddressPoolSelectors' },
      { name: 'Peers', type: 'string', jsonPath: '.spec.peers' },
      { name: 'Node Selectors', type: 'string', jsonPath: '.spec.nodeSelectors', priority: 10 },
      age,
    ],
    properties: {
      spec: {
        type: 'object',
        description: 'BGPAdvertisementSpec: how the pools\' IPs are announced.',
        'x-kubernetes-validations': [
          { rule: '!has(self.serviceSelectors) || size(self.serviceSelectors) == 0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))', message: 'serviceSelectors need the default aggregation lengths (aggregationLength 32, aggregationLengthV6 128)' },
        ],
        properties: {
          aggregationLength: int('Prefix length of the IPv4 routes announced (1-32, as MetalLB); not shorter than the pool\'s prefix.', { format: 'int32', minimum: 1, maximum: 32, default: 32 }),
          aggregationLengthV6: int('Prefix length of the IPv6 routes announced.', { format: 'int32', minimum: 0, maximum: 128, default: 128 }),
          localPref: int('BGP LOCAL_PREF (iBGP only).', { format: 'int64', minimum: 0, maximum: 4294967295 }),
          communities: strList('Communities: "a:b", "large:a:b:c", or the name of a Community alias.'),
          ipAddressPools: strList('Names of the pools to announce.'),
          ipAddressPoolSelectors: selectors('Label selectors on pools to announce.'),
          nodeSelectors: selectors('Nodes that may announce; empty = all nodes.'),
          peers: strList('Names of the BGPPeers to announce to; empty = all.'),
          serviceSelectors: selectors('Services to announce; empty = all.'),
        },
      },
      status: { type: 'object' },
    },
  }],
});

const peerColumns = [
  { name: 'Address', type: 'string', jsonPath: '.spec.peerAddress' },
  { name: 'ASN', type: 'string', jsonPath: '.spec.peerASN' },
  { name: 'BFD Profile', type: 'string', jsonPath: '.spec.bfdProfile' },
  { name: 'Multi Hops', type: 'string', jsonPath: '.spec.ebgpMultiHop' },
  age,
];
const asn = (d) => int(d, { format: 'int64', minimum: 0, maximum: 4294967295 });
// A Go duration, as metav1.Duration parses it ("0" included, as MetalLB takes holdTime: "0").
// Go's time.ParseDuration grammar (config/duration.ts): sign, .5m and 1.s forms, µs and μs
const duration = (d) => str(d, { pattern: '^[-+]?(0|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$' });
const peerCommon = {
  myASN: asn('AS number of the local end.'),
  peerASN: asn('AS number expected from the peer. Exactly one of peerASN and dynamicASN.'),
  peerAddress: str('Address to dial.'),
  sourceAddress: str('Source address for the session.'),
  peerPort: int('TCP port to dial.', { minimum: 1, maximum: 16384, default: 179 }),
  routerID: str('BGP router ID to advertise.'),
  holdTime: duration('Requested hold time (0 or at least 3s; default 90s).'),
  keepaliveTime: duration('Requested keepalive time (default holdTime/3).'),
  nodeSelectors: selectors('Only nodes matching one of these selectors peer with this router.'),
  password: str('TCP MD5 password. Mutually exclusive with passwordSecret.'),
  bfdProfile: str('Name of the BFDProfile for this session.'),
  ebgpMultiHop: bool('The eBGP peer is more than one hop away.'),
};
const xor = [
  { rule: '!(has(self.peerASN) && self.peerASN != 0 && has(self.dynamicASN))', message: 'peerASN and dynamicASN are mutually exclusive' },
  { rule: '(has(self.peerASN) && self.peerASN != 0) || has(self.dynamicASN)', message: 'one of peerASN and dynamicASN must be set' },
  { rule: "!(has(self.password) && self.password != '' && has(self.passwordSecret))", message: 'password and passwordSecret are mutually exclusive' },
];
files.bgppeers = crd({
  kind: 'BGPPeer', plural: 'bgppeers',
  description: 'BGPPeer is a BGP router the speakers open sessions to.',
  versions: [
    {
      name: 'v1beta1', storage: false, deprecated: 'metallb.io/v1beta1 BGPPeer is deprecated, use metallb.io/v1beta2',
      columns: peerColumns,
      properties: {
        spec: { type: 'object', required: ['myASN', 'peerASN', 'peerAddress'], properties: { ...peerCommon } },
        status: { type: 'object' },
      },
    },
    {
      name: 'v1beta2',
      columns: peerColumns,
      properties: {
        spec: {
          type: 'object',
          required: ['myASN'],
          'x-kubernetes-validations': xor,
          properties: {
            ...peerCommon,
            localASN: int('AS number this session speaks as, instead of myASN (OPEN, AS_PATH; iBGP when peerASN equals it).', { format: 'int64', minimum: 1, maximum: 4294967295 }),
            dynamicASN: str('Accept the peer\'s ASN: internal (= myASN) or external (≠ myASN). Exactly one of peerASN and dynamicASN.', { enum: ['internal', 'external'] }),
            interface: str('Node interface for unnumbered BGP peering (instead of peerAddress).'),
            connectTime: str('Time between connection attempts (1s..65535s).', {
              'x-kubernetes-validations': [
                { rule: 'duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535', message: 'connect time should be between 1 seconds to 65535' },
                { rule: 'duration(self).getMilliseconds() % 1000 == 0', message: 'connect time should contain a whole number of seconds' },
              ],
            }),
            passwordSecret: {
              description: 'Secret of type kubernetes.io/basic-auth in the install namespace holding the TCP MD5 password under key "password".',
              type: 'object',
              'x-kubernetes-map-type': 'atomic',
              properties: { name: str('Secret name.'), namespace: str('Secret namespace.') },
            },
            enableGracefulRestart: bool('BGP graceful restart (RFC 4724); cannot be changed after creation.', {
              'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'EnableGracefulRestart cannot be changed after creation' }],
            }),
            vrf: str('Host VRF to peer from.'),
            disableMP: bool('Deprecated and without effect (as in MetalLB; accepted with a warning). It never meant dualStackAddressFamily.', { default: false }),
            dualStackAddressFamily: bool('Exchange both address families on this session.', { default: false }),
          },
        },
        status: { type: 'object' },
      },
    },
  ],
});
// v1beta1 stays a strict subset of v1beta2, so conversion None is lossless.

const interval = (d, def) => int(d, { format: 'int32', minimum: 10, maximum: 60000, default: def });
files.bfdprofiles = crd({
  kind: 'BFDProfile', plural: 'bfdprofiles',
  description: 'BFDProfile holds the parameters of BFD sessions bound to BGP peers.',
  versions: [{
    name: 'v1beta1',
    columns: [
      { name: 'Passive Mode', type: 'boolean', jsonPath: '.spec.passiveMode' },
      { name: 'Transmit Interval', type: 'integer', jsonPath: '.spec.transmitInterval' },
      { name: 'Receive Interval', type: 'integer', jsonPath: '.spec.receiveInterval' },
      { name: 'Multiplier', type: 'integer', jsonPath: '.spec.detectMultiplier' },
      age,
    ],
    properties: {
      spec: {
        type: 'object',
        properties: {
          receiveInterval: interval('Minimum interval this system can receive control packets (ms).', 300),
          transmitInterval: interval('Minimum transmission interval (ms).', 300),
          detectMultiplier: int('Detection multiplier: packets that may be lost.', { format: 'int32', minimum: 2, maximum: 255, default: 3 }),
          echoInterval: interval('Minimum echo transmission interval (ms).', 50),
          echoMode: bool('Enable echo mode.', { default: false }),
          passiveMode: bool('Wait for the peer to start the session.', { default: false }),
          minimumTtl: int('Minimum expected TTL of incoming control packets (multi-hop).', { format: 'int32', minimum: 1, maximum: 254, default: 254 }),
        },
      },
      status: { type: 'object' },
    },
  }],
});

files.communities = crd({
  kind: 'Community', plural: 'communities',
  description: 'Community defines named BGP community aliases.',
  versions: [{
    name: 'v1beta1',
    columns: [age],
    properties: {
      spec: {
        type: 'object',
        properties: {
          communities: {
            description: 'Aliases.',
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'value'],
              properties: {
                name: str('Alias used in BGPAdvertisement.communities.', { minLength: 1 }),
                value: str('"a:b" (16-bit values) or "large:a:b:c" (32-bit values).', { pattern: '^([0-9]+:[0-9]+|large:[0-9]+:[0-9]+:[0-9]+)$' }),
              },
            },
          },
        },
      },
      status: { type: 'object' },
    },
  }],
});

const statusObj = (kind, plural, prefix, extra, columns) => crd({
  kind, plural,
  description: `${kind} shows where a Service is announced (${prefix}); written by speakers, one per Service per node.`,
  versions: [{
    name: 'v1beta1',
    columns: [
      { name: 'Node', type: 'string', jsonPath: '.status.node' },
      { name: 'Service Name', type: 'string', jsonPath: '.status.serviceName' },
      { name: 'Service Namespace', type: 'string', jsonPath: '.status.serviceNamespace' },
      ...columns,
      age,
    ],
    properties: {
      spec: { type: 'object' },
      status: {
        type: 'object',
        properties: {
          node: str('Node announcing the Service.'),
          serviceName: str('Name of the Service.'),
          serviceNamespace: str('Namespace of the Service.'),
          ...extra,
        },
      },
    },
  }],
});
files.servicel2statuses = statusObj('ServiceL2Status', 'servicel2statuses', 'layer 2', {
  interfaces: { description: 'Interfaces the Service is announced on.', type: 'array', items: { type: 'object', properties: { name: str('Interface name.') } } },
  conditions: {
    description: "The Service's bollard.io/* conditions (verified announcement, conflicts), mirrored by the announcing speaker.",
    type: 'array',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
    items: {
      type: 'object',
      required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
      properties: {
        type: str('Condition type, e.g. bollard.io/Verified.', { maxLength: 316 }),
        status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
        reason: str('CamelCase reason.', { maxLength: 1024 }),
        message: str('Human-readable details.', { maxLength: 32768 }),
        lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
        observedGeneration: int('The Service generation the condition was set for.', { format: 'int64', minimum: 0 }),
      },
    },
  },
}, [{ name: 'Interfaces', type: 'string', jsonPath: '.status.interfaces', priority: 1 }]);
files.servicebgpstatuses = statusObj('ServiceBGPStatus', 'servicebgpstatuses', 'BGP', {
  peers: strList('BGPPeers the Service is announced to.'),
}, [{ name: 'Peers', type: 'string', jsonPath: '.status.peers', priority: 1 }]);

files.configurationstates = crd({
  kind: 'ConfigurationState', plural: 'configurationstates',
  description: 'ConfigurationState reports whether a component accepted the configuration: "controller" and "speaker-<node>".',
  versions: [{
    name: 'v1beta1',
    columns: [
      { name: 'Result', type: 'string', jsonPath: '.status.result' },
      { name: 'ErrorSummary', type: 'string', jsonPath: '.status.errorSummary' },
      age,
    ],
    properties: {
      spec: {
        type: 'object',
        properties: {
          type: str('Controller or Speaker.', { enum: ['Controller', 'Speaker'] }),
          nodeName: str('Node of a speaker.'),
        },
      },
      status: {
        type: 'object',
        properties: {
          result: str('Valid, Invalid or Unknown.', { enum: ['Valid', 'Invalid', 'Unknown'] }),
          errorSummary: str('The configuration errors, one per line; empty when Valid.'),
          conditions: {
            description: 'Conditions of the component\'s reconcilers.',
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['type'],
            items: {
              type: 'object',
              required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
              properties: {
                type: str('Condition type.', { maxLength: 316 }),
                status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
                lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
                reason: str('CamelCase reason.', { maxLength: 1024, minLength: 1 }),
                message: str('Details.', { maxLength: 32768 }),
                observedGeneration: int('Generation the condition was computed from.', { format: 'int64', minimum: 0 }),
              },
            },
          },
        },
      },
    },
  }],
});

const names = [];
for (const [plural, obj] of Object.entries(files)) {
  const f = `metallb.io_${plural}.yaml`;
  names.push(f);
  writeFileSync(`${out}/${f}`, '# Generated by deploy/crds/generate.mjs; field reference in docs/configuration.md.\n' + stringify(obj, { lineWidth: 0, aliasDuplicateObjects: false }));
}
// The TypeScript side of the same schema: the spec shapes parseConfig reads (config/crd-specs.gen.ts).
// Field names come from here only, so the parser cannot read a field the CRD lacks, and a field added
// to a CRD shows up in SPEC_FIELDS, which test/unit/config/crd-fields.test.ts walks.
function tsType(s, indent) {
  if (s === labelSelector) return 'CrdLabelSelector';
  if (s['x-kubernetes-int-or-string']) return 'number | string';
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  switch (s.type) {
    case 'string': return 'string';
    case 'integer': case 'number': return 'number';
    case 'boolean': return 'boolean';
    case 'array': {
      const t = tsType(s.items, indent);
      return `readonly (${t})[]`;
    }
    case 'object':
      if (s.properties) {
        const pad = '  '.repeat(indent + 1);
        const lines = Object.entries(s.properties).map(([k, c]) => `${pad}readonly ${k}?: ${tsType(c, indent + 1)};`);
        return `{\n${lines.join('\n')}\n${'  '.repeat(indent)}}`;
      }
      if (s.additionalProperties) return `Readonly<Record<string, ${tsType(s.additionalProperties, indent)}>>`;
      return 'Readonly<Record<string, unknown>>';
    default: return 'unknown';
  }
}
function fieldPaths(s, prefix) {
  const outPaths = [];
  if (s.properties) for (const [k, c] of Object.entries(s.properties)) { outPaths.push(`${prefix}.${k}`); outPaths.push(...fieldPaths(c, `${prefix}.${k}`)); }
  if (s.items) outPaths.push(...fieldPaths(s.items, `${prefix}[]`));
  return outPaths;
}
const configKinds = ['IPAddressPool', 'L2Advertisement', 'BGPAdvertisement', 'BGPPeer', 'BFDProfile', 'Community'];
const ts = ['// Generated by deploy/crds/generate.mjs from the CRD schemas (their storage versions); do not edit.', '// What parseConfig may read of each metallb.io object\'s spec. Values are still checked at run time.', ''];
ts.push(`/** A Kubernetes label selector as the CRDs define it. */`, `export type CrdLabelSelector = ${tsType({ ...labelSelector }, 0)};`, '');
const specFields = {};
for (const obj of Object.values(files)) {
  const kind = obj.spec.names.kind;
  if (!configKinds.includes(kind)) continue;
  const v = obj.spec.versions.find((x) => x.storage);
  const spec = v.schema.openAPIV3Schema.properties.spec;
  ts.push(`export type ${kind}Spec = ${tsType(spec, 0)};`, '');
  specFields[kind] = fieldPaths(spec, 'spec');
}
ts.push('/** Every field path of each spec, as the CRDs define it (`[]` marks a list item). */');
ts.push(`export const SPEC_FIELDS = ${JSON.stringify(specFields, null, 2)} as const;`, '');
const tsFile = new URL('../../config/crd-specs.gen.ts', import.meta.url);
const prettier = await import('prettier');
const prettierOptions = (await prettier.resolveConfig(tsFile.pathname)) ?? {};
writeFileSync(tsFile, await prettier.format(ts.join('\n'), { ...prettierOptions, filepath: tsFile.pathname }));

writeFileSync(`${out}/kustomization.yaml`, stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: names }));
console.log(names);
