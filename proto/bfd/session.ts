/**
 * The BFD session state machine of RFC 5880 §6.2/§6.8 (asynchronous mode with the Echo function, no
 * Demand) as pure functions over a session value: give it the clock `now` (ms) and an injected
 * `random()` in [0, 1), and it says which packets to send, when the next one is due, when detection
 * expires, and which state changes happened. Sockets (RFC 5881 single-hop / RFC 5883 multihop) and the
 * echo frames live elsewhere.
 *
 * Echo (RFC 5880 §6.4, §6.8.9): while the session is Up, `desiredMinEchoTxUs` is set and the remote
 * advertises a non-zero Required Min Echo RX Interval, the session asks for an echo every
 * max(desiredMinEchoTxUs, remote Required Min Echo RX) (a `send-echo` action) and expects them back:
 * when none has come back for Detect Mult × that interval (the echo detection time, a local matter
 * per §6.8.5), the session goes Down with diag 2 (Echo Function Failed). Control packets keep their
 * rate. What we advertise as our own Required Min Echo RX is `requiredMinEchoRxUs`: non-zero says
 * we loop the remote's echoes.
 */
import { BfdDiag, type BfdControlPacket, type BfdState } from './packet.js';

export interface BfdConfig {
  /** bfd.LocalDiscr: non-zero, unique per system. */
  readonly myDiscriminator: number;
  /** bfd.DesiredMinTxInterval, microseconds. */
  readonly desiredMinTxUs: number;
  /** bfd.RequiredMinRxInterval, microseconds (0: the remote must not send us periodic packets). */
  readonly requiredMinRxUs: number;
  /** bfd.DetectMult. */
  readonly detectMult: number;
  /** Passive role (RFC 5880 §6.1): send nothing until the remote's discriminator is known. */
  readonly passive?: boolean;
  /** Authentication in use: packets must (and without it must not) carry the A bit. */
  readonly authenticated?: boolean;
  /** bfd.RequiredMinEchoRxInterval, microseconds: non-zero says we loop the remote's echoes (default 0). */
  readonly requiredMinEchoRxUs?: number;
  /** Our echo transmit interval, microseconds; non-zero turns the Echo function on (default 0). */
  readonly desiredMinEchoTxUs?: number;
}

interface Intervals {
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
}

export interface BfdSession {
  readonly config: BfdConfig;
  readonly state: BfdState;
  readonly remoteState: BfdState;
  readonly localDiag: number;
  readonly remoteDiscriminator: number;
  readonly remoteDesiredMinTxUs: number;
  readonly remoteMinRxUs: number;
  readonly remoteDetectMult: number;
  /** Values we advertise. */
  readonly advertised: Intervals;
  /** Values in force for our transmit interval and the detection time (lag `advertised` during a Poll Sequence). */
  readonly active: Intervals;
  /** A Poll Sequence is running (our packets carry P until a Final arrives). */
  readonly polling: boolean;
  /** ms; when the next periodic packet is due (undefined: none). */
  readonly nextTxAt?: number;
  /** ms; when detection time runs out (undefined: not armed). */
  readonly detectAt?: number;
  /** The remote's Required Min Echo RX Interval, microseconds (0: it does not loop echoes). */
  readonly remoteMinEchoRxUs: number;
  /** Microseconds between our echoes while the Echo function is active (undefined: not active). */
  readonly echoTxUs?: number;
  /** ms; when the next echo is due. */
  readonly nextEchoAt?: number;
  /** ms; when the echo detection time runs out (no echo came back since). */
  readonly echoDetectAt?: number;
}

export type BfdAction =
  | { readonly type: 'send'; readonly packet: BfdControlPacket }
  /** Send one echo packet (the caller builds it: its contents are a local matter). */
  | { readonly type: 'send-echo' }
  | { readonly type: 'state-change'; readonly from: BfdState; readonly to: BfdState; readonly diag: number };

export interface BfdResult {
  readonly session: BfdSession;
  readonly actions: readonly BfdAction[];
}

/** RFC 5880 §6.8.3: while not Up, advertise a Desired Min TX of at least one second. */
const SLOW_TX_US = 1_000_000;

function advertisedFor(state: BfdState, cfg: BfdConfig): Intervals {
  return {
    desiredMinTxUs: state === 'Up' ? cfg.desiredMinTxUs : Math.max(cfg.desiredMinTxUs, SLOW_TX_US),
    requiredMinRxUs: cfg.requiredMinRxUs,
  };
}

