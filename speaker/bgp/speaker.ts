// BgpSpeaker: the BGP half of the speaker process. It owns one BgpSession per peer that applies to
// this node, one TCP listener per address family (port 179; MD5 keys of every peer with a password),
// the BFD sessions of peers with a bfdProfile, and the metrics. The speaker's state drives it with
// `setPeers(peers)` and `update(routesPerPeer)`; `shutdown()` takes everything down fast. A listener
// that cannot be opened (port 179 taken) is tried again with backoff; meanwhile the sessions dial.
import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Registry } from 'prom-client';
import {
  connectTcp,
  familyOf,
  listenTcp,
  setSocketTtl,
  TcpOptionError,
  type IpFamily,
  type TcpListener,
} from '../../net/tcp/index.js';
import { BfdRunner, type BfdSpec } from '../bfd/runner.js';
import { socketConn } from './conn.js';
import { unnumberedNextHops } from './unnumbered.js';
import { derivedRouterId } from './router-id.js';
import { registerBgpMetrics, type PeerMetricsSource } from './metrics.js';
import { BgpSession } from './session.js';
import type { SessionConfig, SessionStateName } from './session-config.js';
import { monotonicClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import { silentLog, type ExportedRoute, type Log } from './types.js';
import { Backoff, type BackoffPolicy } from '../../k8s/backoff.js';
import { background } from '../../k8s/background.js';
import { unmapIpv4 } from '../../proto/address.js';

/** A BGPPeer as it applies to this node (password resolved, BFD profile inlined). */
export interface PeerSpec {
  readonly name: string;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly myASN: number;
  /** BGPPeer.localASN: the AS the session speaks as instead of myASN. */
  readonly localASN?: number;
  readonly peerASN: number | 'internal' | 'external';
  readonly routerId?: string;
  readonly sourceAddress?: string;
  readonly holdTimeMs: number;
  readonly keepaliveTimeMs: number;
  readonly connectTimeMs?: number;
  /** Never logged. */
  readonly password?: string;
  readonly ebgpMultiHop: boolean;
  readonly gracefulRestart: boolean;
  readonly bfd?: BfdSpec;
  readonly vrf?: string;
  readonly dualStack: boolean;
  /**
   * BGPPeer.interface (unnumbered): peerAddress is the peer's link-local address with this zone
   * (`fe80::1%eth0`, learned by speaker/bgp/unnumbered.ts); next hops are the interface's IPv6 ones.
   */
  readonly interface?: string;
}

export interface BgpSpeakerOptions {
  readonly nodeName: string;
  /** The node's addresses (router ID fallback, next hops of the other family). */
  readonly nodeIPv4?: string;
  readonly nodeIPv6?: string;
  readonly log?: Log;
  readonly registry?: Registry;
  readonly clock?: Clock;
  /** Port to accept connections on (179); 0 disables accepting. */
  readonly listenPort?: number;
  /** We are restarting after a previous run (RFC 4724 R bit). */
  readonly restarted?: boolean;
  /**
   * Between attempts to open a listener or BFD sockets that could not be opened (default 1 s doubling
   * to 30 s, up to a quarter less at random).
   */
  readonly retry?: BackoffPolicy;
}

const DEFAULT_RETRY: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, jitter: 0.25 };

export interface PeerStatus {
  readonly name: string;
  readonly state: SessionStateName;
  readonly announced: number;
  readonly bfd?: string;
  readonly lastError?: string;
}

interface PeerEntry {
  spec: PeerSpec;
  key: string;
  session: BgpSession;
  bfd?: BfdRunner;
  routes: readonly ExportedRoute[];
}

/**
 * The AS a peer's session speaks as (localASN overrides myASN: the OPEN, AS_PATH and the iBGP/eBGP
 * choice all use it, like FRR's "local-as N no-prepend replace-as" in MetalLB) and whether it is iBGP.
 */
export function sessionAsn(spec: Pick<PeerSpec, 'myASN' | 'localASN' | 'peerASN'>): {
  localAsn: number;
  internal: boolean;
} {
  const localAsn = spec.localASN ?? spec.myASN;
  return { localAsn, internal: spec.peerASN === localAsn || spec.peerASN === 'internal' };
}

/** Everything in a spec that needs a new session when it changes (the password only changes keys). */
function specKey(p: PeerSpec): string {
  const { password, ...rest } = p;
  return JSON.stringify({ ...rest, pw: password ? 'set' : '' });
}

