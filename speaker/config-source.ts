// The speaker's configuration: watches the metallb.io objects (IPAddressPool and L2Advertisement; with
// BGP on also BGPPeer, BGPAdvertisement, BFDProfile, Community and the password Secrets the peers name)
// and parses them all at once into the one Config model every protocol reads. An invalid
// configuration leaves the last good one in force; the verdict goes into this speaker's
// ConfigurationState, the metrics and the log.
import { Informer, specOrLabelsChanged } from '../k8s/informer.js';
import { logListenerError } from '../k8s/informer-delivery.js';
import { background } from '../k8s/background.js';
import type { KubeClient } from '../k8s/client.js';
import type { Logger } from '../k8s/logger.js';
import { METALLB, configCondition } from '../k8s/status.js';
import { ConfigStatePublisher } from '../k8s/config-state.js';
import { monotonicClock, type Clock } from '../proto/clock.js';
import { parseConfig, summarizeErrors } from '../config/parse.js';
import type { Config, ConfigNode, CRObject } from '../config/types.js';
import { PasswordSecrets } from './bgp/password-secrets.js';
import { Rerun } from '../k8s/rerun.js';
import type { SpeakerMetrics } from './metrics.js';

/** A metallb.io object as served (checked by parseConfig, not trusted). */
interface CrObj {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: Record<string, unknown>;
}

function toCR(list: CrObj[]): CRObject[] {
  return list.flatMap((o) =>
    o.metadata?.name ? [{ ...o, metadata: { ...o.metadata, name: o.metadata.name } }] : [],
  );
}

/** What changed: layer 2 objects and pools ('config'), or BGP objects and their Secrets ('bgp'). */
export type ConfigTrigger = 'config' | 'bgp';

export interface ConfigSourceOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly node: string;
  readonly log: Logger;
  readonly metrics: Pick<SpeakerMetrics, 'configLoaded' | 'configStale'>;
  /** Watch the BGP objects too (false: a speaker with BGP off parses pools and L2Advertisements only). */
  readonly bgp: boolean;
  /** The cluster's Nodes, for the rules MetalLB decides on them (two peers with one address on a node). */
  readonly nodes: () => readonly ConfigNode[];
  /** The configuration in force may have changed (after the caches synced). */
  readonly onChange: (trigger: ConfigTrigger) => void;
  /** Timers: the ConfigurationState write's retries (default monotonicClock). */
  readonly clock?: Clock;
}

export class ConfigSource {
  private readonly informers: Informer<CrObj>[] = [];
  private readonly pools: Informer<CrObj>;
  private readonly l2advs: Informer<CrObj>;
  private readonly bgpInf:
    | { peers: Informer<CrObj>; advs: Informer<CrObj>; bfd: Informer<CrObj>; communities: Informer<CrObj> }
    | undefined;
  /** The BGP password Secrets (read by name), for the parse and the sessions. */
  readonly passwords: PasswordSecrets;
  private config: Config | undefined;
  private lastErrors = '';
  /** This speaker's ConfigurationState (one write at a time, the newest verdict wins). */
  private readonly state: ConfigStatePublisher;
  private secretTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private stopped = false;

  constructor(private readonly o: ConfigSourceOptions) {
    const onListenerError = logListenerError(o.log);
    const inf = (resource: (typeof METALLB)[keyof typeof METALLB], what: string, trigger: ConfigTrigger) => {
      const i = new Informer<CrObj>(o.client, {
        resource,
        namespace: o.namespace,
        onError: (err) => o.log.warn({ err: err.message, resource: what }, 'watch error; retrying'),
        onListenerError,
      });
      for (const ev of ['add', 'delete', 'synced'] as const) i.on(ev, () => this.changed(trigger));
      // status writes (the controller's pool counts) change no configuration
      i.on('update', (obj, old) => specOrLabelsChanged(obj, old) && this.changed(trigger));
      this.informers.push(i);
      return i;
    };
    this.pools = inf(METALLB.ipAddressPools, 'ipaddresspools', 'config');
    this.l2advs = inf(METALLB.l2Advertisements, 'l2advertisements', 'config');
    this.bgpInf = o.bgp
      ? {
          peers: inf(METALLB.bgpPeers, 'bgppeers', 'bgp'),
          advs: inf(METALLB.bgpAdvertisements, 'bgpadvertisements', 'bgp'),
          bfd: inf(METALLB.bfdProfiles, 'bfdprofiles', 'bgp'),
          communities: inf(METALLB.communities, 'communities', 'bgp'),
        }
      : undefined;
    this.passwords = new PasswordSecrets(o.client, o.namespace, o.log);
    this.state = new ConfigStatePublisher({
      client: o.client,
      namespace: o.namespace,
      name: `speaker-${o.node}`,
      spec: { type: 'Speaker', nodeName: o.node },
      clock: o.clock ?? monotonicClock,
      onError: (err, retryInMs) =>
        o.log.warn({ err: err.message, retryInMs }, 'could not write the ConfigurationState; retrying'),
    });
  }

