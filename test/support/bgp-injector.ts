// A misbehaving BGP peer: a raw TCP client that connects to a speaker and, per scenario, sends a
// malformed OPEN, header or UPDATE (or a flood of UPDATEs), then reports what the speaker answered,
// read off the wire: the NOTIFICATION's code/subcode, whether it closed the connection, and whether the
// session kept running when the RFC says it must. "Kept running" is proven by an answer, not by a quiet
// while: after the tolerated message the injector sends a ROUTE-REFRESH, and the speaker, which reads
// a connection's messages in order, answers it by sending its routes again only if the session is
// still up once it has dealt with the message before.
// Messages are built here byte by byte (not with proto/, the code under test).
//
// Run inside a network namespace (the peer's address must be the one the speaker expects):
//   node dist/test/support/bgp-injector.js '{"target":"10.78.0.11","asn":64512,"speakerAsn":64513,
//        "routerId":"10.78.0.1","scenarios":["open-version", ...]}'
// prints one JSON line per scenario ({"scenario", "notification"?, "closed", "keepalives", …}).
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface InjectorArgs {
  target: string;
  port?: number;
  /** The injector's ASN (what the speaker expects of this peer). */
  asn: number;
  /** The speaker's ASN (for iBGP/eBGP; unused on the wire except for sanity). */
  speakerAsn: number;
  routerId: string;
  scenarios: string[];
  /** UPDATEs in the flood scenario (default 20000). */
  floodCount?: number;
}

export interface ScenarioResult {
  scenario: string;
  notification?: { code: number; subcode: number; data: string };
  /** The speaker closed the connection. */
  closed: boolean;
  /** KEEPALIVEs received after the offending message. */
  keepalives: number;
  /** The speaker answered the ROUTE-REFRESH sent after the offending message (UPDATEs came after it). */
  refreshed: boolean;
  /** Messages the injector sent in the scenario's payload. */
  sent: number;
  error?: string;
  ms: number;
}

/** What the RFCs require of the speaker for each scenario. */
export const EXPECTED: Record<string, { notification: [number, number] } | { staysUp: true }> = {
  // RFC 4271 §6.1: message header errors
  'bad-marker': { notification: [1, 1] },
  'short-length': { notification: [1, 2] },
  'bad-type': { notification: [1, 3] },
  oversized: { notification: [1, 2] },
  // RFC 4271 §6.2: OPEN errors
  'open-version': { notification: [2, 1] },
  'open-bad-as': { notification: [2, 2] },
  'open-bad-id': { notification: [2, 3] },
  'open-unsupported-param': { notification: [2, 4] },
  'open-hold-1': { notification: [2, 6] },
  // RFC 6608: an UPDATE before the OPEN
  'update-in-opensent': { notification: [5, 1] },
  // RFC 4271 §6.3 / RFC 7606 §4: the attribute list cannot be parsed → session reset
  'update-attr-overrun': { notification: [3, 1] },
  // RFC 4271 §6.3: unrecognized well-known attribute
  'update-unknown-wellknown': { notification: [3, 2] },
  // RFC 4271 §5 / §9: an unknown optional transitive attribute is accepted
  'update-unknown-optional': { staysUp: true },
  // RFC 7606 §7.1: ORIGIN with a bad length → treat-as-withdraw
  'update-bad-origin-len': { staysUp: true },
  // RFC 7606 §3.d: a missing NEXT_HOP with NLRI → treat-as-withdraw
  'update-missing-nexthop': { staysUp: true },
  // RFC 7606 §3.c: wrong flags on a known attribute → treat-as-withdraw (MED)
  'update-bad-med-flags': { staysUp: true },
  // many valid UPDATEs at once
  'update-flood': { staysUp: true },
};

const MARKER = Buffer.alloc(16, 0xff);

function msg(type: number, body: Buffer, lengthOverride?: number, marker: Buffer = MARKER): Buffer {
  const h = Buffer.alloc(19);
  marker.copy(h, 0);
  h.writeUInt16BE(lengthOverride ?? 19 + body.length, 16);
  h.writeUInt8(type, 18);
  return Buffer.concat([h, body]);
}

function ipv4(s: string): Buffer {
  return Buffer.from(s.split('.').map(Number));
}

interface OpenOpts {
  version?: number;
  asn: number;
  hold?: number;
  id: string;
  extraParam?: Buffer;
}

function open(o: OpenOpts): Buffer {
  const caps = Buffer.concat([
    Buffer.from([1, 4, 0, 1, 0, 1]), // MP IPv4 unicast
    Buffer.from([2, 0]), // route refresh (RFC 2918)
    Buffer.from([65, 4]),
    Buffer.from([(o.asn >>> 24) & 0xff, (o.asn >>> 16) & 0xff, (o.asn >>> 8) & 0xff, o.asn & 0xff]),
  ]);
  const params = Buffer.concat([Buffer.from([2, caps.length]), caps, o.extraParam ?? Buffer.alloc(0)]);
  const body = Buffer.alloc(10);
  body.writeUInt8(o.version ?? 4, 0);
  body.writeUInt16BE(o.asn > 0xffff ? 23456 : o.asn, 1);
  body.writeUInt16BE(o.hold ?? 3, 3);
  ipv4(o.id).copy(body, 5);
  body.writeUInt8(params.length, 9);
  return msg(1, Buffer.concat([body, params]));
}

