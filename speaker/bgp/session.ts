// One BGP peering around proto's RFC 4271 FSM: dial with backoff, accept the peer's connections
// (two FSMs during a collision), hold/keepalive timers, End-of-RIB, route refresh answered by a
// resend. What the peer sends is handled in session-input.ts (decoding, the OPEN, collisions, the
// NOTIFICATION malformed input calls for); what we send in adj-rib-out.ts (the Adj-RIB-Out and its
// UPDATE diffs, packed by proto/bgp/packing). I/O is injected (Conn, dial, Clock), so the whole class runs
// on an in-memory duplex and a fake clock in unit tests; nothing a peer sends may throw out of it.
import { endOfRib } from '../../proto/bgp/end-of-rib.js';
import { DEFAULT_SESSION, hasFamily, type Family } from '../../proto/bgp/family.js';
import {
  applyTimerActions,
  dueTimer,
  fsmStep,
  INITIAL_FSM_STATE,
  nextDeadline,
  type BgpAction,
  type BgpEvent,
} from '../../proto/bgp/fsm.js';
import { encodeMessage, type BgpMessage } from '../../proto/bgp/message.js';
import type { NegotiatedSession } from '../../proto/bgp/negotiate.js';
import { CeaseSubcode, ErrorCode, notificationName } from '../../proto/bgp/notification-codes.js';
import { shutdownNotification } from '../../proto/bgp/notification.js';
import { backoffDelay } from '../../k8s/backoff.js';
import type { Clock, TimerHandle } from '../../proto/clock.js';
import { AdjRibOut } from './adj-rib-out.js';
import { onData, type InputHost, type SessionConnection } from './session-input.js';
import {
  buildOpen,
  fsmConfigOf,
  newCounters,
  type Conn,
  type Dial,
  type SessionConfig,
  type SessionCounters,
  type SessionEvents,
  type SessionStateName,
} from './session-config.js';
export type { SessionCounters } from './session-config.js';
import { silentLog, type ExportedRoute, type Log } from './types.js';

let nextConnectionId = 1;

