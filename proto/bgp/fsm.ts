/**
 * The BGP finite state machine of RFC 4271 §8 as a pure function: (config, state, event) -> (state,
 * actions). Timers are actions (start/stop with a duration); the caller runs them and feeds the
 * expiry events back (see `TimerDeadlines` below for a pure helper). Optional session attributes
 * supported: passive TCP establishment. Not modelled: DelayOpen, DampPeerOscillations (IdleHoldTimer),
 * SendNOTIFICATIONwithoutOPEN, CollisionDetectEstablishedState, the TCP-level "TrackTcpState" details.
 *
 * Deviations, on purpose:
 * - In passive mode the ConnectRetryTimer never makes us dial (RFC 4271 §8.2.2 Active would); we keep listening.
 * - BGPHeaderErr/BGPOpenMsgErr send the NOTIFICATION the error calls for (RFC 4271 §6.1/§6.2) in
 *   every state that sends one, including Established where §8.2.2 lumps them into "FSM Error".
 */
import { BgpMessageError } from './errors.js';
import { CeaseSubcode, ErrorCode, FsmSubcode, OpenSubcode } from './notification-codes.js';
import { openAsn, type OpenMessage } from './open.js';

export type BgpState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export type TimerName = 'ConnectRetry' | 'Hold' | 'Keepalive';

export interface NotificationData {
  readonly code: number;
  readonly subcode: number;
  readonly data?: Uint8Array;
}

/** RFC 4271 §8.1 events, by their RFC names (event numbers in comments). */
export type BgpEvent =
  | { readonly type: 'ManualStart' } // 1
  | { readonly type: 'ManualStop' } // 2
  | { readonly type: 'AutomaticStart' } // 3
  | { readonly type: 'ManualStart_with_PassiveTcpEstablishment' } // 4
  | { readonly type: 'AutomaticStart_with_PassiveTcpEstablishment' } // 5
  | { readonly type: 'AutomaticStop' } // 8
  | { readonly type: 'ConnectRetryTimer_Expires' } // 9
  | { readonly type: 'HoldTimer_Expires' } // 10
  | { readonly type: 'KeepaliveTimer_Expires' } // 11
  | { readonly type: 'TcpConnection_Valid' } // 14
  | { readonly type: 'Tcp_CR_Invalid' } // 15
  | { readonly type: 'Tcp_CR_Acked' } // 16
  | { readonly type: 'TcpConnectionConfirmed' } // 17
  | { readonly type: 'TcpConnectionFails' } // 18
  | { readonly type: 'BGPOpen'; readonly open: OpenMessage } // 19
  | { readonly type: 'BGPHeaderErr'; readonly error: NotificationData } // 21
  | { readonly type: 'BGPOpenMsgErr'; readonly error: NotificationData } // 22
  | { readonly type: 'OpenCollisionDump' } // 23
  | { readonly type: 'NotifMsgVerErr' } // 24
  | { readonly type: 'NotifMsg' } // 25
  | { readonly type: 'KeepAliveMsg' } // 26
  | { readonly type: 'UpdateMsg' } // 27
  | { readonly type: 'UpdateMsgErr'; readonly error: NotificationData }; // 28

export type BgpAction =
  | { readonly type: 'connect' } // initiate a TCP connection to the peer
  | { readonly type: 'listen' } // listen for a connection from the peer
  | { readonly type: 'drop-connection' }
  | { readonly type: 'release-resources' }
  | { readonly type: 'delete-routes' } // all routes learned from this peer
  | { readonly type: 'send-open' }
  | { readonly type: 'send-keepalive' }
  | {
      readonly type: 'send-notification';
      readonly code: number;
      readonly subcode: number;
      readonly data: Uint8Array;
    }
  | { readonly type: 'start-timer'; readonly timer: TimerName; readonly ms: number }
  | { readonly type: 'stop-timer'; readonly timer: TimerName }
  | { readonly type: 'process-update' }
  | { readonly type: 'session-up'; readonly holdTime: number; readonly keepaliveTime: number };