/** An address of the interface owning `local`, of the given family (link-local for IPv6 when asked). */
function interfaceAddress(local: string | undefined, want: 'ipv4' | 'ipv6' | 'll'): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    if (!addrs) continue;
    if (local !== undefined && !addrs.some((a) => a.address === local)) continue;
    for (const a of addrs) {
      if (a.internal) continue;
      if (want === 'ipv4' && a.family === 'IPv4') return a.address;
      if (want === 'ipv6' && a.family === 'IPv6' && !a.address.startsWith('fe80')) return a.address;
      if (want === 'll' && a.family === 'IPv6' && a.address.startsWith('fe80'))
        return a.address.split('%')[0];
    }
    if (local !== undefined) return undefined;
  }
  return undefined;
}

/** How long a shutdown waits for a peer to close the TCP session after the Cease before BFD goes AdminDown. */
const BFD_AFTER_CEASE_MS = 1000;

export class BgpSpeaker {
  private readonly peers = new Map<string, PeerEntry>();
  private readonly listeners = new Map<IpFamily, TcpListener>();
  /** Families whose listener could not be opened: the next attempt, and the failures so far. */
  private readonly listenRetries = new Map<IpFamily, { timer?: TimerHandle; backoff: Backoff }>();
  /** Families whose listener is being opened. */
  private readonly opening = new Set<IpFamily>();
  /** The peers of the last setPeers (a listener retry opens what they need). */
  private specs: readonly PeerSpec[] = [];
  private readonly clock: Clock;
  private readonly log: Log;
  private stopped = false;

  constructor(private readonly opts: BgpSpeakerOptions) {
    this.clock = opts.clock ?? monotonicClock;
    this.log = opts.log ?? silentLog;
    if (opts.registry) registerBgpMetrics(opts.registry, () => this.metricSources());
  }

  private metricSources(): PeerMetricsSource[] {
    return [...this.peers.values()].map((e) => ({
      name: e.spec.name,
      address: e.spec.peerAddress,
      port: e.spec.peerPort,
      ...(e.spec.vrf ? { vrf: e.spec.vrf } : {}),
      up: () => e.session.state === 'Established',
      counters: () => e.session.counters,
      announced: () => e.session.announcedCount,
      pending: () => e.session.pendingCount,
      ...(e.bfd ? { bfd: () => e.bfd?.stats() } : {}),
    }));
  }

  /** Sessions, by peer name. */
  status(): PeerStatus[] {
    return [...this.peers.values()].map((e) => ({
      name: e.spec.name,
      state: e.session.state,
      announced: e.session.announcedCount,
      ...(e.bfd ? { bfd: e.bfd.state } : {}),
      ...(e.session.lastError ? { lastError: e.session.lastError } : {}),
    }));
  }

  session(name: string): BgpSession | undefined {
    return this.peers.get(name)?.session;
  }

  /** Reconciles the sessions with the peers that apply to this node. */
  async setPeers(specs: readonly PeerSpec[]): Promise<void> {
    if (this.stopped) return;
    this.specs = specs;
    const wanted = new Map(specs.map((s) => [s.name, s]));
    for (const [name, e] of this.peers) {
      const s = wanted.get(name);
      if (!s || specKey(s) !== e.key || s.password !== e.spec.password) {
        this.log.info({ peer: name }, s ? 'BGP peer changed: restarting its session' : 'BGP peer removed');
        e.session.stop('notify', s ? 'bollard: peer configuration changed' : 'bollard: peer deconfigured');
        e.bfd?.stop();
        this.peers.delete(name);
      }
    }
    await this.ensureListeners();
    for (const s of specs) {
      if (this.peers.has(s.name)) continue;
      const entry = this.createPeer(s);
      this.peers.set(s.name, entry);
      entry.session.start();
      if (entry.bfd) await entry.bfd.start();
    }
  }