/** A new session in Down (§6.8.1 initial values; bfd.RemoteMinRxInterval starts at 1). */
export function createBfdSession(config: BfdConfig, now: number, random: () => number): BfdSession {
  if (config.myDiscriminator === 0) throw new RangeError('bfd: local discriminator must be non-zero');
  if (config.detectMult < 1 || config.detectMult > 255)
    throw new RangeError('bfd: Detect Mult must be 1..255');
  const adv = advertisedFor('Down', config);
  const s: BfdSession = {
    config,
    state: 'Down',
    remoteState: 'Down',
    localDiag: BfdDiag.NONE,
    remoteDiscriminator: 0,
    remoteDesiredMinTxUs: 0,
    remoteMinRxUs: 1,
    remoteDetectMult: 0,
    remoteMinEchoRxUs: 0,
    advertised: adv,
    active: adv,
    polling: false,
  };
  // The first packet goes out on the first tick; passive sessions wait for the remote.
  void random;
  return config.passive ? s : { ...s, nextTxAt: now };
}

/** §6.8.7: max(our Desired Min TX in force, the remote's Required Min RX); 0 = do not send. */
export function txIntervalUs(s: BfdSession): number {
  if (s.remoteMinRxUs === 0) return 0;
  return Math.max(s.active.desiredMinTxUs, s.remoteMinRxUs);
}

/** §6.8.7 jitter: 75–100% of the interval (75–90% when Detect Mult is 1), in ms. */
export function jitteredTxMs(s: BfdSession, random: () => number): number {
  const us = txIntervalUs(s);
  const r = Math.min(Math.max(random(), 0), 0.999999);
  const fraction = s.config.detectMult === 1 ? 0.75 + 0.15 * r : 0.75 + 0.25 * r;
  return (us * fraction) / 1000;
}

/** §6.8.4 asynchronous mode: remote Detect Mult × max(our Required Min RX in force, remote Desired Min TX), µs. */
export function detectionTimeUs(s: BfdSession): number {
  return s.remoteDetectMult * Math.max(s.active.requiredMinRxUs, s.remoteDesiredMinTxUs);
}

/** The control packet the session sends now (`final` answers a Poll). */
export function controlPacket(s: BfdSession, final = false): BfdControlPacket {
  return {
    version: 1,
    diag: s.localDiag,
    state: s.state,
    poll: s.polling && !final,
    final,
    controlPlaneIndependent: false,
    demand: false,
    multipoint: false,
    detectMult: s.config.detectMult,
    myDiscriminator: s.config.myDiscriminator,
    yourDiscriminator: s.remoteDiscriminator,
    desiredMinTxInterval: s.advertised.desiredMinTxUs,
    requiredMinRxInterval: s.advertised.requiredMinRxUs,
    requiredMinEchoRxInterval: s.config.requiredMinEchoRxUs ?? 0,
  };
}

/**
 * §6.8.9: the echo transmit interval, microseconds: max(ours, the remote's Required Min Echo RX); 0 when
 * the Echo function is not active (not Up, not configured, or the remote does not loop echoes).
 */
export function echoIntervalUs(s: BfdSession): number {
  const ours = s.config.desiredMinEchoTxUs ?? 0;
  if (s.state !== 'Up' || ours <= 0 || s.remoteMinEchoRxUs === 0) return 0;
  return Math.max(ours, s.remoteMinEchoRxUs);
}

/** Echo detection time, microseconds: our Detect Mult × the echo interval (0: echo not active). */
export function echoDetectionTimeUs(s: BfdSession): number {
  return s.config.detectMult * echoIntervalUs(s);
}

function withoutEcho(s: BfdSession): BfdSession {
  const { echoTxUs: _a, nextEchoAt: _b, echoDetectAt: _c, ...rest } = s;
  return rest;
}

/** Starts, restarts (the interval changed) or stops the Echo function to match the session. */
function syncEcho(s: BfdSession, now: number): BfdSession {
  const us = echoIntervalUs(s);
  if (us === 0) return s.echoTxUs === undefined ? s : withoutEcho(s);
  if (s.echoTxUs === us) return s;
  return { ...s, echoTxUs: us, nextEchoAt: now, echoDetectAt: now + (s.config.detectMult * us) / 1000 };
}