export interface FsmConfig {
  readonly localAsn: number;
  readonly localBgpId: string;
  /** ASN(s) accepted from the peer; undefined accepts any. */
  readonly peerAsn?: number | readonly number[];
  /** Our proposed hold time, seconds (default 90). */
  readonly holdTime?: number;
  /** Smallest non-zero peer hold time accepted, seconds (default 3). */
  readonly minHoldTime?: number;
  /** ConnectRetryTime, seconds (default 120). */
  readonly connectRetryTime?: number;
  /** Hold timer while waiting for the peer's OPEN, seconds (default 240: "4 minutes", §8.2.2). */
  readonly largeHoldTime?: number;
  /** Only accept connections, never dial. */
  readonly passive?: boolean;
}

export interface FsmState {
  readonly state: BgpState;
  readonly connectRetryCounter: number;
  /** Negotiated hold time, seconds (meaningful from OpenConfirm). */
  readonly holdTime: number;
  /** Keepalive interval, milliseconds (0 = none). */
  readonly keepaliveMs: number;
  /** The peer's OPEN, once received. */
  readonly peerOpen?: OpenMessage;
}

export interface FsmResult {
  readonly state: FsmState;
  readonly actions: readonly BgpAction[];
}

export const INITIAL_FSM_STATE: FsmState = Object.freeze({
  state: 'Idle',
  connectRetryCounter: 0,
  holdTime: 0,
  keepaliveMs: 0,
});

const NONE = new Uint8Array(0);
const S = (s: number): number => s * 1000;

function notify(code: number, subcode: number, data: Uint8Array = NONE): BgpAction {
  return { type: 'send-notification', code, subcode, data };
}

const stop = (timer: TimerName): BgpAction => ({ type: 'stop-timer', timer });
const start = (timer: TimerName, ms: number): BgpAction => ({ type: 'start-timer', timer, ms });

/** Checks the peer's OPEN against the configuration (RFC 4271 §6.2). Returns the error, or the negotiated hold time. */
export function checkPeerOpen(cfg: FsmConfig, open: OpenMessage): NotificationData | { holdTime: number } {
  const asn = openAsn(open);
  const allowed = cfg.peerAsn === undefined ? undefined : ([] as number[]).concat(cfg.peerAsn);
  if (allowed && !allowed.includes(asn))
    return { code: ErrorCode.OPEN_MESSAGE, subcode: OpenSubcode.BAD_PEER_AS };
  if (open.version !== 4) {
    return {
      code: ErrorCode.OPEN_MESSAGE,
      subcode: OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
      data: Uint8Array.of(0, 4),
    };
  }
  if (open.bgpId === '0.0.0.0' || (open.bgpId === cfg.localBgpId && asn === cfg.localAsn)) {
    return { code: ErrorCode.OPEN_MESSAGE, subcode: OpenSubcode.BAD_BGP_IDENTIFIER };
  }
  const min = Math.max(3, cfg.minHoldTime ?? 3);
  if (open.holdTime !== 0 && open.holdTime < min) {
    return { code: ErrorCode.OPEN_MESSAGE, subcode: OpenSubcode.UNACCEPTABLE_HOLD_TIME };
  }
  return { holdTime: Math.min(cfg.holdTime ?? 90, open.holdTime) };
}

/** Builds the FSM event for a decoding failure of a received message. */
export function errorEvent(e: BgpMessageError): BgpEvent {
  const error = { code: e.code, subcode: e.subcode, data: e.data };
  if (e.code === ErrorCode.MESSAGE_HEADER) return { type: 'BGPHeaderErr', error };
  if (e.code === ErrorCode.OPEN_MESSAGE) return { type: 'BGPOpenMsgErr', error };
  return { type: 'UpdateMsgErr', error };
}

/** Event for a received NOTIFICATION: version errors (2/1) are NotifMsgVerErr. */
export function notificationEvent(code: number, subcode: number): BgpEvent {
  return code === ErrorCode.OPEN_MESSAGE && subcode === OpenSubcode.UNSUPPORTED_VERSION_NUMBER
    ? { type: 'NotifMsgVerErr' }
    : { type: 'NotifMsg' };
}

type Counter = 'zero' | 'increment' | 'keep';