const KEEPALIVE = msg(4, Buffer.alloc(0));
/** ROUTE-REFRESH for IPv4 unicast (RFC 2918). */
const ROUTE_REFRESH = msg(5, Buffer.from([0, 1, 0, 1]));

function attr(flags: number, type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

const ORIGIN = attr(0x40, 1, Buffer.from([0]));
const asPath = (asn: number): Buffer =>
  attr(
    0x40,
    2,
    Buffer.from([2, 1, (asn >>> 24) & 0xff, (asn >>> 16) & 0xff, (asn >>> 8) & 0xff, asn & 0xff]),
  );
const nextHop = (ip: string): Buffer => attr(0x40, 3, ipv4(ip));

function update(
  attrs: Buffer,
  nlri: Buffer,
  withdrawn: Buffer = Buffer.alloc(0),
  attrLenOverride?: number,
): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(withdrawn.length, 0);
  const wl = Buffer.concat([b.subarray(0, 2), withdrawn]);
  const al = Buffer.alloc(2);
  al.writeUInt16BE(attrLenOverride ?? attrs.length, 0);
  return msg(2, Buffer.concat([wl, al, attrs, nlri]));
}

const prefix32 = (i: number): Buffer => Buffer.from([32, 198, 18, (i >>> 8) & 0xff, i & 0xff]);

/** A connection that splits the speaker's byte stream into BGP messages. */
class Wire {
  private buf = Buffer.alloc(0);
  readonly messages: { type: number; body: Buffer }[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 19) {
        const len = this.buf.readUInt16BE(16);
        if (len < 19 || this.buf.length < len) break;
        this.messages.push({ type: this.buf.readUInt8(18), body: this.buf.subarray(19, len) });
        this.buf = this.buf.subarray(len);
      }
      this.wake();
    });
    const end = (): void => {
      this.closed = true;
      this.wake();
    };
    sock.on('close', end);
    sock.on('error', end);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `pred` holds (checked on every message and on close) or `ms` passes; returns whether it held. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left); // the deadline only: messages and the close wake it
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  count(type: number, from = 0): number {
    return this.messages.slice(from).filter((m) => m.type === type).length;
  }

  notification(): ScenarioResult['notification'] {
    const n = this.messages.find((m) => m.type === 3);
    if (!n) return undefined;
    return {
      code: n.body.readUInt8(0),
      subcode: n.body.readUInt8(1),
      data: n.body.subarray(2).toString('hex'),
    };
  }

  async write(b: Buffer): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.sock.write(b, () => resolve()));
  }
}

async function dial(host: string, port: number, deadlineMs: number): Promise<Wire> {
  const deadline = Date.now() + deadlineMs;
  let last = '';
  while (Date.now() < deadline) {
    const sock = await new Promise<Socket | undefined>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => resolve(s));
      s.once('error', (e) => {
        last = e.message;
        resolve(undefined);
      });
    });
    if (sock) {
      sock.setNoDelay(true);
      const w = new Wire(sock);
      // the speaker answers an accepted connection with its OPEN; a rejected one is closed
      if (await w.until(() => w.count(1) > 0 || w.closed, 30_000)) {
        if (w.count(1) > 0) return w;
      }
      sock.destroy();
    }
    await new Promise((r) => setTimeout(r, 200)); // retry delay: the speaker may not be dialable yet
  }
  throw new Error(`no OPEN from ${host}:${port} (${last || 'connection closed'})`);
}

