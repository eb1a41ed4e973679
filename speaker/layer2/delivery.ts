// The I/O shell of the owner's delivery checks (delivery-core.ts decides): a TCP connection from this node
// to VIP:port for each TCP port of each Service it announces — kube-proxy's rules apply to the node's own
// traffic, so a connection means kube-proxy delivers to an endpoint (local or not). What fails is told to
// the other speakers with the health results (membership), and the VIP's prober folds it into
// bollard.io/Verified (reason NotDelivered).
import { connect } from 'node:net';
import { monotonicClock, type Clock, type TimerHandle } from '../../proto/clock.js';
import type { Logger } from '../../k8s/logger.js';
import { DeliveryCore, endpointKey, type DeliveryOptions, type DeliveryTarget } from './delivery-core.js';

/** Connects to ip:port; undefined when it connected, else why not. */
export type Connector = (ip: string, port: number, timeoutMs: number) => Promise<string | undefined>;

export const tcpConnect: Connector = (ip, port, timeoutMs) =>
  new Promise((resolve) => {
    const s = connect({ host: ip, port, timeout: timeoutMs });
    const finish = (why: string | undefined): void => {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.destroy();
      resolve(why);
    };
    s.once('connect', () => finish(undefined));
    s.once('timeout', () => finish(`no answer within ${timeoutMs} ms`));
    s.once('error', (err: NodeJS.ErrnoException) =>
      finish(err.code === 'ECONNREFUSED' ? 'connection refused' : (err.code ?? err.message)),
    );
  });

export interface DeliveryCheckerOptions {
  readonly log: Logger;
  /** The undelivered endpoints changed (tell the other speakers). */
  readonly onChange: () => void;
  readonly connect?: Connector;
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  readonly options?: Partial<DeliveryOptions>;
}

export class DeliveryChecker {
  private readonly core: DeliveryCore;
  private readonly clock: Clock;
  private readonly connect: Connector;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly o: DeliveryCheckerOptions) {
    this.core = new DeliveryCore(o.options);
    this.clock = o.clock ?? monotonicClock;
    this.connect = o.connect ?? tcpConnect;
  }

  setTargets(targets: Iterable<DeliveryTarget>): void {
    this.core.setTargets(targets, this.clock.now());
    this.afterChange();
    this.pump();
  }

  /** These Services' targets only (undefined = no longer checked). */
  updateServices(services: ReadonlyMap<string, DeliveryTarget | undefined>): void {
    const now = this.clock.now();
    for (const [k, t] of services) this.core.setService(k, t, now);
    this.afterChange();
    this.pump();
  }

  /** Service key -> undelivered endpoints with why. */
  undelivered(): Map<string, string[]> {
    return this.core.undelivered();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private afterChange(): void {
    if (!this.core.takeChanged()) return;
    this.o.log.info(
      { undelivered: Object.fromEntries(this.core.undelivered()) },
      'delivery check results changed',
    );
    this.o.onChange();
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    for (const t of this.core.due(now)) this.check(t);
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    const next = this.core.nextDeadline();
    if (next !== undefined) this.timer = this.clock.setTimer(() => this.pump(), Math.max(1, next - now));
  }

  private check(t: DeliveryTarget): void {
    const timeoutMs = this.o.timeoutMs ?? 1000;
    Promise.all(
      t.endpoints.map(async (e) => [endpointKey(e), await this.connect(e.ip, e.port, timeoutMs)] as const),
    ).then(
      (outcomes) => {
        if (this.stopped) return;
        this.core.done(t.service, new Map(outcomes), this.clock.now());
        this.afterChange();
        this.pump();
      },
      (err: unknown) => {
        this.o.log.warn({ service: t.service, err: (err as Error).message }, 'delivery check failed');
        this.core.done(t.service, new Map(), this.clock.now());
        this.pump();
      },
    );
  }
}
