// One BGP peering around proto's RFC 4271 FSM: dial with backoff, accept the peer's connections
// (collision detection with two FSMs, RFC 4271 §6.8), hold/keepalive timers, the Adj-RIB-Out and
// UPDATE diffs packed by proto/bgp/packing, End-of-RIB, route refresh answered by a resend, the
// peer's UPDATEs decoded (RFC 7606) and ignored, malformed input answered by the NOTIFICATION the
// RFC calls for on this session only. I/O is injected (Conn, dial, Clock), so the whole class runs
// on an in-memory duplex and a fake clock in unit tests; nothing a peer sends may throw out of it.
import type { Capability } from '../../proto/bgp/capabilities.js';
import type { NextHop, PathAttribute } from '../../proto/bgp/attributes.js';
import { resolveCollision } from '../../proto/bgp/collision.js';
import { Afi, AS_TRANS, Safi } from '../../proto/bgp/constants.js';
import { endOfRib } from '../../proto/bgp/end-of-rib.js';
import { BgpMessageError } from '../../proto/bgp/errors.js';
import {
  DEFAULT_SESSION,
  hasFamily,
  IPV4_UNICAST,
  IPV6_UNICAST,
  type Family,
  type SessionParams,
} from '../../proto/bgp/family.js';
import {
  applyTimerActions,
  dueTimer,
  errorEvent,
  fsmStep,
  INITIAL_FSM_STATE,
  nextDeadline,
  notificationEvent,
  type BgpAction,
  type BgpEvent,
  type FsmConfig,
  type FsmState,
  type TimerDeadlines,
} from '../../proto/bgp/fsm.js';
import { decodeMessage, encodeMessage, splitMessages, type BgpMessage } from '../../proto/bgp/message.js';
import {
  canUseIpv6NextHopForIpv4,
  negotiateSession,
  type NegotiatedSession,
} from '../../proto/bgp/negotiate.js';
import {
  CeaseSubcode,
  ErrorCode,
  OpenSubcode,
  notificationName,
} from '../../proto/bgp/notification-codes.js';
import { shutdownCommunication, shutdownNotification } from '../../proto/bgp/notification.js';
import { makeOpen, openAsn, type OpenMessage } from '../../proto/bgp/open.js';
import { packUpdates } from '../../proto/bgp/packing.js';
import { splitZone, unmapIpv4 } from '../../proto/address.js';
import { backoffDelay } from '../../k8s/backoff.js';
import { parsePrefix, type Prefix } from '../../proto/bgp/prefix.js';
import {
  attributeKey,
  silentLog,
  type Clock,
  type ExportedRoute,
  type Log,
  type TimerHandle,
} from './types.js';

/** A byte-stream connection (a TCP socket in production, an in-memory pipe in tests). */
export interface Conn {
  readonly localAddress: string;
  readonly remoteAddress: string;
  write(bytes: Uint8Array): void;
  /** Closes after flushing what was written. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  onData(cb: (bytes: Uint8Array) => void): void;
  onClose(cb: () => void): void;
}

export interface SessionConfig {
  /** For logs and metrics: the BGPPeer name (or address). */
  readonly name: string;
  readonly peerAddress: string;
  readonly localAsn: number;
  /** A fixed peer ASN, or a dynamic one ('internal' = ours, 'external' = any other). */
  readonly peerAsn: number | 'internal' | 'external';
  readonly routerId: string;
  /** Proposed hold time, seconds (0 = none, else >= 3). */
  readonly holdTime: number;
  /** Keepalive interval, seconds; never longer than the negotiated hold time / 3. */
  readonly keepaliveTime: number;
  /** Retry interval cap between connection attempts, ms. */
  readonly connectRetryMs?: number;
  /** Only accept connections. */
  readonly passive?: boolean;
  readonly gracefulRestart?: boolean;
  /** RFC 4724 Restart Time advertised, seconds (default 120). */
  readonly restartTime?: number;
  /** Carry both families on this session regardless of transport (dualStackAddressFamily). */
  readonly dualStack?: boolean;
  /** Our addresses for next hops of the other family, and the IPv6 link-local next hop (single-hop only). */
  readonly nextHops?: { readonly ipv4?: string; readonly ipv6?: string; readonly ipv6LinkLocal?: string };
  /** Send IPv6 link-local next hops (directly connected peers). */
  readonly linkLocalNextHop?: boolean;
  /**
   * An unnumbered session (BGPPeer.interface) between link-local addresses: both families get
   * IPv6 next hops from `nextHops` (ipv6 and ipv6LinkLocal of the interface), IPv4 per RFC 8950.
   */
  readonly unnumbered?: boolean;
  /** Advertised in the FQDN capability. */
  readonly hostname?: string;
}

