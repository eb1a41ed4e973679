// The speaker's side of membership: starts the agent (on a thread of its own) once the memberlist key
// and the Nodes are known, keeps its key and peers current, and turns what it reports into what the
// passes need: which nodes are alive, which were lost, and the health results other speakers share.
// Until membership runs (no key yet, or off), liveness comes from the Node Ready condition.
import type { Logger } from '../../k8s/logger.js';
import type { MembershipView } from '../protocol.js';
import type { MembershipHandle } from './agent.js';
import type { MembershipOptions } from './messages.js';
import { ThreadedMembership } from './threaded.js';

export interface MembershipLinkOptions {
  readonly self: string;
  readonly port: number;
  readonly options?: Partial<MembershipOptions>;
  readonly log: Logger;
  /** The shared key (the memberlist Secret), undefined while there is none. */
  readonly key: () => Buffer | undefined;
  /** Where the key comes from, for the log (objRef of the Secret). */
  readonly keySource: Record<string, unknown>;
  /** Node name -> address, of every speaker's node. */
  readonly peers: () => Map<string, string>;
  /** This node's health results, handed to the agent when it starts. */
  readonly healthy: () => ReadonlySet<string>;
  /** The agent started (for metrics). */
  readonly onStarted: (agent: MembershipHandle) => void;
  /** The set of live nodes changed; `lost` were alive before. */
  readonly onLiveChange: (lost: ReadonlySet<string>) => void;
  /** Another speaker's health results changed. */
  /** `nodes`' health results (and facts) changed. */
  readonly onHealth: (nodes: readonly string[]) => void;
}

export class MembershipLink implements MembershipView {
  private agent: MembershipHandle | undefined;
  private starting = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: MembershipLinkOptions) {}

  /** What the passes read, while the agent runs. */
  view(): MembershipView | undefined {
    return this.agent ? this : undefined;
  }

  get live(): ReadonlySet<string> {
    return this.agent?.liveNodes() ?? new Set();
  }

  healthOf(node: string): ReadonlySet<string> | undefined {
    return this.agent?.healthOf(node);
  }

  setHealth(healthy: ReadonlySet<string>): void {
    this.agent?.setHealth(healthy);
  }

  /** The key or the Nodes may have changed: start the agent, or give it the new key and peers. */
  sync(): void {
    if (this.stopped) return;
    const key = this.o.key();
    if (!key) {
      if (!this.agent)
        this.o.log.warn(this.o.keySource, 'no membership key yet; liveness from Node Ready until it exists');
      return;
    }
    if (this.agent) {
      this.agent.setKey(key);
      this.agent.setPeers(this.o.peers());
      return;
    }
    if (this.starting) return;
    this.starting = true;
    // on a thread of its own: stalls of this thread (passes, garbage collection) delay no ping or ack
    const a = new ThreadedMembership({
      self: this.o.self,
      port: this.o.port,
      key,
      ...(this.o.options ? { options: this.o.options } : {}),
      onError: (err) => this.o.log.warn({ err: err.message }, 'membership error'),
    });
    // alive <-> suspect changes nothing (a suspect still counts as alive): log it, decide nothing
    let lastLive = '';
    let lastLiveNodes: ReadonlySet<string> = new Set();
    a.on('change', (changes) => {
      const liveNodes = a.liveNodes();
      const live = [...liveNodes].sort().join(',');
      this.o.log.info({ changes, live }, 'membership changed');
      if (live === lastLive) return;
      const lost = new Set([...lastLiveNodes].filter((n) => !liveNodes.has(n)));
      lastLive = live;
      lastLiveNodes = liveNodes;
      this.o.onLiveChange(lost);
    });
    a.on('health', (nodes) => this.o.onHealth(nodes));
    a.start()
      .then(() => {
        if (this.stopped) {
          a.stop();
          return;
        }
        this.agent = a;
        this.o.onStarted(a);
        const peers = this.o.peers();
        a.setPeers(peers);
        a.setHealth(this.o.healthy());
        this.o.log.info({ port: this.o.port, peers: peers.size }, 'membership started');
        this.o.onLiveChange(new Set());
      })
      .catch((err: Error) => {
        this.starting = false;
        this.o.log.error({ err: err.message }, 'membership could not start; retrying');
        this.retry = setTimeout(() => this.sync(), 2000);
        this.retry.unref();
      });
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.agent?.stop();
  }
}
