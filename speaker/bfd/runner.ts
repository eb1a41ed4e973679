// One BFD session (RFC 5880 asynchronous mode) over UDP: RFC 5881 single-hop (port 3784, TTL 255
// sent, received packets with TTL < 255 dropped by the kernel through IP_MINTTL) or RFC 5883
// multihop (port 4784, the BFDProfile's minimumTtl enforced the same way). The state machine is
// proto/bfd's; this file only moves packets and runs its timers. Sockets that cannot be opened (the
// port taken, the VRF device not there yet) are tried again with backoff until they open or stop().
// With the profile's echoMode on an IPv4 single-hop session, the Echo function runs too (./echo.ts).
import type dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import {
  BFD_MULTIHOP_PORT,
  BFD_SINGLE_HOP_PORT,
  BFD_SOURCE_PORT_MAX,
  BFD_SOURCE_PORT_MIN,
  bfdAdminDown,
  bfdEchoReceive,
  bfdNextWakeup,
  bfdReceive,
  bfdTick,
  createBfdSession,
  decodeBfdControl,
  encodeBfdControl,
  echoDetectionTimeUs,
  encodeBfdEcho,
  type BfdAction,
  type BfdEchoPayload,
  type BfdSession,
} from '../../proto/bfd.js';
import { bindUdp, familyOf, TcpOptionError, type IpFamily } from '../../net/tcp/index.js';
import { Backoff, type BackoffPolicy } from '../../k8s/backoff.js';
import { background } from '../../k8s/background.js';
import type { Clock, TimerHandle } from '../../proto/clock.js';
import type { Log } from '../bgp/types.js';
import { unmapIpv4 } from '../../proto/address.js';
import { ipv4Forwarding } from '../../net/neighbors.js';
import { EchoPort, echoSupported, localAddressToward, type EchoSendResult } from './echo.js';

/** BFDProfile values (MetalLB units: milliseconds). */
export interface BfdSpec {
  readonly receiveIntervalMs: number;
  readonly transmitIntervalMs: number;
  readonly detectMultiplier: number;
  readonly passiveMode: boolean;
  /** Multihop only: lowest TTL accepted. */
  readonly minimumTtl: number;
  /** Run the Echo function (IPv4 single-hop only). */
  readonly echoMode?: boolean;
  /** Our echo transmit interval and the Required Min Echo RX we advertise (MetalLB's echoInterval). */
  readonly echoIntervalMs?: number;
}

export interface BfdRunnerOptions {
  readonly peer: string;
  readonly peerAddress: string;
  readonly localAddress?: string;
  readonly multihop: boolean;
  readonly spec: BfdSpec;
  readonly device?: string;
  readonly log: Log;
  readonly clock: Clock;
  /** Up -> Down: the path is gone. */
  readonly onDown: () => void;
  readonly onUp?: () => void;
  /** Between attempts to open the sockets (default 1 s doubling to 30 s, up to a quarter less at random). */
  readonly retry?: BackoffPolicy;
}

const DEFAULT_RETRY: BackoffPolicy = { initialMs: 1000, maxMs: 30_000, jitter: 0.25 };

type Handler = (msg: Buffer, from: string) => void;

/** Receive sockets are shared per (family, port): one wildcard bind, demultiplexed by source address. */
interface SharedRx {
  socket: Promise<dgram.Socket>;
  handlers: Map<string, Handler>;
}
const receivers = new Map<string, SharedRx>();

function rxKey(family: IpFamily, port: number, minTtl: number, device: string | undefined): string {
  return `${family}|${port}|${minTtl}|${device ?? ''}`;
}

function acquireRx(
  family: IpFamily,
  port: number,
  minTtl: number,
  device: string | undefined,
  peer: string,
  h: Handler,
): SharedRx {
  const key = rxKey(family, port, minTtl, device);
  let rx = receivers.get(key);
  if (!rx) {
    const handlers = new Map<string, Handler>();
    const socket = bindUdp(family === 4 ? '0.0.0.0' : '::', port, {
      minTtl,
      ...(device ? { device } : {}),
      reuseAddr: true,
    }).then((s) => {
      s.on('message', (msg, rinfo) => handlers.get(unmapIpv4(rinfo.address))?.(msg, rinfo.address));
      s.on('error', () => undefined);
      return s;
    });
    const created: SharedRx = { socket, handlers };
    rx = created;
    receivers.set(key, rx);
    // A failed bind is reported by the runner that awaits it; forget it so the next start retries.
    socket.catch(() => {
      if (receivers.get(key) === created) receivers.delete(key);
    });
  }
  rx.handlers.set(peer, h);
  return rx;
}

function releaseRx(
  family: IpFamily,
  port: number,
  minTtl: number,
  device: string | undefined,
  peer: string,
): void {
  const key = rxKey(family, port, minTtl, device);
  const rx = receivers.get(key);
  if (!rx) return;
  rx.handlers.delete(peer);
  if (rx.handlers.size === 0) {
    receivers.delete(key);
    rx.socket.then(
      (s) => s.close(),
      () => undefined,
    );
  }
}