  private createPeer(spec: PeerSpec): PeerEntry {
    const fam = familyOf(spec.peerAddress);
    const local = spec.sourceAddress;
    // BGPPeer.routerID, else an IPv4 address of the node (its InternalIP, else one on the interface of
    // sourceAddress), else one derived from the node's name: never one ID shared by several nodes.
    const routerId =
      spec.routerId ??
      this.opts.nodeIPv4 ??
      (local !== undefined ? interfaceAddress(local, 'ipv4') : undefined) ??
      derivedRouterId(this.opts.nodeName);
    const { localAsn, internal } = sessionAsn(spec);
    const ttl = spec.ebgpMultiHop ? 255 : internal ? undefined : 1;
    const cfg: SessionConfig = {
      name: spec.name,
      peerAddress: spec.peerAddress,
      localAsn,
      peerAsn: spec.peerASN,
      routerId,
      holdTime: Math.round(spec.holdTimeMs / 1000),
      keepaliveTime: Math.round(spec.keepaliveTimeMs / 1000),
      ...(spec.connectTimeMs !== undefined ? { connectRetryMs: spec.connectTimeMs } : {}),
      gracefulRestart: spec.gracefulRestart,
      dualStack: spec.dualStack,
      nextHops: {
        ...((this.opts.nodeIPv4 ?? interfaceAddress(local, 'ipv4'))
          ? { ipv4: this.opts.nodeIPv4 ?? interfaceAddress(local, 'ipv4') }
          : {}),
        ...((this.opts.nodeIPv6 ?? interfaceAddress(local, 'ipv6'))
          ? { ipv6: this.opts.nodeIPv6 ?? interfaceAddress(local, 'ipv6') }
          : {}),
        ...(interfaceAddress(fam === 6 ? local : (this.opts.nodeIPv6 ?? local), 'll')
          ? { ipv6LinkLocal: interfaceAddress(fam === 6 ? local : (this.opts.nodeIPv6 ?? local), 'll') }
          : {}),
      },
      linkLocalNextHop: !spec.ebgpMultiHop,
      hostname: this.opts.nodeName,
      ...(spec.interface !== undefined
        ? { unnumbered: true, nextHops: unnumberedNextHops(spec.interface) }
        : {}),
    };
    const entry: PeerEntry = {
      spec,
      key: specKey(spec),
      routes: [],
      session: undefined as unknown as BgpSession,
    };
    entry.session = new BgpSession(cfg, {
      clock: this.clock,
      log: this.log,
      restarted: this.opts.restarted === true,
      dial: async (signal) => {
        const sock = await connectTcp(spec.peerAddress, spec.peerPort, {
          timeoutMs: Math.min(spec.connectTimeMs ?? 5000, 10_000),
          signal,
          ...(spec.sourceAddress ? { address: spec.sourceAddress } : {}),
          ...(spec.vrf ? { device: spec.vrf } : {}),
          ...(ttl !== undefined ? { ttl } : {}),
          ...(spec.password ? { md5: [{ address: spec.peerAddress, password: spec.password }] } : {}),
        });
        return socketConn(sock);
      },
      events: {
        onStateChange: (state) => {
          if (state === 'Established') entry.session.setRoutes(entry.routes);
        },
      },
    });
    if (spec.bfd) {
      entry.bfd = new BfdRunner({
        peer: spec.name,
        peerAddress: spec.peerAddress,
        ...(spec.sourceAddress ? { localAddress: spec.sourceAddress } : {}),
        multihop: spec.ebgpMultiHop,
        spec: spec.bfd,
        ...(spec.vrf ? { device: spec.vrf } : {}),
        log: this.log,
        clock: this.clock,
        ...(this.opts.retry ? { retry: this.opts.retry } : {}),
        onDown: () => entry.session.pathDown('BFD declared the path down'),
      });
    }
    return entry;
  }

  /** Opens the listeners the peers of the last setPeers need, and sets their MD5 keys. */
  private async ensureListeners(): Promise<void> {
    const port = this.opts.listenPort ?? 179;
    if (port === 0) return;
    const mine = (fam: IpFamily): PeerSpec[] => this.specs.filter((s) => familyOf(s.peerAddress) === fam);
    for (const fam of [4, 6] as const) {
      let l = this.listeners.get(fam);
      if (!l && mine(fam).length > 0) {
        const retry = this.listenRetries.get(fam);
        // A retry due later opens it then; one under way sets the keys of the latest peers itself.
        if (retry?.timer !== undefined || this.opening.has(fam)) continue;
        this.opening.add(fam);
        try {
          l = await listenTcp(fam === 4 ? '0.0.0.0' : '::', port, {}, (sock) => this.onIncoming(sock));
        } catch (e) {
          this.listenFailed(fam, port, e);
          continue;
        } finally {
          this.opening.delete(fam);
        }
        if (this.stopped) {
          background(this.log, 'close the BGP listener', l.close(), { family: fam });
          return;
        }
        this.listeners.set(fam, l);
        if (retry) {
          this.listenRetries.delete(fam);
          this.log.info(
            { family: fam, port, attempts: retry.backoff.failures + 1 },
            'listening for BGP connections',
          );
        }
      }
      if (!l) continue;
      for (const s of mine(fam)) {
        try {
          l.setMd5(s.peerAddress, s.password ?? '');
        } catch (e) {
          // Removing a key that was never set fails with ENOENT-like errors: harmless.
          if (s.password)
            this.log.warn(
              { peer: s.name, code: e instanceof TcpOptionError ? e.code : undefined },
              'cannot set the TCP MD5 key on the listener',
            );
        }
      }
    }
  }