/** The common "go to Idle" tail of §8.2.2: stop timers, release, drop TCP, adjust the counter. */
function toIdle(
  st: FsmState,
  opts: { notification?: BgpAction; counter: Counter; deleteRoutes?: boolean },
): FsmResult {
  const actions: BgpAction[] = [];
  if (opts.notification) actions.push(opts.notification);
  actions.push(stop('ConnectRetry'), stop('Hold'), stop('Keepalive'));
  if (opts.deleteRoutes) actions.push({ type: 'delete-routes' });
  actions.push({ type: 'release-resources' }, { type: 'drop-connection' });
  const connectRetryCounter =
    opts.counter === 'zero'
      ? 0
      : opts.counter === 'increment'
        ? st.connectRetryCounter + 1
        : st.connectRetryCounter;
  return { state: { ...INITIAL_FSM_STATE, connectRetryCounter }, actions };
}

const stay = (st: FsmState, actions: BgpAction[] = []): FsmResult => ({ state: st, actions });

/** §8.2.2, Connect and Active: the TCP connection is up — send OPEN, large hold timer, OpenSent. */
const toOpenSent = (st: FsmState, cfg: FsmConfig): FsmResult => ({
  state: { ...st, state: 'OpenSent' },
  actions: [stop('ConnectRetry'), { type: 'send-open' }, start('Hold', S(cfg.largeHoldTime ?? 240))],
});

function fsmErrorSubcode(state: BgpState): number {
  if (state === 'OpenSent') return FsmSubcode.UNEXPECTED_MESSAGE_IN_OPEN_SENT;
  if (state === 'OpenConfirm') return FsmSubcode.UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM;
  if (state === 'Established') return FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED;
  return FsmSubcode.UNSPECIFIED;
}

const MESSAGE_EVENTS = new Set(['BGPOpen', 'NotifMsg', 'NotifMsgVerErr', 'KeepAliveMsg', 'UpdateMsg']);

/** FSM Error for an unexpected event: RFC 6608 subcodes for unexpected messages, 0 for the rest. */
function fsmError(st: FsmState, ev: BgpEvent): BgpAction {
  return notify(
    ErrorCode.FSM,
    MESSAGE_EVENTS.has(ev.type) ? fsmErrorSubcode(st.state) : FsmSubcode.UNSPECIFIED,
  );
}

const isStart = (t: BgpEvent['type']): boolean =>
  t === 'ManualStart' ||
  t === 'AutomaticStart' ||
  t === 'ManualStart_with_PassiveTcpEstablishment' ||
  t === 'AutomaticStart_with_PassiveTcpEstablishment';

const errNotify = (e: NotificationData): BgpAction => notify(e.code, e.subcode, e.data ?? NONE);

