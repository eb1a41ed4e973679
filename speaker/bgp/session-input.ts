// What a BGP session does with the bytes a peer sends: split into messages, decode them (RFC 7606 for
// UPDATEs), check and negotiate the peer's OPEN, resolve connection collisions (RFC 4271 §6.8), and
// feed the FSM. Malformed input becomes the NOTIFICATION the RFC calls for, on this session only;
// nothing a peer sends may throw out of here.
import { resolveCollision } from '../../proto/bgp/collision.js';
import { BgpMessageError } from '../../proto/bgp/errors.js';
import type { Family, SessionParams } from '../../proto/bgp/family.js';
import {
  errorEvent,
  notificationEvent,
  type BgpEvent,
  type FsmState,
  type TimerDeadlines,
} from '../../proto/bgp/fsm.js';
import { decodeMessage, splitMessages } from '../../proto/bgp/message.js';
import { negotiateSession, type NegotiatedSession } from '../../proto/bgp/negotiate.js';
import {
  CeaseSubcode,
  ErrorCode,
  OpenSubcode,
  notificationName,
} from '../../proto/bgp/notification-codes.js';
import { shutdownCommunication } from '../../proto/bgp/notification.js';
import { openAsn, type OpenMessage } from '../../proto/bgp/open.js';
import type { TimerHandle } from '../../proto/clock.js';
import { buildOpen, type Conn, type SessionConfig } from './session-config.js';
import type { SessionCounters } from './session.js';
import type { Log } from './types.js';

/** One TCP connection of a session, with its own FSM (two exist during a collision). */
export interface SessionConnection {
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
  peerOpen?: OpenMessage;
}

/** What input handling reads and drives of its session. */
export interface InputHost {
  readonly config: SessionConfig;
  readonly counters: SessionCounters;
  readonly log: Log;
  setLastError(text: string): void;
  /** We are a restarting speaker (RFC 4724 R bit in our OPEN). */
  restarted(): boolean;
  connections(): readonly SessionConnection[];
  established(): SessionConnection | undefined;
  /** Feeds one event to a connection's FSM. */
  step(c: SessionConnection, ev: BgpEvent): void;
  /** Route refresh: everything we have for the family again. */
  resend(c: SessionConnection, fam: Family): void;
}

export function onData(h: InputHost, c: SessionConnection, bytes: Uint8Array): void {
  if (c.closed) return;
  try {
    const joined = new Uint8Array(c.buffer.length + bytes.length);
    joined.set(c.buffer);
    joined.set(bytes, c.buffer.length);
    const { messages, rest } = splitMessages(joined, c.receive);
    c.buffer = rest.slice();
    for (const m of messages) {
      if (c.closed) return;
      onMessage(h, c, m);
    }
  } catch (e) {
    onBadInput(h, c, e);
  }
}

function onBadInput(h: InputHost, c: SessionConnection, e: unknown): void {
  if (e instanceof BgpMessageError) {
    h.log.warn(
      { peer: h.config.name, code: e.code, subcode: e.subcode, reason: e.reason },
      'malformed BGP message from peer',
    );
    h.step(c, errorEvent(e));
    return;
  }
  h.log.error(
    { peer: h.config.name, err: e instanceof Error ? e.message : String(e) },
    'unexpected error on BGP input',
  );
  h.step(c, {
    type: 'BGPHeaderErr',
    error: { code: ErrorCode.CEASE, subcode: CeaseSubcode.UNSPECIFIC },
  });
}

function onMessage(h: InputHost, c: SessionConnection, bytes: Uint8Array): void {
  let decoded;
  try {
    decoded = decodeMessage(bytes, c.receive);
  } catch (e) {
    onBadInput(h, c, e);
    return;
  }
  const m = decoded.message;
  switch (m.type) {
    case 'open': {
      h.counters.opensReceived++;
      onOpen(h, c, m);
      return;
    }
    case 'keepalive':
      h.counters.keepalivesReceived++;
      h.step(c, { type: 'KeepAliveMsg' });
      return;
    case 'update':
      h.counters.updatesReceived++;
      if (decoded.problems.length > 0) {
        // RFC 7606: treat-as-withdraw / attribute-discard / AFI-SAFI disable. We learn no routes, so
        // the session simply carries on.
        h.log.warn(
          { peer: h.config.name, problems: decoded.problems.map((p) => `${p.action}: ${p.reason}`) },
          'malformed UPDATE from peer handled per RFC 7606',
        );
      }
      h.step(c, { type: 'UpdateMsg' });
      return;
    case 'notification': {
      const text = shutdownCommunication(m);
      h.setLastError(`received ${notificationName(m.code, m.subcode)}${text ? `: ${text}` : ''}`);
      h.log.warn(
        { peer: h.config.name, code: m.code, subcode: m.subcode, message: text },
        'NOTIFICATION from peer',
      );
      h.step(c, notificationEvent(m.code, m.subcode));
      return;
    }
    case 'routeRefresh':
      h.counters.routeRefreshReceived++;
      if (c === h.established() && m.subtype === 0) {
        const fam = { afi: m.afi, safi: m.safi };
        h.resend(c, fam);
      }
      return;
  }
}

function onOpen(h: InputHost, c: SessionConnection, open: OpenMessage): void {
  const local = buildOpen(h.config, h.restarted());
  const peerAsnCfg = h.config.peerAsn;
  let negotiated: NegotiatedSession;
  try {
    const asn = openAsn(open);
    if (peerAsnCfg === 'external' && asn === h.config.localAsn) {
      throw new BgpMessageError(
        ErrorCode.OPEN_MESSAGE,
        OpenSubcode.BAD_PEER_AS,
        new Uint8Array(0),
        `peer AS ${asn} is our own`,
      );
    }
    negotiated = negotiateSession(local, open, {
      localAsn: h.config.localAsn,
      ...(typeof peerAsnCfg === 'number'
        ? { peerAsn: peerAsnCfg }
        : peerAsnCfg === 'internal'
          ? { peerAsn: h.config.localAsn }
          : {}),
      minHoldTime: 3,
    });
  } catch (e) {
    onBadInput(h, c, e);
    return;
  }
  // Collision detection (RFC 4271 §6.8) against our other connection to this peer.
  const other = h.connections().find((x) => x !== c && !x.closed);
  if (other) {
    if (other.fsm.state === 'Established') {
      // A valid OPEN on a new connection while the old one is Established: the peer restarted
      // without closing the old one (power loss, a crash its kernel did not survive). Waiting for
      // the old hold timer would keep the peer without our routes for up to the hold time; like
      // BIRD and FRR (and RFC 4724 §4.2 for graceful restart) we take the new connection.
      h.log.info(
        { peer: h.config.name },
        'new connection from an Established peer: it restarted; replacing the old one',
      );
      h.step(other, { type: 'OpenCollisionDump' });
    }
    if (other.fsm.state === 'OpenSent' || other.fsm.state === 'OpenConfirm') {
      const winner = resolveCollision(
        { bgpId: h.config.routerId, asn: h.config.localAsn },
        { bgpId: open.bgpId, asn: openAsn(open) },
      );
      const keepDirection = winner === 'locally-initiated' ? 'out' : 'in';
      if (c.direction !== keepDirection) {
        h.step(c, { type: 'OpenCollisionDump' });
        return;
      }
      h.step(other, { type: 'OpenCollisionDump' });
    }
  }
  c.negotiated = negotiated;
  c.receive = negotiated.receive;
  c.peerOpen = open;
  h.step(c, { type: 'BGPOpen', open });
}