export type SessionStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface SessionCounters {
  opensSent: number;
  opensReceived: number;
  notificationsSent: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  routeRefreshReceived: number;
  routeRefreshSent: number;
  updatesSent: number;
  updatesReceived: number;
}

export interface SessionEvents {
  onStateChange?(state: SessionStateName, prev: SessionStateName): void;
  /** After every change of what the peer has from us. */
  onRibOut?(announced: number, pending: number): void;
}

export type Dial = (signal: AbortSignal) => Promise<Conn>;

interface Connection {
  readonly id: number;
  readonly conn: Conn;
  readonly direction: 'in' | 'out';
  fsm: FsmState;
  deadlines: TimerDeadlines;
  wake: TimerHandle | undefined;
  buffer: Uint8Array;
  receive: SessionParams;
  negotiated?: NegotiatedSession;
  closed: boolean;
  /** Writes are suppressed (after SIGTERM we only close). */
  peerOpen?: OpenMessage;
}

const v4 = (p: string): boolean => !p.includes(':');

/** A sendable family for a prefix on this session. */
export function familyOfPrefix(prefix: string): Family {
  return v4(prefix) ? IPV4_UNICAST : IPV6_UNICAST;
}

/**
 * Families we offer on a session: the transport's own family, plus the other when dualStack.
 * RFC 8950 extended next hop is offered for IPv4 over an IPv6 session.
 */
export function offeredFamilies(peerAddress: string, dualStack: boolean): Family[] {
  if (dualStack) return [IPV4_UNICAST, IPV6_UNICAST];
  return v4(peerAddress) ? [IPV4_UNICAST] : [IPV6_UNICAST];
}

/** Our OPEN for this session. */
export function buildOpen(cfg: SessionConfig, restarted: boolean): OpenMessage {
  const fams = offeredFamilies(cfg.peerAddress, cfg.dualStack === true);
  const caps: Capability[] = fams.map((f) => ({ type: 'multiprotocol', afi: f.afi, safi: f.safi }));
  caps.push(
    { type: 'routeRefresh' },
    { type: 'fourOctetAs', asn: cfg.localAsn },
    { type: 'extendedMessage' },
  );
  if (!v4(cfg.peerAddress))
    caps.push({
      type: 'extendedNextHop',
      entries: [{ afi: Afi.IPV4, safi: Safi.UNICAST, nextHopAfi: Afi.IPV6 }],
    });
  if (cfg.gracefulRestart) {
    caps.push({
      type: 'gracefulRestart',
      restarting: restarted,
      notification: false,
      restartTime: cfg.restartTime ?? 120,
      // The data plane (kube-proxy) keeps forwarding while the speaker restarts.
      families: fams.map((f) => ({ afi: f.afi, safi: f.safi, forwarding: true })),
    });
  }
  if (cfg.hostname) caps.push({ type: 'fqdn', hostname: cfg.hostname.slice(0, 64), domain: '' });
  return makeOpen({ asn: cfg.localAsn, bgpId: cfg.routerId, holdTime: cfg.holdTime, capabilities: caps });
}

function prefixOf(s: string): Prefix {
  return parsePrefix(s);
}

let nextConnectionId = 1;