/** One step of the FSM. */
export function fsmStep(cfg: FsmConfig, st: FsmState, ev: BgpEvent): FsmResult {
  const connectRetryMs = S(cfg.connectRetryTime ?? 120);
  const cease = (subcode: number): BgpAction => notify(ErrorCode.CEASE, subcode);
  switch (st.state) {
    case 'Idle': {
      if (ev.type === 'ManualStart' || ev.type === 'AutomaticStart') {
        if (cfg.passive) {
          return {
            state: { ...st, state: 'Active', connectRetryCounter: 0 },
            actions: [start('ConnectRetry', connectRetryMs), { type: 'listen' }],
          };
        }
        return {
          state: { ...st, state: 'Connect', connectRetryCounter: 0 },
          actions: [start('ConnectRetry', connectRetryMs), { type: 'connect' }, { type: 'listen' }],
        };
      }
      if (
        ev.type === 'ManualStart_with_PassiveTcpEstablishment' ||
        ev.type === 'AutomaticStart_with_PassiveTcpEstablishment'
      ) {
        return {
          state: { ...st, state: 'Active', connectRetryCounter: 0 },
          actions: [start('ConnectRetry', connectRetryMs), { type: 'listen' }],
        };
      }
      return stay(st); // every other event is ignored in Idle
    }

    case 'Connect':
      if (isStart(ev.type)) return stay(st);
      switch (ev.type) {
        case 'ManualStop':
          return toIdle(st, { counter: 'zero' });
        case 'ConnectRetryTimer_Expires':
          return stay(st, [
            { type: 'drop-connection' },
            start('ConnectRetry', connectRetryMs),
            { type: 'connect' },
          ]);
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Invalid':
          return stay(st);
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          return toOpenSent(st, cfg);
        case 'TcpConnectionFails':
          return toIdle(st, { counter: 'keep' });
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
        case 'NotifMsgVerErr':
          return toIdle(st, { counter: 'increment' });
        default:
          return toIdle(st, { counter: 'increment' });
      }

    case 'Active':
      if (isStart(ev.type)) return stay(st);
      switch (ev.type) {
        case 'ManualStop':
          return toIdle(st, { counter: 'zero' });
        case 'ConnectRetryTimer_Expires':
          if (cfg.passive) return stay(st, [start('ConnectRetry', connectRetryMs)]);
          return {
            state: { ...st, state: 'Connect' },
            actions: [start('ConnectRetry', connectRetryMs), { type: 'connect' }],
          };
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Invalid':
          return stay(st);
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
          return toOpenSent(st, cfg);
        case 'TcpConnectionFails':
          return toIdle(st, { counter: 'increment' });
        default:
          return toIdle(st, { counter: 'increment' });
      }

    case 'OpenSent':
      if (isStart(ev.type)) return stay(st);
      switch (ev.type) {
        case 'ManualStop':
          return toIdle(st, { notification: cease(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN), counter: 'zero' });
        case 'AutomaticStop':
          return toIdle(st, { notification: cease(CeaseSubcode.UNSPECIFIC), counter: 'increment' });
        case 'HoldTimer_Expires':
          return toIdle(st, { notification: notify(ErrorCode.HOLD_TIMER_EXPIRED, 0), counter: 'increment' });
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
        case 'Tcp_CR_Invalid':
          return stay(st); // a second connection: the caller tracks it for collision detection
        case 'TcpConnectionFails':
          return {
            state: { ...st, state: 'Active' },
            actions: [
              { type: 'drop-connection' },
              stop('Hold'),
              start('ConnectRetry', connectRetryMs),
              { type: 'listen' },
            ],
          };
        case 'BGPOpen': {
          const checked = checkPeerOpen(cfg, ev.open);
          if (!('holdTime' in checked))
            return toIdle(st, { notification: errNotify(checked), counter: 'increment' });
          const holdTime = checked.holdTime;
          const keepaliveMs = Math.floor(S(holdTime) / 3);
          const actions: BgpAction[] = [stop('ConnectRetry'), { type: 'send-keepalive' }];
          if (holdTime > 0) actions.push(start('Keepalive', keepaliveMs), start('Hold', S(holdTime)));
          else actions.push(stop('Hold'));
          return {
            state: {
              ...st,
              state: 'OpenConfirm',
              holdTime,
              keepaliveMs: holdTime > 0 ? keepaliveMs : 0,
              peerOpen: ev.open,
            },
            actions,
          };
        }
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          return toIdle(st, { notification: errNotify(ev.error), counter: 'increment' });
        case 'OpenCollisionDump':
          return toIdle(st, {
            notification: cease(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION),
            counter: 'increment',
          });
        case 'NotifMsgVerErr':
          return toIdle(st, { counter: 'keep' });
        default:
          return toIdle(st, { notification: fsmError(st, ev), counter: 'increment' });
      }

    case 'OpenConfirm':
      if (isStart(ev.type)) return stay(st);
      switch (ev.type) {
        case 'ManualStop':
          return toIdle(st, { notification: cease(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN), counter: 'zero' });
        case 'AutomaticStop':
          return toIdle(st, { notification: cease(CeaseSubcode.UNSPECIFIC), counter: 'increment' });
        case 'HoldTimer_Expires':
          return toIdle(st, { notification: notify(ErrorCode.HOLD_TIMER_EXPIRED, 0), counter: 'increment' });
        case 'KeepaliveTimer_Expires':
          return stay(st, [
            { type: 'send-keepalive' },
            ...(st.keepaliveMs > 0 ? [start('Keepalive', st.keepaliveMs)] : []),
          ]);
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
        case 'Tcp_CR_Invalid':
          return stay(st);
        case 'TcpConnectionFails':
        case 'NotifMsg':
          return toIdle(st, { counter: 'increment' });
        case 'NotifMsgVerErr':
          return toIdle(st, { counter: 'keep' });
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          return toIdle(st, { notification: errNotify(ev.error), counter: 'increment' });
        case 'OpenCollisionDump':
          return toIdle(st, {
            notification: cease(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION),
            counter: 'increment',
          });
        case 'KeepAliveMsg':
          return {
            state: { ...st, state: 'Established' },
            actions: [
              ...(st.holdTime > 0 ? [start('Hold', S(st.holdTime))] : []),
              { type: 'session-up', holdTime: st.holdTime, keepaliveTime: st.keepaliveMs / 1000 },
            ],
          };
        default:
          return toIdle(st, { notification: fsmError(st, ev), counter: 'increment' });
      }

    case 'Established':
      if (isStart(ev.type)) return stay(st);
      switch (ev.type) {
        case 'ManualStop':
          return toIdle(st, {
            notification: cease(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN),
            counter: 'zero',
            deleteRoutes: true,
          });
        case 'AutomaticStop':
          return toIdle(st, {
            notification: cease(CeaseSubcode.UNSPECIFIC),
            counter: 'increment',
            deleteRoutes: true,
          });
        case 'HoldTimer_Expires':
          return toIdle(st, {
            notification: notify(ErrorCode.HOLD_TIMER_EXPIRED, 0),
            counter: 'increment',
            deleteRoutes: true,
          });
        case 'KeepaliveTimer_Expires':
          return stay(st, [
            { type: 'send-keepalive' },
            ...(st.keepaliveMs > 0 ? [start('Keepalive', st.keepaliveMs)] : []),
          ]);
        case 'TcpConnection_Valid':
        case 'Tcp_CR_Acked':
        case 'TcpConnectionConfirmed':
        case 'Tcp_CR_Invalid':
          return stay(st);
        case 'OpenCollisionDump':
          return toIdle(st, {
            notification: cease(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION),
            counter: 'increment',
            deleteRoutes: true,
          });
        case 'NotifMsgVerErr':
        case 'NotifMsg':
        case 'TcpConnectionFails':
          return toIdle(st, { counter: 'increment', deleteRoutes: true });
        case 'KeepAliveMsg':
          return stay(st, st.holdTime > 0 ? [start('Hold', S(st.holdTime))] : []);
        case 'UpdateMsg':
          return stay(st, [
            { type: 'process-update' },
            ...(st.holdTime > 0 ? [start('Hold', S(st.holdTime))] : []),
          ]);
        case 'UpdateMsgErr':
        case 'BGPHeaderErr':
        case 'BGPOpenMsgErr':
          return toIdle(st, { notification: errNotify(ev.error), counter: 'increment', deleteRoutes: true });
        default:
          return toIdle(st, { notification: fsmError(st, ev), counter: 'increment', deleteRoutes: true });
      }
  }
}

