// Plain data shared by the BGP export (pure), the sessions and the speaker.
import type { LargeCommunity } from '../../proto/bgp/attributes.js';

/** One route we announce to one peer: a prefix and the attributes that go with it. */
export interface ExportedRoute {
  /** '192.0.2.10/32', '2001:db8::10/128', or an aggregate ('192.0.2.0/24'). */
  readonly prefix: string;
  /** RFC 1997 communities as 32-bit values, sorted, without duplicates. */
  readonly communities: readonly number[];
  /** RFC 8092 large communities, sorted, without duplicates. */
  readonly largeCommunities: readonly LargeCommunity[];
  /** LOCAL_PREF; only ever set for iBGP peers. */
  readonly localPref?: number;
}

/** Logger shape used by the BGP code (pino-compatible: fields first, then message). */
export interface Log {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export const silentLog: Log = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Stable text key of a route's attributes (for grouping and diffs). */
export function attributeKey(r: ExportedRoute): string {
  const lc = r.largeCommunities.map((c) => `${c.globalAdmin}:${c.localData1}:${c.localData2}`).join(',');
  return `${r.communities.join(',')}|${lc}|${r.localPref ?? ''}`;
}
