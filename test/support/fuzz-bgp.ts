/**
 * BGP decoder fuzzing: mutations of captured real-router messages plus random bytes, fed to
 * decodeMessage under several negotiated sessions. The oracle: decoding returns or throws a
 * BgpMessageError, nothing else; a decoded message re-encodes without error and decodes back to
 * the same value. Deterministic for a given seed. Used by test/unit/proto/fuzz.test.ts (a sample)
 * and bench/fuzz.ts (the long run).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { fromHex, toHex } from '../../proto/bytes.js';
import {
  BgpMessageError,
  IPV4_UNICAST,
  IPV6_UNICAST,
  decodeMessage,
  encodeMessage,
  endOfRib,
  makeOpen,
  packUpdates,
  parsePrefix,
  type SessionParams,
} from '../../proto/bgp/index.js';
import { repoPath } from './repo.js';

export const FUZZ_SESSIONS: Readonly<Record<string, SessionParams>> = {
  'two-octet': { fourOctetAs: false, extendedMessages: false, families: [IPV4_UNICAST], addPath: [] },
  'four-octet-dual': {
    fourOctetAs: true,
    extendedMessages: false,
    families: [IPV4_UNICAST, IPV6_UNICAST],
    addPath: [],
  },
  'extended-addpath': {
    fourOctetAs: true,
    extendedMessages: true,
    families: [IPV4_UNICAST, IPV6_UNICAST],
    addPath: [IPV4_UNICAST, IPV6_UNICAST],
  },
  external: {
    fourOctetAs: true,
    extendedMessages: false,
    families: [IPV4_UNICAST, IPV6_UNICAST],
    addPath: [],
    external: true,
  },
};
const SESSION_NAMES = Object.keys(FUZZ_SESSIONS);

export interface Crash {
  readonly session: string;
  readonly hex: string;
  readonly error: string;
}

export interface FuzzStats {
  inputs: number;
  decoded: number;
  rejected: number;
  crashes: Crash[];
  elapsedMs: number;
  /** Slowest single input, ms (a hang would show here). */
  slowestMs: number;
}

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every message of the captured fixtures plus a few synthetic ones (OPEN, packed UPDATEs, End-of-RIB). */
export function seedCorpus(): Uint8Array[] {
  const dir = repoPath('test', 'fixtures', 'bgp');
  const out: Uint8Array[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const fx = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as {
      connections: { messages: { hex: string }[] }[];
    };
    for (const c of fx.connections) for (const m of c.messages) out.push(fromHex(m.hex));
  }
  const s = FUZZ_SESSIONS['four-octet-dual']!;
  out.push(
    encodeMessage(
      makeOpen({
        asn: 4200000000,
        bgpId: '192.0.2.1',
        holdTime: 90,
        capabilities: [{ type: 'fqdn', hostname: 'x', domain: 'y' }],
      }),
      s,
    ),
  );
  const ups = packUpdates(
    {
      attributes: [
        { type: 'origin', origin: 'igp' },
        { type: 'asPath', segments: [{ type: 'sequence', asns: [65000, 4200000000] }] },
        { type: 'largeCommunities', communities: [{ globalAdmin: 1, localData1: 2, localData2: 3 }] },
      ],
      ipv4NextHop: '192.0.2.1',
      ipv6NextHop: { global: '2001:db8::1', linkLocal: 'fe80::1' },
      announce: [parsePrefix('10.0.0.0/8'), parsePrefix('192.0.2.128/25'), parsePrefix('2001:db8:1::/48')],
      withdraw: [parsePrefix('10.1.0.0/16'), parsePrefix('2001:db8:2::/64')],
    },
    s,
  );
  for (const u of ups) out.push(encodeMessage(u, s));
  out.push(encodeMessage(endOfRib(IPV6_UNICAST), s));
  return out;
}

const INTERESTING = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x0f, 0x10, 0x1f, 0x20, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xe0, 0xfe, 0xff,
];