/** One BGP session (to one peer address). */
export class BgpSession {
  private readonly connections: Connection[] = [];
  private established: Connection | undefined;
  private desired = new Map<string, ExportedRoute>();
  /** Adj-RIB-Out: prefix -> attribute key, as the peer has it on the established connection. */
  private sent = new Map<string, string>();
  private running = false;
  private dialing: AbortController | undefined;
  private retryTimer: TimerHandle | undefined;
  private failures = 0;
  private lastState: SessionStateName = 'Idle';
  private restarted: boolean;
  readonly counters: SessionCounters = {
    opensSent: 0,
    opensReceived: 0,
    notificationsSent: 0,
    keepalivesSent: 0,
    keepalivesReceived: 0,
    routeRefreshReceived: 0,
    routeRefreshSent: 0,
    updatesSent: 0,
    updatesReceived: 0,
  };
  /** The last NOTIFICATION received or sent, for diagnostics. */
  lastError: string | undefined;

  constructor(
    readonly config: SessionConfig,
    private readonly deps: {
      readonly clock: Clock;
      readonly dial?: Dial;
      readonly log?: Log;
      readonly events?: SessionEvents;
      /** We are a restarting speaker (RFC 4724 R bit in our OPEN). */
      readonly restarted?: boolean;
    },
  ) {
    this.restarted = deps.restarted === true;
  }

  private get log(): Log {
    return this.deps.log ?? silentLog;
  }

  get state(): SessionStateName {
    if (this.established) return 'Established';
    let best: SessionStateName = this.dialing ? 'Connect' : this.running ? 'Active' : 'Idle';
    for (const c of this.connections) {
      if (c.fsm.state === 'OpenConfirm') best = 'OpenConfirm';
      else if (c.fsm.state === 'OpenSent' && best !== 'OpenConfirm') best = 'OpenSent';
    }
    return best;
  }

  /** What was negotiated on the established connection. */
  get negotiated(): NegotiatedSession | undefined {
    return this.established?.negotiated;
  }

  get announcedCount(): number {
    return this.sent.size;
  }

  get pendingCount(): number {
    let n = 0;
    for (const [p, r] of this.desired) if (this.sent.get(p) !== attributeKey(r)) n++;
    return n;
  }

  /** Starts connecting (unless passive) and accepting. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this.scheduleDial(0);
    this.notifyState();
  }

  /**
   * Stops the session. 'notify': Cease / Administrative Shutdown with an RFC 9003 message, so the
   * peer drops our routes at once; 'silent': close TCP without a NOTIFICATION (a graceful-restart
   * peer keeps our routes as stale until we come back).
   */
  stop(mode: 'notify' | 'silent' = 'notify', message = 'bollard speaker shutting down'): void {
    this.running = false;
    this.cancelDial();
    for (const c of [...this.connections]) {
      if (
        mode === 'notify' &&
        (c.fsm.state === 'OpenSent' || c.fsm.state === 'OpenConfirm' || c.fsm.state === 'Established')
      ) {
        this.sendMessage(c, shutdownNotification(message));
        this.counters.notificationsSent++;
        this.closeConnection(c, 'end');
      } else {
        this.closeConnection(c, 'destroy');
      }
    }
    this.notifyState();
  }

  /**
   * The forwarding path to the peer is gone (BFD Down): drop every connection now, with Cease /
   * BFD Down (RFC 9384) in case the TCP path still works, and keep trying to reconnect.
   */
  pathDown(reason: string): void {
    if (this.connections.length === 0) return;
    this.log.warn({ peer: this.config.name, reason }, 'BGP session torn down: forwarding path down');
    this.lastError = reason;
    for (const c of [...this.connections]) {
      this.sendMessage(c, {
        type: 'notification',
        code: ErrorCode.CEASE,
        subcode: CeaseSubcode.BFD_DOWN,
        data: new Uint8Array(0),
      });
      this.counters.notificationsSent++;
      this.closeConnection(c, 'destroy');
    }
  }

  /** Replaces what we announce; only the differences go to the peer. */
  setRoutes(routes: readonly ExportedRoute[]): void {
    const next = new Map<string, ExportedRoute>();
    for (const r of routes) next.set(r.prefix, r);
    this.desired = next;
    if (this.established) this.syncRoutes(this.established);
    this.emitRib();
  }