/** One BGP session (to one peer address). */
export class BgpSession {
  private readonly connections: SessionConnection[] = [];
  /** Connections closed after flushing a NOTIFICATION whose TCP close has not come yet (see ended()). */
  private readonly ending = new Set<SessionConnection>();
  private endWaiters: (() => void)[] = [];
  private established: SessionConnection | undefined;
  private readonly rib: AdjRibOut;
  /** What input handling (session-input.ts) reads and drives. */
  private readonly input: InputHost;
  private running = false;
  private dialing: AbortController | undefined;
  private retryTimer: TimerHandle | undefined;
  private failures = 0;
  private lastState: SessionStateName = 'Idle';
  private restarted: boolean;
  readonly counters: SessionCounters = newCounters();
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
    this.rib = new AdjRibOut(config, () => this.log);
    this.input = {
      config,
      counters: this.counters,
      log: deps.log ?? silentLog,
      setLastError: (text) => {
        this.lastError = text;
      },
      restarted: () => this.restarted,
      connections: () => this.connections,
      established: () => this.established,
      step: (c, ev) => this.step(c, ev),
      resend: (c, fam) => this.resend(c, fam),
    };
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
    return this.rib.announcedCount;
  }

  get pendingCount(): number {
    return this.rib.pendingCount;
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
   * Resolves when every connection closed after its NOTIFICATION (stop('notify')) is closed on the TCP
   * level too — the peer read the Cease and closed its side — or after `boundMs`.
   */
  ended(boundMs: number): Promise<void> {
    if (this.ending.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.deps.clock.setTimer(resolve, boundMs);
      this.endWaiters.push(() => {
        this.deps.clock.clearTimer(timer);
        resolve();
      });
    });
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
    this.rib.setDesired(routes);
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
    this.deps.events?.onRibOut?.(this.rib.announcedCount, this.rib.pendingCount);
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

  private attach(conn: Conn, direction: 'in' | 'out'): void {
    const c: SessionConnection = {
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
    conn.onData((b) => onData(this.input, c, b));
    conn.onClose(() => {
      if (this.ending.delete(c) && this.ending.size === 0) {
        const waiters = this.endWaiters;
        this.endWaiters = [];
        for (const w of waiters) w();
      }
      if (!c.closed) this.step(c, { type: 'TcpConnectionFails' });
    });
    this.step(
      c,
      direction === 'out' ? { type: 'ManualStart' } : { type: 'ManualStart_with_PassiveTcpEstablishment' },
    );
    this.step(c, direction === 'out' ? { type: 'Tcp_CR_Acked' } : { type: 'TcpConnectionConfirmed' });
  }

  /** Feeds one event to a connection's FSM and runs the actions. */
  private step(c: SessionConnection, ev: BgpEvent): void {
    if (c.closed) return;
    let result;
    try {
      result = fsmStep(fsmConfigOf(this.config), c.fsm, ev);
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

  private arm(c: SessionConnection): void {
    if (c.wake !== undefined) this.deps.clock.clearTimer(c.wake);
    c.wake = undefined;
    const at = nextDeadline(c.deadlines);
    if (at === undefined) return;
    c.wake = this.deps.clock.setTimer(() => {
      c.wake = undefined;
      this.onTimers(c);
    }, at - this.deps.clock.now());
  }

  private onTimers(c: SessionConnection): void {
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

  private run(c: SessionConnection, a: BgpAction): void {
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

  private sendMessage(c: SessionConnection, m: BgpMessage): void {
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

  private closeConnection(c: SessionConnection, how: 'end' | 'destroy'): void {
    if (c.closed) return;
    c.closed = true;
    if (c.wake !== undefined) this.deps.clock.clearTimer(c.wake);
    c.wake = undefined;
    const i = this.connections.indexOf(c);
    if (i >= 0) this.connections.splice(i, 1);
    if (how === 'end') this.ending.add(c);
    try {
      if (how === 'end') c.conn.end();
      else c.conn.destroy();
    } catch {
      // already closed
    }
    if (this.established === c) {
      this.established = undefined;
      this.rib.clear();
      this.emitRib();
    }
    if (c.fsm.state !== 'Idle') c.fsm = INITIAL_FSM_STATE;
    if (this.running && this.connections.length === 0) {
      this.failures++;
      this.scheduleDial(this.retryDelay());
    }
    this.notifyState();
  }

  private onEstablished(c: SessionConnection): void {
    for (const o of [...this.connections]) {
      if (o !== c) this.step(o, { type: 'OpenCollisionDump' });
    }
    this.cancelDial();
    this.established = c;
    this.failures = 0;
    this.rib.clear();
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
    for (const f of this.rib.sendableFamilies(c)) this.sendMessage(c, endOfRib(f));
    this.counters.updatesSent += this.rib.sendableFamilies(c).length;
    this.emitRib();
    // After our first session the R bit no longer applies.
    this.restarted = false;
  }

  /** Sends the UPDATEs that take the peer to what we want to announce. */
  private syncRoutes(c: SessionConnection): void {
    const chunks = this.rib.updates(c);
    if (chunks.length === 0) return;
    this.counters.updatesSent += chunks.length;
    const all = new Uint8Array(chunks.reduce((a, b) => a + b.length, 0));
    let off = 0;
    for (const ch of chunks) {
      all.set(ch, off);
      off += ch.length;
    }
    if (!c.closed) c.conn.write(all);
    this.emitRib();
  }

  /** Route refresh: everything we have for the family again, then End-of-RIB. */
  private resend(c: SessionConnection, fam: Family): void {
    if (!hasFamily(this.rib.sendableFamilies(c), fam)) return;
    this.rib.forget(fam);
    this.syncRoutes(c);
    this.sendMessage(c, endOfRib(fam));
    this.counters.updatesSent++;
  }

  /** Asks the peer to resend its routes (unused by the speaker; counted as MetalLB does). */
  requestRefresh(): void {
    const c = this.established;
    if (!c?.negotiated?.routeRefresh) return;
    for (const f of this.rib.sendableFamilies(c)) {
      this.sendMessage(c, { type: 'routeRefresh', afi: f.afi, safi: f.safi, subtype: 0 });
      this.counters.routeRefreshSent++;
    }
  }
}

/** Cease subcodes we use, exported for the speaker. */
export const SHUTDOWN_CEASE = CeaseSubcode.ADMINISTRATIVE_SHUTDOWN;
