// Flow handover, the I/O: owns the BOLLARD-FLOWS chain of mangle PREROUTING (both families), keeps
// its content equal to what the pure core (core.ts) decides, and ends windows on time. Errors are
// values: a missing or failing iptables is logged once per cause, counted, and the speaker carries on
// without flow handover (announcing never depends on it). Rules are written synchronously, so a pass
// that gains a VIP has its rules in place before the gratuitous ARP / the route goes out; the legacy
// backend's lock is waited for 1 s at most (a failed write is retried at the next change or pass).
import { spawnSync } from 'node:child_process';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock, TimerHandle } from '../../proto/clock.js';
import type { Logger } from '../../k8s/logger.js';
import {
  INITIAL_FLOWS,
  nextEnd,
  observeLayer2,
  observePeers,
  prune,
  rulesOf,
  type FlowState,
  type L2Owner,
  type PeersView,
} from './core.js';
import { CHAIN, chooseBackend, familyRules, restoreText, type Family, type Runner } from './iptables.js';

export const spawnRunner: Runner = (cmd, args, input) => {
  const r = spawnSync(cmd, args, { input: input ?? '', encoding: 'utf8', timeout: 5000 });
  if (r.error) return { ok: false, stdout: '', error: r.error.message };
  if (r.status !== 0)
    return { ok: false, stdout: r.stdout, error: (r.stderr || `exit ${String(r.status)}`).trim() };
  return { ok: true, stdout: r.stdout };
};

export interface FlowHandoverOptions {
  readonly self: string;
  readonly log: Logger;
  readonly registry: Registry;
  readonly clock: Clock;
  /** How long strays are handed over after a move (the drain time). */
  readonly windowMs: number;
  /** A node's InternalIPs. */
  readonly addressesOf: (node: string) => readonly string[];
  readonly run?: Runner;
}

export class FlowHandover {
  private state: FlowState = INITIAL_FLOWS;
  private peers: PeersView | undefined;
  private readonly run: Runner;
  private readonly bins = new Map<Family, string>();
  /** Families whose chain is installed (the jump from PREROUTING exists). */
  private readonly installed = new Set<Family>();
  private readonly applied = new Map<Family, string>();
  private readonly logged = new Set<string>();
  private timer: { at: number; h: TimerHandle } | undefined;
  private stopped = false;
  private readonly errors: Counter<'cause'>;
  private readonly windows: Gauge;

  constructor(private readonly o: FlowHandoverOptions) {
    this.run = o.run ?? spawnRunner;
    this.errors = new Counter({
      name: 'bollard_speaker_flow_handover_errors_total',
      help: 'Failures to install the flow handover rules (iptables missing or refusing), by cause',
      labelNames: ['cause'],
      registers: [o.registry],
    });
    this.windows = new Gauge({
      name: 'bollard_speaker_flow_handover_windows',
      help: 'VIP and target node pairs this node hands stray TCP packets over to now',
      registers: [o.registry],
    });
  }

  /** Creates the chain (with the drop rule for handed-over copies) and the jump, for both families. */
  start(): void {
    for (const f of [4, 6] as const) {
      const bin = chooseBackend(this.run, f);
      this.bins.set(f, bin);
      this.install(f);
    }
    this.o.log.info(
      { iptables: this.bins.get(4), ip6tables: this.bins.get(6), installed: [...this.installed] },
      'flow handover on',
    );
    this.apply();
  }

  /** Each pass, before the protocols decide: the other speakers as this pass sees them. */
  observe(peers: PeersView, bgpVips: () => readonly string[]): void {
    if (this.stopped) return;
    this.peers = peers;
    this.state = observePeers(this.state, peers, bgpVips, this.o.clock.now(), this.o.windowMs);
    this.apply();
  }