  /** A connection the listener accepted from this peer's address. */
  accept(conn: Conn): void {
    if (!this.running) {
      conn.destroy();
      return;
    }
    // Even while Established: a peer that restarted without closing the old connection (power loss)
    // comes back with a new one; its OPEN decides (see onOpen).
    this.attach(conn, 'in');
  }

  private notifyState(): void {
    const s = this.state;
    if (s !== this.lastState) {
      const prev = this.lastState;
      this.lastState = s;
      this.log.info({ peer: this.config.name, state: s, prev }, `BGP session ${s}`);
      this.deps.events?.onStateChange?.(s, prev);
    }
  }

  private emitRib(): void {
    this.deps.events?.onRibOut?.(this.sent.size, this.pendingCount);
  }

  private cancelDial(): void {
    if (this.retryTimer !== undefined) this.deps.clock.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    this.dialing?.abort();
    this.dialing = undefined;
  }

  private retryDelay(): number {
    return backoffDelay(
      { initialMs: 500, maxMs: this.config.connectRetryMs ?? 5000, jitter: 0.25 },
      this.failures,
    );
  }

  private scheduleDial(ms: number): void {
    if (!this.running || this.config.passive || !this.deps.dial) return;
    if (this.retryTimer !== undefined || this.dialing) return;
    this.retryTimer = this.deps.clock.setTimer(() => {
      this.retryTimer = undefined;
      this.dialNow();
    }, ms);
  }

  private dialNow(): void {
    if (!this.running || this.established || this.connections.some((c) => c.direction === 'out')) return;
    const dial = this.deps.dial;
    if (!dial) return;
    const ac = new AbortController();
    this.dialing = ac;
    this.notifyState();
    dial(ac.signal).then(
      (conn) => {
        if (this.dialing === ac) this.dialing = undefined;
        if (ac.signal.aborted || !this.running || this.established) {
          conn.destroy();
          this.notifyState();
          return;
        }
        this.attach(conn, 'out');
      },
      (err: unknown) => {
        if (this.dialing === ac) this.dialing = undefined;
        this.failures++;
        this.log.debug(
          { peer: this.config.name, err: err instanceof Error ? err.message : String(err) },
          'BGP connect failed',
        );
        this.notifyState();
        if (!ac.signal.aborted && this.connections.length === 0) this.scheduleDial(this.retryDelay());
      },
    );
  }

  private fsmConfig(): FsmConfig {
    const peer = this.config.peerAsn;
    return {
      localAsn: this.config.localAsn,
      localBgpId: this.config.routerId,
      ...(typeof peer === 'number'
        ? { peerAsn: peer }
        : peer === 'internal'
          ? { peerAsn: this.config.localAsn }
          : {}),
      holdTime: this.config.holdTime,
      minHoldTime: 3,
      connectRetryTime: 120,
      largeHoldTime: 240,
    };
  }

  private attach(conn: Conn, direction: 'in' | 'out'): void {
    const c: Connection = {
      id: nextConnectionId++,
      conn,
      direction,
      fsm: INITIAL_FSM_STATE,
      deadlines: {},
      wake: undefined,
      buffer: new Uint8Array(0),
      receive: DEFAULT_SESSION,
      closed: false,
    };
    this.connections.push(c);
    conn.onData((b) => this.onData(c, b));
    conn.onClose(() => {
      if (!c.closed) this.step(c, { type: 'TcpConnectionFails' });
    });
    this.step(
      c,
      direction === 'out' ? { type: 'ManualStart' } : { type: 'ManualStart_with_PassiveTcpEstablishment' },
    );
    this.step(c, direction === 'out' ? { type: 'Tcp_CR_Acked' } : { type: 'TcpConnectionConfirmed' });
  }

  private onData(c: Connection, bytes: Uint8Array): void {
    if (c.closed) return;
    try {
      const joined = new Uint8Array(c.buffer.length + bytes.length);
      joined.set(c.buffer);
      joined.set(bytes, c.buffer.length);
      const { messages, rest } = splitMessages(joined, c.receive);
      c.buffer = rest.slice();
      for (const m of messages) {
        if (c.closed) return;
        this.onMessage(c, m);
      }
    } catch (e) {
      this.onBadInput(c, e);
    }
  }