export interface BfdStats {
  up: boolean;
  input: number;
  output: number;
  upEvents: number;
  downEvents: number;
  echoInput: number;
  echoOutput: number;
}

export class BfdRunner {
  private session: BfdSession | undefined;
  private tx: dgram.Socket | undefined;
  private timer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private readonly openBackoff: Backoff;
  private stopped = false;
  private readonly counters = {
    input: 0,
    output: 0,
    upEvents: 0,
    downEvents: 0,
    echoInput: 0,
    echoOutput: 0,
  };
  private echo: EchoPort | undefined;
  private echoSeq = 0;
  private lastEchoProblem: EchoSendResult | undefined;
  /** An echo has come back since the Echo function last became active. */
  private echoReturned = false;
  private readonly family: IpFamily;
  private readonly port: number;
  private readonly minTtl: number;

  constructor(private readonly o: BfdRunnerOptions) {
    this.family = familyOf(o.peerAddress);
    this.port = o.multihop ? BFD_MULTIHOP_PORT : BFD_SINGLE_HOP_PORT;
    this.minTtl = o.multihop ? Math.max(1, Math.min(255, o.spec.minimumTtl)) : 255;
    this.openBackoff = new Backoff(o.retry ?? DEFAULT_RETRY);
  }

  get state(): string {
    return this.session?.state ?? 'Down';
  }

  stats(): BfdStats {
    return { up: this.session?.state === 'Up', ...this.counters };
  }

  /** Whether the sockets are open (false while they are being retried). */
  get open(): boolean {
    return this.tx !== undefined;
  }

  /** Creates the session and opens the sockets; resolves after the first attempt (a failure is retried). */
  async start(): Promise<void> {
    const s = this.o.spec;
    // RFC 5883 §3: no echo over multihop; IPv6 echo is refused by the configuration (as MetalLB does).
    const wanted = s.echoMode === true && !this.o.multihop && this.family === 4;
    const echo = wanted && echoSupported();
    if (wanted && !echo)
      this.o.log.error(
        { peer: this.o.peer },
        'BFD echoMode: the packet socket addon has no "bfd-echo" filter (built before it: run `npm run build:addon`); running without echo',
      );
    const echoUs = (s.echoIntervalMs ?? 50) * 1000;
    if (s.echoMode === true && !echo)
      this.o.log.warn(
        { peer: this.o.peer, multihop: this.o.multihop, family: this.family },
        'BFD echoMode applies to IPv4 single-hop sessions only; running without echo',
      );
    // Advertising a Required Min Echo RX says we loop the peer's echoes: the kernel does, if it forwards.
    const forwarding = echo ? ipv4Forwarding() : undefined;
    if (echo && forwarding !== true)
      this.o.log.warn(
        { peer: this.o.peer },
        "BFD echoMode: IPv4 forwarding is off on this node, so the peer's echoes cannot be looped back; advertising Required Min Echo RX 0 (our own echoes still run)",
      );
    this.session = createBfdSession(
      {
        myDiscriminator: randomInt(1, 0xffffffff),
        desiredMinTxUs: s.transmitIntervalMs * 1000,
        requiredMinRxUs: s.receiveIntervalMs * 1000,
        detectMult: s.detectMultiplier,
        passive: s.passiveMode,
        ...(echo ? { desiredMinEchoTxUs: echoUs } : {}),
        ...(echo && forwarding === true ? { requiredMinEchoRxUs: echoUs } : {}),
      },
      this.o.clock.now(),
      Math.random,
    );
    if (echo) {
      const discr = this.session.config.myDiscriminator;
      this.echo = new EchoPort(this.o.peerAddress, discr, (p) => this.onEcho(p), this.o.localAddress);
    }
    await this.openSockets();
  }

  private async openSockets(): Promise<void> {
    let tx: dgram.Socket;
    try {
      const rx = acquireRx(this.family, this.port, this.minTtl, this.o.device, this.o.peerAddress, (msg) =>
        this.onPacket(msg),
      );
      await rx.socket;
      if (this.echo && !this.echo.local)
        this.echo.setLocalAddress(await localAddressToward(this.o.peerAddress, this.o.device));
      tx = await this.bindTx();
    } catch (e) {
      if (this.stopped) return;
      const retryInMs = this.openBackoff.fail();
      this.o.log.error(
        {
          peer: this.o.peer,
          port: this.port,
          code: e instanceof TcpOptionError ? e.code : undefined,
          err: e instanceof Error ? e.message : String(e),
          attempt: this.openBackoff.failures,
          retryInMs: Math.round(retryInMs),
        },
        'cannot open BFD sockets; trying again',
      );
      this.retryTimer = this.o.clock.setTimer(() => {
        this.retryTimer = undefined;
        background(this.o.log, 'open BFD sockets', this.openSockets(), { peer: this.o.peer });
      }, retryInMs);
      return;
    }
    if (this.stopped) {
      tx.close();
      return;
    }
    this.tx = tx;
    if (this.openBackoff.failures > 0)
      this.o.log.info(
        { peer: this.o.peer, port: this.port, attempts: this.openBackoff.failures + 1 },
        'BFD sockets open',
      );
    this.openBackoff.succeed();
    this.tick();
  }

