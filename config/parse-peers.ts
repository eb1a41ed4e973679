// BGPPeers and BFDProfiles: addresses, ASNs, timers, passwords from Secrets, router IDs, node selectors;
// duplicate sessions, and BFD echo on IPv6.
import type { BFDProfileSpec, BGPPeerSpec } from './crd-specs.gen.js';
import { ConfigError } from './errors.js';
import { parseDuration, wholeSecondsMs } from './duration.js';
import { formatIP, parseIP } from './ip.js';
import { commonNode } from './node-overlap.js';
import type { BFDProfile, BGPAdvertisement, BGPPeer, ConfigNode, Pool, SecretObject } from './types.js';
import { type Spec, MAX_ASN, Ctx, specOf, optString, optBool, optInt, selectorList } from './parse-fields.js';

export const DEFAULT_HOLD_MS = 90_000;

export function parseDurationField(c: Ctx, spec: Spec, key: string): number | undefined {
  const s = optString(c, spec, key);
  if (s === undefined) return undefined;
  const ms = parseDuration(s);
  if (ms === undefined) c.fail(`spec.${key}`, `invalid duration "${s}" (e.g. 90s, 1m30s)`);
  return ms;
}

/**
 * spec.routerID: MetalLB takes any IP (internal/config/config.go: peerFromCR, net.ParseIP). A BGP
 * identifier is 4 octets: an IPv4 address (or an IPv4-mapped IPv6 one) is used; another IPv6 address
 * is accepted with a warning and the node's own router ID is used instead.
 */
export function bgpIdentifier(c: Ctx, written: string | undefined): string | undefined {
  if (written === undefined) return undefined;
  const ip = parseIP(written);
  if (!ip) {
    c.fail('spec.routerID', `invalid router ID "${written}": not an IP address`);
    return undefined;
  }
  if (ip.family === 4) return formatIP(4, ip.value);
  if (ip.value >> 32n === 0xffffn) return formatIP(4, ip.value & 0xffffffffn);
  c.warn(
    'spec.routerID',
    `${written} cannot be a BGP identifier (4 octets, an IPv4 address); the node's own router ID is used`,
  );
  return undefined;
}