  private onBadInput(c: Connection, e: unknown): void {
    if (e instanceof BgpMessageError) {
      this.log.warn(
        { peer: this.config.name, code: e.code, subcode: e.subcode, reason: e.reason },
        'malformed BGP message from peer',
      );
      this.step(c, errorEvent(e));
      return;
    }
    this.log.error(
      { peer: this.config.name, err: e instanceof Error ? e.message : String(e) },
      'unexpected error on BGP input',
    );
    this.step(c, {
      type: 'BGPHeaderErr',
      error: { code: ErrorCode.CEASE, subcode: CeaseSubcode.UNSPECIFIC },
    });
  }

  private onMessage(c: Connection, bytes: Uint8Array): void {
    let decoded;
    try {
      decoded = decodeMessage(bytes, c.receive);
    } catch (e) {
      this.onBadInput(c, e);
      return;
    }
    const m = decoded.message;
    switch (m.type) {
      case 'open': {
        this.counters.opensReceived++;
        this.onOpen(c, m);
        return;
      }
      case 'keepalive':
        this.counters.keepalivesReceived++;
        this.step(c, { type: 'KeepAliveMsg' });
        return;
      case 'update':
        this.counters.updatesReceived++;
        if (decoded.problems.length > 0) {
          // RFC 7606: treat-as-withdraw / attribute-discard / AFI-SAFI disable. We learn no routes, so
          // the session simply carries on.
          this.log.warn(
            { peer: this.config.name, problems: decoded.problems.map((p) => `${p.action}: ${p.reason}`) },
            'malformed UPDATE from peer handled per RFC 7606',
          );
        }
        this.step(c, { type: 'UpdateMsg' });
        return;
      case 'notification': {
        const text = shutdownCommunication(m);
        this.lastError = `received ${notificationName(m.code, m.subcode)}${text ? `: ${text}` : ''}`;
        this.log.warn(
          { peer: this.config.name, code: m.code, subcode: m.subcode, message: text },
          'NOTIFICATION from peer',
        );
        this.step(c, notificationEvent(m.code, m.subcode));
        return;
      }
      case 'routeRefresh':
        this.counters.routeRefreshReceived++;
        if (c === this.established && m.subtype === 0) {
          const fam = { afi: m.afi, safi: m.safi };
          this.resend(c, fam);
        }
        return;
    }
  }

  private onOpen(c: Connection, open: OpenMessage): void {
    const local = buildOpen(this.config, this.restarted);
    const peerAsnCfg = this.config.peerAsn;
    let negotiated: NegotiatedSession;
    try {
      const asn = openAsn(open);
      if (peerAsnCfg === 'external' && asn === this.config.localAsn) {
        throw new BgpMessageError(
          ErrorCode.OPEN_MESSAGE,
          OpenSubcode.BAD_PEER_AS,
          new Uint8Array(0),
          `peer AS ${asn} is our own`,
        );
      }
      negotiated = negotiateSession(local, open, {
        localAsn: this.config.localAsn,
        ...(typeof peerAsnCfg === 'number'
          ? { peerAsn: peerAsnCfg }
          : peerAsnCfg === 'internal'
            ? { peerAsn: this.config.localAsn }
            : {}),
        minHoldTime: 3,
      });
    } catch (e) {
      this.onBadInput(c, e);
      return;
    }
    // Collision detection (RFC 4271 §6.8) against our other connection to this peer.
    const other = this.connections.find((x) => x !== c && !x.closed);
    if (other) {
      if (other.fsm.state === 'Established') {
        // A valid OPEN on a new connection while the old one is Established: the peer restarted
        // without closing the old one (power loss, a crash its kernel did not survive). Waiting for
        // the old hold timer would keep the peer without our routes for up to the hold time; like
        // BIRD and FRR (and RFC 4724 §4.2 for graceful restart) we take the new connection.
        this.log.info(
          { peer: this.config.name },
          'new connection from an Established peer: it restarted; replacing the old one',
        );
        this.step(other, { type: 'OpenCollisionDump' });
      }
      if (other.fsm.state === 'OpenSent' || other.fsm.state === 'OpenConfirm') {
        const winner = resolveCollision(
          { bgpId: this.config.routerId, asn: this.config.localAsn },
          { bgpId: open.bgpId, asn: openAsn(open) },
        );
        const keepDirection = winner === 'locally-initiated' ? 'out' : 'in';
        if (c.direction !== keepDirection) {
          this.step(c, { type: 'OpenCollisionDump' });
          return;
        }
        this.step(other, { type: 'OpenCollisionDump' });
      }
    }
    c.negotiated = negotiated;
    c.receive = negotiated.receive;
    c.peerOpen = open;
    this.step(c, { type: 'BGPOpen', open });
  }