/** One of our echoes came back (the caller checked it carries our discriminator): detection re-armed. */
export function bfdEchoReceive(s: BfdSession, now: number): BfdSession {
  if (s.echoTxUs === undefined) return s;
  return { ...s, echoDetectAt: now + (s.config.detectMult * s.echoTxUs) / 1000 };
}

function changeState(s: BfdSession, to: BfdState, diag: number, actions: BfdAction[]): BfdSession {
  if (s.state === to) return s;
  actions.push({ type: 'state-change', from: s.state, to, diag });
  const adv = advertisedFor(to, s.config);
  const next: BfdSession = { ...s, state: to, localDiag: diag };
  // Leaving Up: back to the slow rate at once, any Poll Sequence abandoned.
  if (to === 'Down' || to === 'AdminDown') return { ...next, advertised: adv, active: adv, polling: false };
  if (
    adv.desiredMinTxUs === s.advertised.desiredMinTxUs &&
    adv.requiredMinRxUs === s.advertised.requiredMinRxUs
  ) {
    return next;
  }
  // Entering Up changes Desired Min TX: §6.8.3 requires a Poll Sequence. Faster applies at once,
  // slower (and a smaller Required Min RX) only once the Final arrives.
  return {
    ...next,
    advertised: adv,
    active: {
      desiredMinTxUs: Math.min(adv.desiredMinTxUs, s.active.desiredMinTxUs),
      requiredMinRxUs: Math.max(adv.requiredMinRxUs, s.active.requiredMinRxUs),
    },
    polling: true,
  };
}

/**
 * Processes a received, decoded control packet (RFC 5880 §6.8.6). The caller has demultiplexed it to
 * this session and verified authentication; a packet whose Your Discriminator is not ours, or whose
 * A bit disagrees with the configuration, is discarded here (no actions).
 */
export function bfdReceive(s: BfdSession, p: BfdControlPacket, now: number, random: () => number): BfdResult {
  if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s.config.myDiscriminator)
    return { session: s, actions: [] };
  if ((p.auth !== undefined) !== (s.config.authenticated === true)) return { session: s, actions: [] };
  const actions: BfdAction[] = [];
  let n: BfdSession = {
    ...s,
    remoteDiscriminator: p.myDiscriminator,
    remoteState: p.state,
    remoteMinRxUs: p.requiredMinRxInterval,
    remoteDesiredMinTxUs: p.desiredMinTxInterval,
    remoteDetectMult: p.detectMult,
    remoteMinEchoRxUs: p.requiredMinEchoRxInterval,
  };
  if (p.final && n.polling) n = { ...n, polling: false, active: n.advertised };
  if (n.state === 'AdminDown') return { session: n, actions };
  if (p.state === 'AdminDown') {
    if (n.state !== 'Down') n = changeState(n, 'Down', BfdDiag.NEIGHBOR_SIGNALED_SESSION_DOWN, actions);
  } else if (n.state === 'Down') {
    if (p.state === 'Down') n = changeState(n, 'Init', BfdDiag.NONE, actions);
    else if (p.state === 'Init') n = changeState(n, 'Up', BfdDiag.NONE, actions);
  } else if (n.state === 'Init') {
    if (p.state === 'Init' || p.state === 'Up') n = changeState(n, 'Up', BfdDiag.NONE, actions);
  } else if (p.state === 'Down') {
    n = changeState(n, 'Down', BfdDiag.NEIGHBOR_SIGNALED_SESSION_DOWN, actions);
  }
  n = { ...n, detectAt: now + detectionTimeUs(n) / 1000 };
  if (p.poll) actions.push({ type: 'send', packet: controlPacket(n, true) });
  // A changed state or interval is announced right away, and the periodic schedule restarts from now.
  const interval = txIntervalUs(n);
  if (interval === 0) n = withoutTx(n);
  else if (n.nextTxAt === undefined || actions.some((a) => a.type === 'state-change')) {
    if (actions.some((a) => a.type === 'state-change'))
      actions.push({ type: 'send', packet: controlPacket(n) });
    n = { ...n, nextTxAt: now + jitteredTxMs(n, random) };
  }
  return { session: syncEcho(n, now), actions };
}

function withoutTx(s: BfdSession): BfdSession {
  const { nextTxAt: _drop, ...rest } = s;
  return rest;
}

function withoutDetect(s: BfdSession): BfdSession {
  const { detectAt: _drop, ...rest } = s;
  return rest;
}