  /** The configuration in force (undefined until one parsed). */
  get current(): Config | undefined {
    return this.config;
  }

  /** Fills the caches and reads the password Secrets (the first parse is `load`'s). */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    if (this.bgpInf) {
      await this.passwords.refresh(this.bgpInf.peers.list());
      // a Secret's password may change without any BGPPeer changing
      this.secretTimer = setInterval(() => this.refreshSecrets(), 30_000);
      this.secretTimer.unref();
    }
  }

  /** Parses for the first time (once every cache of the speaker is filled: the parse reads the Nodes). */
  load(): void {
    this.synced = true;
    this.parse();
  }

  /** The Nodes or their labels changed: the verdict on BGP peers sharing a node may have. */
  nodesChanged(): void {
    if (this.synced && !this.stopped && this.bgpInf) this.parse();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.state.stop();
    if (this.secretTimer) clearInterval(this.secretTimer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private changed(trigger: ConfigTrigger): void {
    if (!this.synced || this.stopped) return;
    this.parse();
    if (trigger === 'bgp') this.refreshSecrets();
    this.o.onChange(trigger);
  }

  /**
   * Reads the peers' password Secrets again. One read at a time (an older read finishing after a newer
   * one would put back what the newer one replaced, e.g. "not found" over "cannot be read"); asked while
   * one runs, it runs once more with the peers as they are then.
   */
  private readonly secretsRead = new Rerun(
    async () => {
      const peers = this.bgpInf?.peers;
      if (!peers) return;
      const changed = await this.passwords.refresh(peers.list());
      if (!changed || !this.synced || this.stopped) return;
      this.parse();
      this.o.onChange('bgp');
    },
    () => this.stopped,
  );

  private refreshSecrets(): void {
    if (!this.bgpInf) return;
    background(this.o.log, 'refresh BGP password Secrets', this.secretsRead.run());
  }

  /** One parse of every object; the verdict to the metrics, the log and the ConfigurationState. */
  private parse(): void {
    const b = this.bgpInf;
    const r = parseConfig({
      ipAddressPools: toCR(this.pools.list()),
      l2Advertisements: toCR(this.l2advs.list()),
      ...(b
        ? {
            bgpAdvertisements: toCR(b.advs.list()),
            bgpPeers: toCR(b.peers.list()),
            bfdProfiles: toCR(b.bfd.list()),
            communities: toCR(b.communities.list()),
            secrets: this.passwords.list(),
            nodes: this.o.nodes(),
          }
        : {}),
    });
    let errorSummary = '';
    if (r.ok) {
      this.config = r.config;
      this.o.metrics.configLoaded.set(1);
      this.o.metrics.configStale.set(0);
    } else {
      // A Secret the Role does not let us read is "not found" to the parse; say what is really wrong.
      errorSummary = summarizeErrors(r.errors);
      for (const key of this.passwords.unreadable())
        errorSummary = errorSummary.replaceAll(
          `Secret ${key} not found`,
          `Secret ${key} cannot be read: the speaker's Role does not allow it (add its name to the resourceNames in deploy/rbac/speaker.yaml, or to the chart's speaker.bgpPasswordSecrets)`,
        );
      this.o.metrics.configStale.set(this.config ? 1 : 0);
      if (errorSummary !== this.lastErrors)
        this.o.log.warn(
          { errors: r.errors.map((e) => e.message) },
          'invalid configuration; the last good one stays in force',
        );
    }
    this.lastErrors = errorSummary;
    this.writeState(errorSummary);
  }

  private writeState(errorSummary: string): void {
    const valid = errorSummary === '';
    background(
      this.o.log,
      'publish ConfigurationState',
      this.state.publish({
        result: valid ? 'Valid' : 'Invalid',
        errorSummary,
        conditions: [configCondition('configReconcilerValid', errorSummary)],
      }),
    );
  }
}