export function parsePeer(
  c: Ctx,
  bfd: ReadonlyMap<string, BFDProfile>,
  secrets: readonly SecretObject[] | undefined,
): BGPPeer {
  const spec = specOf<BGPPeerSpec>(c.obj);
  const myASN = optInt(c, spec, 'myASN', 0, MAX_ASN);
  if (spec.myASN === undefined) c.fail('spec.myASN', 'required');
  // MetalLB (peerFromCR): 0 is a missing local AS
  else if (myASN === 0) c.fail('spec.myASN', 'required: 0 is not a local AS number');
  let peerASN = optInt(c, spec, 'peerASN', 0, MAX_ASN);
  if (peerASN === 0) peerASN = undefined;
  const dyn = optString(c, spec, 'dynamicASN');
  let dynamicASN: 'internal' | 'external' | undefined;
  if (dyn !== undefined) {
    if (dyn === 'internal' || dyn === 'external') dynamicASN = dyn;
    else c.fail('spec.dynamicASN', `must be internal or external, got "${dyn}"`);
  }
  if (peerASN !== undefined && dynamicASN !== undefined)
    c.fail('spec.peerASN', 'peerASN and dynamicASN are mutually exclusive');
  if ((spec.peerASN === undefined || spec.peerASN === null || spec.peerASN === 0) && dyn === undefined)
    c.fail('spec.peerASN', 'one of peerASN and dynamicASN must be set');
  // The AS this session speaks as, instead of myASN (MetalLB: FRR's "local-as N no-prepend replace-as").
  const localASN = optInt(c, spec, 'localASN', 0, MAX_ASN) || undefined;

  const peerAddress = optString(c, spec, 'peerAddress');
  const iface = optString(c, spec, 'interface');
  if (peerAddress !== undefined && iface !== undefined)
    c.fail('spec.peerAddress', 'peerAddress and interface are mutually exclusive');
  if (peerAddress === undefined && iface === undefined)
    c.fail('spec.peerAddress', 'one of peerAddress and interface must be set');
  if (peerAddress !== undefined && !parseIP(peerAddress))
    c.fail('spec.peerAddress', `invalid IP address "${peerAddress}"`);
  const sourceAddress = optString(c, spec, 'sourceAddress');
  if (sourceAddress !== undefined && !parseIP(sourceAddress))
    c.fail('spec.sourceAddress', `invalid IP address "${sourceAddress}"`);
  const routerID = bgpIdentifier(c, optString(c, spec, 'routerID'));
  const peerPort = optInt(c, spec, 'peerPort', 1, 16384) ?? 179;

  // MetalLB (config.go parseTimers): hold time rounded to whole seconds must be 0 or at least 3s; the
  // keepalive must not exceed the hold time; FRR gets both in whole seconds (500ms runs as 0).
  let hold = parseDurationField(c, spec, 'holdTime');
  let keepalive = parseDurationField(c, spec, 'keepaliveTime');
  const holdBad = hold !== undefined && wholeSecondsMs(hold) !== 0 && wholeSecondsMs(hold) < 3000;
  if (holdBad) c.fail('spec.holdTime', `${String(spec.holdTime)} is invalid: must be 0 or at least 3s`);
  if (keepalive !== undefined && keepalive < 0)
    c.fail('spec.keepaliveTime', `${String(spec.keepaliveTime)} is invalid: must not be negative`);
  if (hold === undefined && keepalive === undefined) {
    hold = DEFAULT_HOLD_MS;
    keepalive = DEFAULT_HOLD_MS / 3;
  } else if (hold === undefined) {
    hold = (keepalive ?? 0) * 3;
  } else if (keepalive === undefined) {
    keepalive = hold / 3;
  }
  if (!holdBad && keepalive !== undefined && hold !== undefined && keepalive > hold)
    c.fail(
      'spec.keepaliveTime',
      `${String(spec.keepaliveTime)} is invalid: must not exceed holdTime ${String(spec.holdTime ?? hold / 1000 + 's')}`,
    );
  if (hold !== undefined) hold = wholeSecondsMs(hold);
  if (keepalive !== undefined) keepalive = wholeSecondsMs(keepalive);
  if (hold === 0 && keepalive !== 0) c.fail('spec.keepaliveTime', 'must be 0 when holdTime is 0');

  const connectTimeMs = parseDurationField(c, spec, 'connectTime');
  if (
    connectTimeMs !== undefined &&
    (connectTimeMs < 1000 || connectTimeMs > 65_535_000 || connectTimeMs % 1000 !== 0)
  )
    c.fail('spec.connectTime', `${String(spec.connectTime)} is invalid: whole seconds between 1s and 65535s`);

  const password = optString(c, spec, 'password');
  let passwordSecret: { name: string; namespace: string } | undefined;
  const ps = spec.passwordSecret;
  if (ps !== undefined && ps !== null) {
    const p = ps as { name?: unknown; namespace?: unknown };
    if (typeof p.name !== 'string' || p.name === '') c.fail('spec.passwordSecret.name', 'required');
    else
      passwordSecret = {
        name: p.name,
        namespace: typeof p.namespace === 'string' && p.namespace ? p.namespace : c.namespace,
      };
  }
  if (password !== undefined && passwordSecret !== undefined)
    c.fail('spec.password', 'password and passwordSecret are mutually exclusive');
  if (passwordSecret && secrets) {
    const s = secrets.find(
      (x) =>
        x.metadata.name === passwordSecret?.name &&
        (x.metadata.namespace ?? c.namespace) === passwordSecret?.namespace,
    );
    if (!s)
      c.fail('spec.passwordSecret', `Secret ${passwordSecret.namespace}/${passwordSecret.name} not found`);
    else if (s.type !== 'kubernetes.io/basic-auth')
      c.fail(
        'spec.passwordSecret',
        `Secret ${passwordSecret.namespace}/${passwordSecret.name} has type ${s.type ?? 'Opaque'}, want kubernetes.io/basic-auth`,
      );
    else if (!s.data?.password)
      c.fail(
        'spec.passwordSecret',
        `Secret ${passwordSecret.namespace}/${passwordSecret.name} has no key "password"`,
      );
  }

  const bfdProfile = optString(c, spec, 'bfdProfile');
  if (bfdProfile !== undefined && !bfd.has(bfdProfile))
    c.failReference('spec.bfdProfile', `BFDProfile "${bfdProfile}" does not exist`);
  // MetalLB: deprecated and without effect (its webhook says so); it never meant dualStackAddressFamily.
  if (optBool(c, spec, 'disableMP', false))
    c.warn(
      'spec.disableMP',
      'deprecated and has no effect; use dualStackAddressFamily to carry both families',
    );
  const ebgpMultiHop = optBool(c, spec, 'ebgpMultiHop', false);
  const internal = dynamicASN === 'internal' || (peerASN !== undefined && peerASN === (localASN ?? myASN));
  // MetalLB (peerFromCR) refuses it only when peerASN = myASN; with dynamicASN it is accepted.
  if (ebgpMultiHop && peerASN !== undefined && peerASN === myASN)
    c.fail('spec.ebgpMultiHop', 'ebgpMultiHop cannot be set on an iBGP session (peerASN = myASN)');
  return {
    name: c.name,
    namespace: c.namespace,
    myASN: myASN ?? 0,
    localASN,
    peerASN,
    dynamicASN,
    peerAddress,
    interface: iface,
    sourceAddress,
    peerPort,
    routerID,
    holdTimeMs: hold ?? DEFAULT_HOLD_MS,
    keepaliveTimeMs: keepalive ?? DEFAULT_HOLD_MS / 3,
    connectTimeMs,
    nodeSelectors: selectorList(c, spec.nodeSelectors, 'spec.nodeSelectors'),
    password,
    passwordSecret,
    bfdProfile,
    ebgpMultiHop,
    enableGracefulRestart: optBool(c, spec, 'enableGracefulRestart', false),
    vrf: optString(c, spec, 'vrf') ?? '',
    dualStackAddressFamily: optBool(c, spec, 'dualStackAddressFamily', false),
    internal,
  };
}

