// The vocabulary of membership among speakers: the options, the states of a member, the messages
// members exchange (encoded by wire.ts), and what a step of the core (core.ts) returns.

export type MemberState = 'alive' | 'suspect' | 'dead';

export interface MembershipOptions {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  indirectTimeoutMs: number;
  indirectChecks: number;
  suspicionMs: number;
  reconnectMs: number;
  /** Updates piggybacked per message. */
  maxPiggyback: number;
  /** Each update is sent this many times x ceil(log2(n+1)). */
  retransmitMult: number;
}

export const DEFAULT_MEMBERSHIP: MembershipOptions = {
  probeIntervalMs: 100,
  probeTimeoutMs: 60,
  indirectTimeoutMs: 90,
  indirectChecks: 3,
  suspicionMs: 350,
  reconnectMs: 100,
  maxPiggyback: 12,
  retransmitMult: 3,
};

export interface Update {
  n: string;
  s: MemberState;
  i: number;
}

/** What the sender believes about the recipient (only sent when not plainly alive at the recipient's own incarnation). */
export interface View {
  s: MemberState;
  i: number;
  /** Health version the sender holds for the recipient. */
  hv: number;
}

interface Base {
  from: string;
  /** Sender's incarnation. */
  inc: number;
  /** Sender's health version. */
  hv: number;
}

export type Message =
  | (Base & { t: 'ping'; seq: number; view?: View; upd: Update[] })
  | (Base & { t: 'ack'; seq: number; view?: View; upd: Update[] })
  | (Base & { t: 'ping-req'; seq: number; target: string; upd: Update[] })
  | (Base & { t: 'ind-ack'; seq: number; target: string; tinc: number; upd: Update[] })
  | (Base & { t: 'health'; healthy: string[] });

export interface Outgoing {
  to: string;
  msg: Message;
}

export interface Change {
  node: string;
  from: MemberState | 'unknown';
  to: MemberState | 'removed';
}

export interface Step {
  send: Outgoing[];
  changes: Change[];
  /** Members whose health results changed. */
  healthChanged: string[];
}

export type Random = () => number;

/** A seeded PRNG (mulberry32) for tests and simulations. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