  /** Feeds one event to a connection's FSM and runs the actions. */
  private step(c: Connection, ev: BgpEvent): void {
    if (c.closed) return;
    let result;
    try {
      result = fsmStep(this.fsmConfig(), c.fsm, ev);
    } catch (e) {
      this.log.error(
        { peer: this.config.name, err: e instanceof Error ? e.message : String(e) },
        'BGP FSM failed',
      );
      this.closeConnection(c, 'destroy');
      return;
    }
    c.fsm = result.state;
    const actions = result.actions.map((a) => this.adjustTimer(a));
    c.deadlines = applyTimerActions(
      c.deadlines,
      actions.filter((a) => !(a.type === 'start-timer' && a.timer === 'ConnectRetry')),
      this.deps.clock.now(),
    );
    for (const a of actions) {
      if (c.closed) break;
      this.run(c, a);
    }
    if (!c.closed) this.arm(c);
    this.notifyState();
  }

  /** Keepalives at the configured interval when shorter than hold time / 3. */
  private adjustTimer(a: BgpAction): BgpAction {
    if (a.type === 'start-timer' && a.timer === 'Keepalive' && this.config.keepaliveTime > 0) {
      return { ...a, ms: Math.min(a.ms, this.config.keepaliveTime * 1000) };
    }
    return a;
  }

  private arm(c: Connection): void {
    if (c.wake !== undefined) this.deps.clock.clearTimer(c.wake);
    c.wake = undefined;
    const at = nextDeadline(c.deadlines);
    if (at === undefined) return;
    c.wake = this.deps.clock.setTimer(() => {
      c.wake = undefined;
      this.onTimers(c);
    }, at - this.deps.clock.now());
  }

  private onTimers(c: Connection): void {
    if (c.closed) return;
    const now = this.deps.clock.now();
    for (;;) {
      const due = dueTimer(c.deadlines, now);
      if (!due) break;
      c.deadlines = due.deadlines;
      this.step(c, due.event);
      if (c.closed) return;
    }
    this.arm(c);
  }

  private run(c: Connection, a: BgpAction): void {
    switch (a.type) {
      case 'send-open':
        this.sendMessage(c, buildOpen(this.config, this.restarted));
        this.counters.opensSent++;
        return;
      case 'send-keepalive':
        this.sendMessage(c, { type: 'keepalive' });
        this.counters.keepalivesSent++;
        return;
      case 'send-notification':
        this.sendMessage(c, { type: 'notification', code: a.code, subcode: a.subcode, data: a.data });
        this.counters.notificationsSent++;
        this.lastError = `sent ${notificationName(a.code, a.subcode)}`;
        this.log.warn({ peer: this.config.name, code: a.code, subcode: a.subcode }, 'NOTIFICATION sent');
        return;
      case 'drop-connection':
        this.closeConnection(c, 'end');
        return;
      case 'session-up':
        this.onEstablished(c);
        return;
      default:
        // connect/listen are the session's job (dial with backoff, the speaker's listener);
        // start/stop-timer were applied; process-update/delete-routes: we learn no routes.
        return;
    }
  }

