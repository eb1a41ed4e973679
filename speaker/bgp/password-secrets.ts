// The Secrets BGPPeers name in passwordSecret, read by name (never listed, never logged), for the
// configuration parse. A Secret the speaker's Role does not let it read is remembered as such, so the
// error says so instead of "not found". API down is not an outage: what was read stays.
import { ApiError, RESOURCES, resourcePath, type KubeClient } from '../../k8s/client.js';
import type { BGPPeer, SecretObject } from '../../config/types.js';
import type { Log } from './types.js';

interface SecretRead {
  metadata?: { name?: string; namespace?: string };
  type?: string;
  data?: Record<string, string>;
}

/** A BGPPeer as served: only its passwordSecret is read here. */
export interface PeerObj {
  spec?: Record<string, unknown>;
}

export class PasswordSecrets {
  private secrets = new Map<string, SecretObject>();
  /** passwordSecrets the speaker's Role does not let it read (403), by namespace/name. */
  private unreadableKeys = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly log: Log,
  ) {}

  /** The Secrets read, for parseConfig. */
  list(): SecretObject[] {
    return [...this.secrets.values()];
  }

  /** namespace/name of the Secrets the Role does not let us read. */
  unreadable(): ReadonlySet<string> {
    return this.unreadableKeys;
  }

  /** Reads the Secrets `peers` name; true when what the parse would see changed. */
  async refresh(peers: readonly PeerObj[]): Promise<boolean> {
    const wanted = new Set<string>();
    for (const p of peers) {
      const ps = p.spec?.passwordSecret as { name?: unknown; namespace?: unknown } | undefined;
      if (ps && typeof ps.name === 'string' && ps.name)
        wanted.add(
          `${typeof ps.namespace === 'string' && ps.namespace ? ps.namespace : this.namespace}/${ps.name}`,
        );
    }
    let changed = false;
    const next = new Map<string, SecretObject>();
    const unreadable = new Set<string>();
    for (const key of wanted) {
      const [ns, name] = key.split('/') as [string, string];
      try {
        const s = await this.client.get<SecretRead>(resourcePath(RESOURCES.secrets, ns, name));
        next.set(key, {
          metadata: { name, namespace: ns },
          ...(s.type ? { type: s.type } : {}),
          ...(s.data ? { data: s.data } : {}),
        });
      } catch (err) {
        const prev = this.secrets.get(key);
        if (err instanceof ApiError && err.notFound) continue;
        if (err instanceof ApiError && err.status === 403) {
          unreadable.add(key);
          this.log.error(
            { secret: key },
            "the speaker may not read this BGP password Secret: add its name to the speaker Role's secrets resourceNames (deploy/rbac/speaker.yaml)",
          );
          continue;
        }
        // API unreachable: keep what we had (API down is not an outage).
        if (prev) next.set(key, prev);
        this.log.warn(
          { secret: key, err: err instanceof Error ? err.message : String(err) },
          'cannot read BGP password Secret',
        );
      }
    }
    const sig = (m: Map<string, SecretObject>): string =>
      JSON.stringify([...m].map(([k, v]) => [k, v.type, v.data?.password ?? '']));
    if (sig(next) !== sig(this.secrets)) changed = true;
    if ([...unreadable].sort().join() !== [...this.unreadableKeys].sort().join()) changed = true;
    this.secrets = next;
    this.unreadableKeys = unreadable;
    return changed;
  }

  /** A peer's password: inline, or from its Secret (base64 in the Secret's data). */
  password(p: BGPPeer): string | undefined {
    if (p.password) return p.password;
    if (!p.passwordSecret) return undefined;
    const s = this.secrets.get(`${p.passwordSecret.namespace}/${p.passwordSecret.name}`);
    const b64 = s?.data?.password;
    return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
  }
}