async function runScenario(a: InjectorArgs, scenario: string): Promise<ScenarioResult> {
  const t0 = Date.now();
  const port = a.port ?? 179;
  const w = await dial(a.target, port, 30_000);
  const good = open({ asn: a.asn, id: a.routerId });
  let sent = 0;
  const send = async (b: Buffer): Promise<void> => {
    sent++;
    await w.write(b);
  };
  const establish = async (): Promise<void> => {
    await w.write(good);
    await w.write(KEEPALIVE);
    if (!(await w.until(() => w.count(4) > 0 || w.closed, 10_000)))
      throw new Error('no KEEPALIVE after OPEN');
    if (w.closed) throw new Error(`closed during OPEN exchange: ${JSON.stringify(w.notification())}`);
  };
  const route = update(Buffer.concat([ORIGIN, asPath(a.asn), nextHop(a.routerId)]), prefix32(1));
  switch (scenario) {
    case 'bad-marker':
      await send(msg(1, Buffer.alloc(10), undefined, Buffer.alloc(16, 0)));
      break;
    case 'short-length':
      await send(msg(4, Buffer.alloc(0), 18));
      break;
    case 'bad-type':
      await establish();
      await send(msg(42, Buffer.alloc(0)));
      break;
    case 'oversized': {
      await establish();
      // 5000 bytes without the extended message capability (RFC 8654): the limit is 4096
      const attrs = Buffer.concat([ORIGIN, asPath(a.asn), nextHop(a.routerId)]);
      const nlri = Buffer.concat(Array.from({ length: 1000 }, (_, i) => prefix32(i)));
      await send(update(attrs, nlri));
      break;
    }
    case 'open-version':
      await send(open({ asn: a.asn, id: a.routerId, version: 3 }));
      break;
    case 'open-bad-as':
      await send(open({ asn: a.asn + 1, id: a.routerId }));
      break;
    case 'open-bad-id':
      await send(open({ asn: a.asn, id: '0.0.0.0' }));
      break;
    case 'open-unsupported-param':
      await send(open({ asn: a.asn, id: a.routerId, extraParam: Buffer.from([7, 2, 0, 0]) }));
      break;
    case 'open-hold-1':
      await send(open({ asn: a.asn, id: a.routerId, hold: 1 }));
      break;
    case 'update-in-opensent':
      await send(route);
      break;
    case 'update-attr-overrun':
      await establish();
      await send(
        update(Buffer.concat([ORIGIN, asPath(a.asn), nextHop(a.routerId)]), Buffer.alloc(0), undefined, 200),
      );
      break;
    case 'update-unknown-wellknown':
      await establish();
      await send(
        update(
          Buffer.concat([
            ORIGIN,
            asPath(a.asn),
            nextHop(a.routerId),
            attr(0x40, 240, Buffer.from([1, 2, 3])),
          ]),
          prefix32(2),
        ),
      );
      break;
    case 'update-unknown-optional':
      await establish();
      await send(
        update(
          Buffer.concat([
            ORIGIN,
            asPath(a.asn),
            nextHop(a.routerId),
            attr(0xc0, 241, Buffer.from([1, 2, 3])),
          ]),
          prefix32(3),
        ),
      );
      break;
    case 'update-bad-origin-len':
      await establish();
      await send(
        update(
          Buffer.concat([attr(0x40, 1, Buffer.from([0, 0])), asPath(a.asn), nextHop(a.routerId)]),
          prefix32(4),
        ),
      );
      break;
    case 'update-missing-nexthop':
      await establish();
      await send(update(Buffer.concat([ORIGIN, asPath(a.asn)]), prefix32(5)));
      break;
    case 'update-bad-med-flags':
      await establish();
      // MED is optional non-transitive (0x80); sent as well-known transitive (0x40)
      await send(
        update(
          Buffer.concat([
            ORIGIN,
            asPath(a.asn),
            nextHop(a.routerId),
            attr(0x40, 4, Buffer.from([0, 0, 0, 5])),
          ]),
          prefix32(6),
        ),
      );
      break;
    case 'update-flood': {
      await establish();
      const n = a.floodCount ?? 20_000;
      const attrs = Buffer.concat([ORIGIN, asPath(a.asn), nextHop(a.routerId)]);
      const chunk: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        // announce, and every other message withdraw the previous prefix
        chunk.push(
          i % 2 === 0
            ? update(attrs, prefix32(i))
            : update(Buffer.alloc(0), Buffer.alloc(0), prefix32(i - 1)),
        );
        if (chunk.length === 500) {
          sent += chunk.length;
          await w.write(Buffer.concat(chunk.splice(0)));
        }
      }
      sent += chunk.length;
      await w.write(Buffer.concat(chunk));
      break;
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
  const mark = w.messages.length;
  const expected = EXPECTED[scenario];
  let refreshed = false;
  if (expected && 'notification' in expected) {
    await w.until(() => w.closed, 60_000);
  } else {
    // The session must stay up. Ask for the routes again: an UPDATE after the ROUTE-REFRESH is the
    // speaker's answer, given after it dealt with everything sent before (a reset would have sent a
    // NOTIFICATION and closed instead). Our KEEPALIVEs keep the 3 s hold time meanwhile (a protocol
    // timer, not a wait).
    const ka = setInterval(() => {
      // write() settles even once the speaker has closed the session (w.until sees the close).
      w.write(KEEPALIVE).catch(() => undefined);
    }, 1000);
    await w.write(ROUTE_REFRESH);
    const asked = w.messages.length;
    refreshed = await w.until(() => w.count(2, asked) > 0 || w.closed, 120_000);
    refreshed = refreshed && !w.closed && w.count(2, asked) > 0;
    clearInterval(ka);
  }
  const res: ScenarioResult = {
    scenario,
    ...(w.notification() ? { notification: w.notification() } : {}),
    closed: w.closed,
    keepalives: w.count(4, mark),
    refreshed,
    sent,
    ms: Date.now() - t0,
  };
  w.sock.destroy();
  return res;
}

export async function inject(a: InjectorArgs, out: (r: ScenarioResult) => void): Promise<void> {
  for (const s of a.scenarios) {
    try {
      out(await runScenario(a, s));
    } catch (err) {
      out({
        scenario: s,
        closed: true,
        keepalives: 0,
        refreshed: false,
        sent: 0,
        error: (err as Error).message,
        ms: 0,
      });
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const a = JSON.parse(process.argv[2] ?? '{}') as InjectorArgs;
  await inject(a, (r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