/**
 * Runs due timers at `now`: detection expiry (Init/Up -> Down, diag 1), echo detection expiry (Up ->
 * Down, diag 2), the periodic transmission and the next echo.
 */
export function bfdTick(s: BfdSession, now: number, random: () => number): BfdResult {
  const actions: BfdAction[] = [];
  let n = s;
  if (n.echoDetectAt !== undefined && now >= n.echoDetectAt && n.state === 'Up') {
    n = withoutEcho(changeState(n, 'Down', BfdDiag.ECHO_FUNCTION_FAILED, actions));
    // The remote hears of it at once, not at the next periodic packet.
    actions.push({ type: 'send', packet: controlPacket(n) });
  }
  if (n.detectAt !== undefined && now >= n.detectAt) {
    if (n.state === 'Init' || n.state === 'Up') {
      n = changeState(n, 'Down', BfdDiag.CONTROL_DETECTION_TIME_EXPIRED, actions);
    }
    // §6.8.1: the remote discriminator is forgotten when the session times out.
    n = withoutDetect({ ...n, remoteDiscriminator: 0, remoteState: 'Down', remoteMinRxUs: 1 });
  }
  n = syncEcho(n, now);
  if (n.echoTxUs !== undefined && n.nextEchoAt !== undefined && now >= n.nextEchoAt) {
    actions.push({ type: 'send-echo' });
    n = { ...n, nextEchoAt: now + n.echoTxUs / 1000 };
  }
  const mayTx = !(n.config.passive && n.remoteDiscriminator === 0);
  if (!mayTx) return { session: withoutTx(n), actions };
  if (n.nextTxAt === undefined || now >= n.nextTxAt) {
    const interval = txIntervalUs(n);
    if (interval === 0) return { session: withoutTx(n), actions };
    if (n.nextTxAt !== undefined) actions.push({ type: 'send', packet: controlPacket(n) });
    n = { ...n, nextTxAt: now + jitteredTxMs(n, random) };
  }
  return { session: n, actions };
}

/** Earliest time the caller must call `bfdTick`. */
export function bfdNextWakeup(s: BfdSession): number | undefined {
  const t = [s.nextTxAt, s.detectAt, s.nextEchoAt, s.echoDetectAt].filter(
    (x): x is number => x !== undefined,
  );
  return t.length === 0 ? undefined : Math.min(...t);
}

/** Administratively disable the session (diag 7); packets keep flowing with state AdminDown. */
export function bfdAdminDown(s: BfdSession): BfdResult {
  const actions: BfdAction[] = [];
  const n = changeState(s, 'AdminDown', BfdDiag.ADMINISTRATIVELY_DOWN, actions);
  if (actions.length > 0) actions.push({ type: 'send', packet: controlPacket(n) });
  return { session: withoutEcho(withoutDetect(n)), actions };
}

/** Re-enable an administratively down session: it goes to Down and starts over. */
export function bfdAdminUp(s: BfdSession): BfdResult {
  if (s.state !== 'AdminDown') return { session: s, actions: [] };
  const actions: BfdAction[] = [];
  const n = changeState(s, 'Down', BfdDiag.NONE, actions);
  return { session: n, actions };
}

/**
 * New timer parameters (§6.8.3). When Up, a Poll Sequence starts: an increased Desired Min TX and a
 * decreased Required Min RX take effect only when the remote's Final arrives.
 */
export function bfdSetParameters(
  s: BfdSession,
  params: { desiredMinTxUs?: number; requiredMinRxUs?: number; detectMult?: number },
): BfdResult {
  const config: BfdConfig = { ...s.config, ...params };
  const adv = advertisedFor(s.state, config);
  const changed =
    adv.desiredMinTxUs !== s.advertised.desiredMinTxUs ||
    adv.requiredMinRxUs !== s.advertised.requiredMinRxUs;
  if (!changed) return { session: { ...s, config }, actions: [] };
  if (s.state !== 'Up') return { session: { ...s, config, advertised: adv, active: adv }, actions: [] };
  const active: Intervals = {
    desiredMinTxUs: Math.min(adv.desiredMinTxUs, s.active.desiredMinTxUs),
    requiredMinRxUs: Math.max(adv.requiredMinRxUs, s.active.requiredMinRxUs),
  };
  const n: BfdSession = { ...s, config, advertised: adv, active, polling: true };
  return { session: n, actions: [{ type: 'send', packet: controlPacket(n) }] };
}