  private sendMessage(c: Connection, m: BgpMessage): void {
    if (c.closed) return;
    const params = c.negotiated?.send ?? DEFAULT_SESSION;
    try {
      c.conn.write(encodeMessage(m, params));
    } catch (e) {
      this.log.error(
        { peer: this.config.name, err: e instanceof Error ? e.message : String(e) },
        'cannot encode BGP message',
      );
    }
  }

  private closeConnection(c: Connection, how: 'end' | 'destroy'): void {
    if (c.closed) return;
    c.closed = true;
    if (c.wake !== undefined) this.deps.clock.clearTimer(c.wake);
    c.wake = undefined;
    const i = this.connections.indexOf(c);
    if (i >= 0) this.connections.splice(i, 1);
    try {
      if (how === 'end') c.conn.end();
      else c.conn.destroy();
    } catch {
      // already closed
    }
    if (this.established === c) {
      this.established = undefined;
      this.sent.clear();
      this.emitRib();
    }
    if (c.fsm.state !== 'Idle') c.fsm = INITIAL_FSM_STATE;
    if (this.running && this.connections.length === 0) {
      this.failures++;
      this.scheduleDial(this.retryDelay());
    }
    this.notifyState();
  }

  private onEstablished(c: Connection): void {
    for (const o of [...this.connections]) {
      if (o !== c) this.step(o, { type: 'OpenCollisionDump' });
    }
    this.cancelDial();
    this.established = c;
    this.failures = 0;
    this.sent.clear();
    const n = c.negotiated;
    this.log.info(
      {
        peer: this.config.name,
        peerAsn: n?.peerAsn,
        holdTime: n?.holdTime,
        families: n?.send.families,
        direction: c.direction,
      },
      'BGP session established',
    );
    this.syncRoutes(c);
    for (const f of this.sendableFamilies(c)) this.sendMessage(c, endOfRib(f));
    this.counters.updatesSent += this.sendableFamilies(c).length;
    this.emitRib();
    // After our first session the R bit no longer applies.
    this.restarted = false;
  }

  /** Families we may send on this connection (negotiated, with next hops we can give). */
  private sendableFamilies(c: Connection): Family[] {
    const fams = c.negotiated?.send.families ?? [];
    return [IPV4_UNICAST, IPV6_UNICAST].filter((f) => hasFamily(fams, f) && this.nextHop(c, f) !== undefined);
  }

  /** The next hop for a family on this connection, or undefined if we have none to give. */
  private nextHop(c: Connection, f: Family): NextHop | undefined {
    const local = unmapIpv4(c.conn.localAddress);
    const nh = this.config.nextHops ?? {};
    if (this.config.unnumbered) {
      if (f.afi === Afi.IPV4 && !(c.negotiated && canUseIpv6NextHopForIpv4(c.negotiated))) return undefined;
      const ll = nh.ipv6LinkLocal ?? splitZone(local).address;
      return nh.ipv6 ? { global: nh.ipv6, linkLocal: ll } : { global: ll };
    }
    if (f.afi === Afi.IPV4) {
      if (v4(local)) return { global: local };
      if (nh.ipv4) return { global: nh.ipv4 };
      if (c.negotiated && canUseIpv6NextHopForIpv4(c.negotiated)) return { global: local };
      return undefined;
    }
    const global = v4(local) ? nh.ipv6 : local;
    if (!global) return undefined;
    const ll = this.config.linkLocalNextHop !== false ? nh.ipv6LinkLocal : undefined;
    return ll ? { global, linkLocal: ll } : { global };
  }

  private baseAttributes(c: Connection, r: ExportedRoute): PathAttribute[] {
    const n = c.negotiated;
    const internal = n !== undefined && n.peerAsn === this.config.localAsn;
    const attrs: PathAttribute[] = [{ type: 'origin', origin: 'incomplete' }];
    if (internal) {
      attrs.push({ type: 'asPath', segments: [] });
      attrs.push({ type: 'localPref', localPref: r.localPref ?? 100 });
    } else if (n?.send.fourOctetAs || this.config.localAsn <= 0xffff) {
      attrs.push({ type: 'asPath', segments: [{ type: 'sequence', asns: [this.config.localAsn] }] });
    } else {
      attrs.push({ type: 'asPath', segments: [{ type: 'sequence', asns: [AS_TRANS] }] });
      attrs.push({ type: 'as4Path', segments: [{ type: 'sequence', asns: [this.config.localAsn] }] });
    }
    if (r.communities.length > 0) attrs.push({ type: 'communities', communities: r.communities });
    if (r.largeCommunities.length > 0)
      attrs.push({ type: 'largeCommunities', communities: r.largeCommunities });
    return attrs;
  }