  /** Layer 2's decisions of `keys` (all when undefined), before its announcements change. */
  layer2(decided: ReadonlyMap<string, L2Owner>, keys?: Iterable<string>): void {
    if (this.stopped || !this.peers) return;
    this.state = observeLayer2(this.state, this.peers, decided, keys, this.o.clock.now(), this.o.windowMs);
    this.apply();
  }

  /** The handover rules now (VIP -> target nodes), for tests and diagnostics. */
  rules(): Map<string, string[]> {
    return rulesOf(this.state);
  }

  /**
   * Stops handing over. The chain keeps its first rule (drop handed-over copies of flows this node
   * does not know): while this speaker restarts, the others' copies must not be answered with a reset.
   */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimer(this.timer.h);
    this.timer = undefined;
    this.state = INITIAL_FLOWS;
    this.apply(true);
  }

  /** Removes the chain and the jump (flow handover turned off). */
  static remove(run: Runner = spawnRunner): void {
    for (const f of [4, 6] as const) {
      const bin = chooseBackend(run, f);
      while (run(bin, ['-w', '1', '-t', 'mangle', '-D', 'PREROUTING', '-j', CHAIN]).ok) {
        /* every jump */
      }
      run(bin, ['-w', '1', '-t', 'mangle', '-F', CHAIN]);
      run(bin, ['-w', '1', '-t', 'mangle', '-X', CHAIN]);
    }
  }

  private fail(cause: string, err: string | undefined): void {
    this.errors.inc({ cause });
    if (this.logged.has(cause)) return;
    this.logged.add(cause);
    this.o.log.warn(
      { cause, err: err ?? 'unknown' },
      'flow handover rules not installed; announcing goes on without flow handover',
    );
  }

  private install(f: Family): void {
    const bin = this.bins.get(f) ?? (f === 4 ? 'iptables' : 'ip6tables');
    const r = this.run(`${bin}-restore`, ['-w', '1', '--noflush'], restoreText(f, []));
    if (!r.ok) return this.fail(`install-ipv${f}`, r.error);
    if (!this.run(bin, ['-w', '1', '-t', 'mangle', '-C', 'PREROUTING', '-j', CHAIN]).ok) {
      const ins = this.run(bin, ['-w', '1', '-t', 'mangle', '-I', 'PREROUTING', '1', '-j', CHAIN]);
      if (!ins.ok) return this.fail(`jump-ipv${f}`, ins.error);
    }
    this.installed.add(f);
    this.applied.set(f, restoreText(f, []));
  }

  private apply(final = false): void {
    if (!final && this.peers) this.state = prune(this.state, this.peers, this.o.clock.now());
    const rules = rulesOf(this.state);
    let pairs = 0;
    for (const ts of rules.values()) pairs += ts.length;
    this.windows.set(pairs);
    for (const f of this.installed) {
      const text = restoreText(f, familyRules(f, rules, this.o.addressesOf));
      if (this.applied.get(f) === text) continue;
      const r = this.run(`${this.bins.get(f) ?? 'iptables'}-restore`, ['-w', '1', '--noflush'], text);
      if (!r.ok) {
        this.applied.delete(f);
        this.fail(`apply-ipv${f}`, r.error);
        continue;
      }
      this.applied.set(f, text);
      this.o.log.info(
        {
          family: `ipv${f}`,
          rules: Object.fromEntries([...rules].filter(([v]) => v.includes(':') === (f === 6))),
        },
        'flow handover rules',
      );
    }
    if (!final) this.wake();
  }

  /** A timer for the next window's end. */
  private wake(): void {
    const at = nextEnd(this.state);
    if (this.timer?.at === at) return;
    if (this.timer) this.o.clock.clearTimer(this.timer.h);
    this.timer = undefined;
    if (at === undefined) return;
    const now = this.o.clock.now();
    this.timer = {
      at,
      h: this.o.clock.setTimer(
        () => {
          this.timer = undefined;
          if (!this.stopped) this.apply();
        },
        Math.max(0, at - now) + 1,
      ),
    };
  }
}