/**
 * Two peers with one address (or interface) in one VRF may not both apply to a node, whatever their
 * ports: MetalLB (internal/config/validation.go: checkFRRPeersCompatible, PeerIdentifier, peersShareNode)
 * resolves their node selectors against the Nodes, and assumes they meet when there are none.
 */
export function checkDuplicatePeers(
  peers: readonly BGPPeer[],
  nodes: readonly ConfigNode[] | undefined,
  errors: ConfigError[],
): void {
  const id = (p: BGPPeer): string => `${p.peerAddress ?? 'if:' + (p.interface ?? '')}|${p.vrf}`;
  peers.forEach((p, j) => {
    for (const q of peers.slice(0, j)) {
      if (id(q) !== id(p)) continue;
      const where = commonNode(q.nodeSelectors, p.nodeSelectors, nodes, true);
      if (where === undefined) continue;
      const what = p.peerAddress !== undefined ? 'address' : 'interface';
      errors.push(
        new ConfigError(
          'BGPPeer',
          p.namespace,
          p.name,
          p.peerAddress !== undefined ? 'spec.peerAddress' : 'spec.interface',
          `BGPPeer ${q.name} has the same ${what} ${p.peerAddress ?? p.interface ?? ''}${p.vrf ? ` in VRF ${p.vrf}` : ''} and both apply to ${where}; a node has one session per ${what}`,
        ),
      );
      return;
    }
  });
}

export function parseBFD(c: Ctx): BFDProfile {
  const spec = specOf<BFDProfileSpec>(c.obj);
  return {
    name: c.name,
    namespace: c.namespace,
    receiveInterval: optInt(c, spec, 'receiveInterval', 10, 60000) ?? 300,
    transmitInterval: optInt(c, spec, 'transmitInterval', 10, 60000) ?? 300,
    detectMultiplier: optInt(c, spec, 'detectMultiplier', 2, 255) ?? 3,
    echoInterval: optInt(c, spec, 'echoInterval', 10, 60000) ?? 50,
    echoMode: optBool(c, spec, 'echoMode', false),
    passiveMode: optBool(c, spec, 'passiveMode', false),
    minimumTtl: optInt(c, spec, 'minimumTtl', 1, 254) ?? 254,
  };
}

/**
 * MetalLB (internal/config/validation.go: validateConfig) refuses BFD echo mode on a peer that an
 * advertisement of a pool with IPv6 addresses reaches (named in `peers`, or every peer when none is).
 * Reported once per peer, on its bfdProfile.
 */
export function checkBfdEchoIPv6(
  advs: readonly BGPAdvertisement[],
  pools: ReadonlyMap<string, Pool>,
  peers: readonly BGPPeer[],
  bfd: ReadonlyMap<string, BFDProfile>,
  errors: ConfigError[],
): void {
  const echo = peers.filter((p) => p.bfdProfile !== undefined && bfd.get(p.bfdProfile)?.echoMode === true);
  for (const p of echo) {
    for (const a of advs) {
      if (a.peers.length > 0 && !a.peers.includes(p.name)) continue;
      const v6 = a.pools.find((n) => pools.get(n)?.ranges.some((r) => r.family === 6));
      if (v6 === undefined) continue;
      errors.push(
        new ConfigError(
          'BGPPeer',
          p.namespace,
          p.name,
          'spec.bfdProfile',
          `BFDProfile "${p.bfdProfile ?? ''}" has echoMode, but BGPAdvertisement ${a.name} announces IPv6 pool ${v6} to this peer; echo mode is not allowed toward a peer that gets IPv6 routes`,
        ),
      );
      break;
    }
  }
}