/** Absolute deadlines (ms since the caller's epoch) of running timers. */
export type TimerDeadlines = Readonly<Partial<Record<TimerName, number>>>;

/** Applies the start/stop-timer actions at time `now`. */
export function applyTimerActions(
  deadlines: TimerDeadlines,
  actions: readonly BgpAction[],
  now: number,
): TimerDeadlines {
  const next: Partial<Record<TimerName, number>> = { ...deadlines };
  for (const a of actions) {
    if (a.type === 'start-timer') next[a.timer] = now + a.ms;
    else if (a.type === 'stop-timer') delete next[a.timer];
  }
  return next;
}

const EXPIRY: Record<TimerName, BgpEvent> = {
  ConnectRetry: { type: 'ConnectRetryTimer_Expires' },
  Hold: { type: 'HoldTimer_Expires' },
  Keepalive: { type: 'KeepaliveTimer_Expires' },
};

/** The earliest timer due at `now`, with its expiry event and the deadlines without it; undefined if none is due. */
export function dueTimer(
  deadlines: TimerDeadlines,
  now: number,
): { timer: TimerName; event: BgpEvent; deadlines: TimerDeadlines } | undefined {
  let best: TimerName | undefined;
  for (const t of ['Hold', 'Keepalive', 'ConnectRetry'] as const) {
    const d = deadlines[t];
    if (d !== undefined && d <= now && (best === undefined || d < deadlines[best]!)) best = t;
  }
  if (best === undefined) return undefined;
  const rest: Partial<Record<TimerName, number>> = { ...deadlines };
  delete rest[best];
  return { timer: best, event: EXPIRY[best], deadlines: rest };
}

/** The earliest running deadline, for the caller's single wake-up timer. */
export function nextDeadline(deadlines: TimerDeadlines): number | undefined {
  const ds = Object.values(deadlines).filter((d): d is number => d !== undefined);
  return ds.length === 0 ? undefined : Math.min(...ds);
}