  /** Logs a listener that could not be opened and tries it again with backoff. */
  private listenFailed(fam: IpFamily, port: number, e: unknown): void {
    let retry = this.listenRetries.get(fam);
    if (!retry)
      this.listenRetries.set(fam, (retry = { backoff: new Backoff(this.opts.retry ?? DEFAULT_RETRY) }));
    const retryInMs = retry.backoff.fail();
    this.log.warn(
      {
        family: fam,
        port,
        code: e instanceof TcpOptionError ? e.code : undefined,
        err: e instanceof Error ? e.message : String(e),
        attempt: retry.backoff.failures,
        retryInMs: Math.round(retryInMs),
      },
      'cannot listen for BGP connections; dialing only until it can',
    );
    const r = retry;
    r.timer = this.clock.setTimer(() => {
      r.timer = undefined;
      if (this.stopped) return;
      background(this.log, 'listen for BGP connections', this.ensureListeners(), { family: fam });
    }, retryInMs);
  }

  private onIncoming(sock: Socket): void {
    const remote = unmapIpv4(sock.remoteAddress ?? '');
    const entry = [...this.peers.values()].find((e) => e.spec.peerAddress === remote);
    if (!entry || this.stopped) {
      this.log.debug({ remote }, 'BGP connection from an unknown address refused');
      sock.destroy();
      return;
    }
    const spec = entry.spec;
    const { internal } = sessionAsn(spec);
    try {
      if (spec.ebgpMultiHop) setSocketTtl(sock, familyOf(remote), 255);
      else if (!internal) setSocketTtl(sock, familyOf(remote), 1);
    } catch (e) {
      this.log.warn(
        { peer: spec.name, code: e instanceof TcpOptionError ? e.code : undefined },
        'cannot set TTL on an accepted BGP connection',
      );
    }
    entry.session.accept(socketConn(sock));
  }

  /** What each peer should carry now; only differences go on the wire. */
  update(routesPerPeer: ReadonlyMap<string, readonly ExportedRoute[]>): void {
    if (this.stopped) return;
    for (const [name, e] of this.peers) {
      const routes = routesPerPeer.get(name) ?? [];
      e.routes = routes;
      e.session.setRoutes(routes);
    }
  }

  /**
   * Takes every session down. Peers without graceful restart get Cease / Administrative Shutdown
   * (RFC 9003 message) so they drop our routes at once; with `preserveGracefulRestart`, peers that
   * negotiated graceful restart see only the TCP close and keep our routes until we are back.
   */
  async shutdown(options: { preserveGracefulRestart?: boolean; message?: string } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const bfdDown: Promise<void>[] = [];
    for (const e of this.peers.values()) {
      const gr =
        options.preserveGracefulRestart === true &&
        e.spec.gracefulRestart &&
        e.session.negotiated?.peerGracefulRestart !== undefined;
      e.session.stop(gr ? 'silent' : 'notify', options.message ?? 'bollard speaker shutting down');
      // BFD's AdminDown only after the peer has read the Cease (its TCP close), so it drops the session
      // for the administrative shutdown and not for BFD going down (UDP can overtake TCP), within a bound.
      const bfd = e.bfd;
      if (bfd) bfdDown.push(e.session.ended(BFD_AFTER_CEASE_MS).then(() => bfd.stop()));
    }
    for (const r of this.listenRetries.values()) if (r.timer !== undefined) this.clock.clearTimer(r.timer);
    this.listenRetries.clear();
    // Not awaited: the server closes once the sessions' sockets are gone; the NOTIFICATIONs are written.
    for (const [family, l] of this.listeners)
      background(this.log, 'close the BGP listener', l.close(), { family });
    this.listeners.clear();
    await Promise.all(bfdDown);
  }
}