/** One mutation of `input` (may return a new array). */
export function mutate(input: Uint8Array, rnd: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(rnd() * n);
  let b = Uint8Array.from(input);
  const rounds = 1 + int(4);
  for (let r = 0; r < rounds; r++) {
    const op = int(10);
    if (b.length === 0) b = new Uint8Array(19 + int(40));
    const at = int(b.length);
    switch (op) {
      case 0: // bit flip
        b[at] = b[at]! ^ (1 << int(8));
        break;
      case 1: // interesting byte
        b[at] = INTERESTING[int(INTERESTING.length)]!;
        break;
      case 2: // random byte
        b[at] = int(256);
        break;
      case 3: {
        // truncate (then fix the header length so the body parser is reached)
        b = b.slice(0, Math.max(19, at));
        if (b.length >= 18) {
          b[16] = b.length >> 8;
          b[17] = b.length & 0xff;
        }
        break;
      }
      case 4: {
        // insert random bytes, fix the header length
        const ins = Uint8Array.from({ length: 1 + int(8) }, () => int(256));
        const nb = new Uint8Array(b.length + ins.length);
        nb.set(b.subarray(0, at));
        nb.set(ins, at);
        nb.set(b.subarray(at), at + ins.length);
        b = nb;
        if (b.length >= 18 && b.length <= 0xffff) {
          b[16] = b.length >> 8;
          b[17] = b.length & 0xff;
        }
        break;
      }
      case 5: {
        // delete a range, fix the header length
        const n = 1 + int(8);
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n)]);
        if (b.length >= 18) {
          b[16] = b.length >> 8;
          b[17] = b.length & 0xff;
        }
        break;
      }
      case 6: // a 16-bit length-looking field set to an edge value
        if (at + 1 < b.length) {
          const v = [0, 1, 0xff, 0x100, 0xffff, b.length, b.length - at][int(7)]!;
          b[at] = (v >> 8) & 0xff;
          b[at + 1] = v & 0xff;
        }
        break;
      case 7: // duplicate a chunk in place
        if (b.length < 60000) {
          const n = 1 + int(16);
          const chunk = b.slice(at, at + n);
          b = Uint8Array.from([...b.subarray(0, at), ...chunk, ...b.subarray(at)]);
          if (b.length >= 18 && b.length <= 0xffff) {
            b[16] = b.length >> 8;
            b[17] = b.length & 0xff;
          }
        }
        break;
      case 8: // splice a small value into a length octet position near attribute headers
        b[at] = int(3) === 0 ? 0 : int(64);
        break;
      default: // random message type
        if (b.length > 18) b[18] = int(3) === 0 ? int(256) : 1 + int(5);
    }
  }
  return b;
}

/** Random bytes behind a valid marker (so the header and body parsers are reached). */
export function randomMessage(rnd: () => number): Uint8Array {
  const len = 19 + Math.floor(rnd() * 200);
  const b = new Uint8Array(len);
  b.fill(0xff, 0, 16);
  b[16] = len >> 8;
  b[17] = len & 0xff;
  b[18] = 1 + Math.floor(rnd() * 5);
  for (let i = 19; i < len; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Runs one input; returns 'decoded' | 'rejected', or the crash. */
export function checkOne(bytes: Uint8Array, sessionName: string): 'decoded' | 'rejected' | Crash {
  const session = FUZZ_SESSIONS[sessionName]!;
  let decoded;
  try {
    decoded = decodeMessage(bytes, session);
  } catch (e) {
    if (e instanceof BgpMessageError) return 'rejected';
    return { session: sessionName, hex: toHex(bytes), error: `decode threw ${String(e)}` };
  }
  try {
    const again = encodeMessage(decoded.message, session);
    const back = decodeMessage(again, session);
    if (!isDeepStrictEqual(back.message, decoded.message)) {
      return { session: sessionName, hex: toHex(bytes), error: 're-encoded message decodes differently' };
    }
  } catch (e) {
    return { session: sessionName, hex: toHex(bytes), error: `re-encode failed: ${String(e)}` };
  }
  return 'decoded';
}

/** Runs `iterations` inputs (9 in 10 mutated fixtures, 1 in 10 random). */
export function fuzz(options: { iterations: number; seed: number; corpus?: Uint8Array[] }): FuzzStats {
  const rnd = prng(options.seed);
  const corpus = options.corpus ?? seedCorpus();
  const stats: FuzzStats = { inputs: 0, decoded: 0, rejected: 0, crashes: [], elapsedMs: 0, slowestMs: 0 };
  const start = performance.now();
  for (let i = 0; i < options.iterations; i++) {
    const input = rnd() < 0.1 ? randomMessage(rnd) : mutate(corpus[Math.floor(rnd() * corpus.length)]!, rnd);
    const session = SESSION_NAMES[i % SESSION_NAMES.length]!;
    const t0 = performance.now();
    const r = checkOne(input, session);
    const dt = performance.now() - t0;
    if (dt > stats.slowestMs) stats.slowestMs = dt;
    stats.inputs++;
    if (r === 'decoded') stats.decoded++;
    else if (r === 'rejected') stats.rejected++;
    else stats.crashes.push(r);
  }
  stats.elapsedMs = performance.now() - start;
  return stats;
}