  private async bindTx(): Promise<dgram.Socket> {
    let last: unknown;
    for (let i = 0; i < 16; i++) {
      const port = randomInt(BFD_SOURCE_PORT_MIN, BFD_SOURCE_PORT_MAX + 1);
      try {
        const sock = await bindUdp(this.o.localAddress ?? (this.family === 4 ? '0.0.0.0' : '::'), port, {
          ttl: 255,
          ...(this.o.device ? { device: this.o.device } : {}),
        });
        sock.on('error', () => undefined);
        return sock;
      } catch (e) {
        last = e;
        if (!(e instanceof TcpOptionError) || e.code !== 'EADDRINUSE') throw e;
      }
    }
    throw last;
  }

  private onPacket(msg: Buffer): void {
    if (!this.session || this.stopped) return;
    this.counters.input++;
    let p;
    try {
      p = decodeBfdControl(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
    } catch {
      return; // RFC 5880 §6.8.6: discard
    }
    const r = bfdReceive(this.session, p, this.o.clock.now(), Math.random);
    this.apply(r.session, r.actions);
  }

  private onEcho(p: BfdEchoPayload): void {
    if (!this.session || this.stopped) return;
    this.counters.echoInput++;
    const now = this.o.clock.now();
    if (!this.echoReturned && this.session.echoTxUs !== undefined) {
      this.echoReturned = true;
      this.o.log.info(
        { peer: this.o.peer, rttMs: Math.round((now * 1000 - p.sentAtUs) / 10) / 100 },
        'BFD echo came back',
      );
    }
    this.session = bfdEchoReceive(this.session, now);
    this.arm();
  }

  private sendEcho(): void {
    if (!this.echo || !this.session) return;
    const payload = encodeBfdEcho({
      discriminator: this.session.config.myDiscriminator,
      sequence: this.echoSeq++,
      sentAtUs: Math.round(this.o.clock.now() * 1000),
    });
    const r = this.echo.send(payload);
    if (r === 'sent') this.counters.echoOutput++;
    // Logged once per kind of problem, not per echo; a missing echo counts toward echo detection.
    if (r !== 'sent' && r !== this.lastEchoProblem)
      this.o.log.warn({ peer: this.o.peer, reason: r, err: this.echo.lastError }, 'cannot send BFD echo');
    this.lastEchoProblem = r === 'sent' ? undefined : r;
  }

  private tick(): void {
    if (!this.session || this.stopped) return;
    const r = bfdTick(this.session, this.o.clock.now(), Math.random);
    this.apply(r.session, r.actions);
  }

  private apply(session: BfdSession, actions: readonly BfdAction[]): void {
    const wasEcho = this.session?.echoTxUs;
    this.session = session;
    if (session.echoTxUs !== undefined && session.echoTxUs !== wasEcho) {
      this.echoReturned = false;
      this.o.log.info(
        {
          peer: this.o.peer,
          intervalMs: session.echoTxUs / 1000,
          detectMs: echoDetectionTimeUs(session) / 1000,
        },
        'BFD echo active',
      );
    }
    for (const a of actions) {
      if (a.type === 'send') this.send(encodeBfdControl(a.packet));
      else if (a.type === 'send-echo') this.sendEcho();
      else {
        this.o.log.info({ peer: this.o.peer, from: a.from, to: a.to, diag: a.diag }, `BFD session ${a.to}`);
        if (a.to === 'Up') {
          this.counters.upEvents++;
          this.o.onUp?.();
        } else if (a.from === 'Up') {
          this.counters.downEvents++;
          this.o.onDown();
        }
      }
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) this.o.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (!this.session || this.stopped) return;
    const at = bfdNextWakeup(this.session);
    const now = this.o.clock.now();
    const ms = at === undefined ? 1000 : Math.max(0, at - now);
    this.timer = this.o.clock.setTimer(() => {
      this.timer = undefined;
      this.tick();
    }, ms);
  }

  private send(bytes: Uint8Array): void {
    if (!this.tx) return;
    this.counters.output++;
    this.tx.send(bytes, this.port, this.o.peerAddress, () => undefined);
  }

  stop(): void {
    if (this.stopped) return;
    if (this.session && this.tx) {
      // Tell the peer we go AdminDown so it does not count it as a failure (RFC 5880 §6.8.16).
      const r = bfdAdminDown(this.session);
      for (const a of r.actions) if (a.type === 'send') this.send(encodeBfdControl(a.packet));
    }
    this.stopped = true;
    if (this.timer !== undefined) this.o.clock.clearTimer(this.timer);
    if (this.retryTimer !== undefined) this.o.clock.clearTimer(this.retryTimer);
    releaseRx(this.family, this.port, this.minTtl, this.o.device, this.o.peerAddress);
    this.echo?.close();
    const tx = this.tx;
    this.tx = undefined;
    if (tx) setTimeout(() => tx.close(), 50).unref();
  }
}