  /** Sends the difference between the desired routes and the Adj-RIB-Out. */
  private syncRoutes(c: Connection): void {
    const fams = this.sendableFamilies(c);
    const withdraw: Prefix[] = [];
    for (const [p] of this.sent) {
      const want = this.desired.get(p);
      if (!want || !hasFamily(fams, familyOfPrefix(p))) {
        withdraw.push(prefixOf(p));
        this.sent.delete(p);
      }
    }
    const groups = new Map<string, ExportedRoute[]>();
    for (const [p, r] of this.desired) {
      if (!hasFamily(fams, familyOfPrefix(p))) continue;
      const key = attributeKey(r);
      if (this.sent.get(p) === key) continue;
      const g = groups.get(key);
      if (g) g.push(r);
      else groups.set(key, [r]);
    }
    this.sendPacked(c, withdraw, groups);
  }

  private sendPacked(c: Connection, withdraw: Prefix[], groups: Map<string, ExportedRoute[]>): void {
    const params = c.negotiated?.send ?? DEFAULT_SESSION;
    const chunks: Uint8Array[] = [];
    const push = (updates: readonly BgpMessage[]): void => {
      for (const u of updates) chunks.push(encodeMessage(u, params));
    };
    try {
      if (withdraw.length > 0) push(packUpdates({ attributes: [], announce: [], withdraw }, params));
      for (const [key, routes] of groups) {
        const first = routes[0]!;
        const v4nh = this.nextHop(c, IPV4_UNICAST);
        const v6nh = this.nextHop(c, IPV6_UNICAST);
        push(
          packUpdates(
            {
              attributes: this.baseAttributes(c, first),
              ...(v4nh ? { ipv4NextHop: this.config.unnumbered ? v4nh : v4nh.global } : {}),
              ...(v6nh ? { ipv6NextHop: v6nh } : {}),
              announce: routes.map((r) => prefixOf(r.prefix)),
              withdraw: [],
            },
            params,
          ),
        );
        for (const r of routes) this.sent.set(r.prefix, key);
      }
    } catch (e) {
      this.log.error(
        { peer: this.config.name, err: e instanceof Error ? e.message : String(e) },
        'cannot build UPDATEs',
      );
    }
    if (chunks.length === 0) return;
    this.counters.updatesSent += chunks.length;
    const total = chunks.reduce((a, b) => a + b.length, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const ch of chunks) {
      all.set(ch, off);
      off += ch.length;
    }
    if (!c.closed) c.conn.write(all);
    this.emitRib();
  }

  /** Route refresh: everything we have for the family again, then End-of-RIB. */
  private resend(c: Connection, fam: Family): void {
    if (!hasFamily(this.sendableFamilies(c), fam)) return;
    for (const [p] of this.sent) if (hasFamily([fam], familyOfPrefix(p))) this.sent.delete(p);
    this.syncRoutes(c);
    this.sendMessage(c, endOfRib(fam));
    this.counters.updatesSent++;
  }

  /** Asks the peer to resend its routes (unused by the speaker; counted as MetalLB does). */
  requestRefresh(): void {
    const c = this.established;
    if (!c?.negotiated?.routeRefresh) return;
    for (const f of this.sendableFamilies(c)) {
      this.sendMessage(c, { type: 'routeRefresh', afi: f.afi, safi: f.safi, subtype: 0 });
      this.counters.routeRefreshSent++;
    }
  }
}

/** Cease subcodes we use, exported for the speaker. */
export const SHUTDOWN_CEASE = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN;
