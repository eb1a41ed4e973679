// The apiserver load of the speakers, by model (pure arithmetic over stated assumptions).
//
// What each speaker watches and writes is read from the code (speaker/main.ts, speaker/bgp/controller.ts,
// k8s/informer.ts):
//   - layer 2 side, 7 informers: Services, EndpointSlices and Nodes (cluster-wide); IPAddressPools and
//     L2Advertisements (speaker namespace); Secret `memberlist` (by name); its own ServiceL2Status
//     objects (label metallb.io/node=<node>);
//   - BGP side, 6 informers, started in layer 2 only clusters too: BGPPeers, BGPAdvertisements,
//     BFDProfiles, Communities, IPAddressPools (a second watch on them), its own ServiceBGPStatus objects;
//   - every informer re-watches after 300-600 s (watchTimeoutSeconds) and relists everything every
//     10 min (resyncMs), paged, without a resourceVersion (a quorum read from etcd, as the apiserver
//     serves such lists unless its consistent-list-from-cache feature is on);
//   - writes: in layer 2 the owner of a Service writes a ServiceL2Status (create + status patch) and a
//     `nodeAssigned` Event when it gains it, and deletes the status object when it loses it; in BGP
//     every node that announces a Service keeps a ServiceBGPStatus for it (create + status patch, a
//     delete when it stops). Nothing is written when nothing changed.

export interface ApiModelInput {
  nodes: number;
  services: number;
  /** Updates per hour of each Service's EndpointSlices (rollouts, restarts, readiness flips). */
  sliceUpdatesPerServiceHour: number;
  /** Updates per hour of each Service object. */
  serviceUpdatesPerServiceHour: number;
  /** Node object updates per hour per node (kubelet status reports; 12 = every 5 min). */
  nodeUpdatesPerNodeHour: number;
  /** Services created per hour (as many are deleted). */
  serviceCreatesPerHour: number;
  /** Object sizes as the apiserver sends them, bytes. */
  bytes: { service: number; slice: number; node: number };
  /** Fraction of Services announced in BGP mode by every node (the rest in layer 2). */
  bgpFraction: number;
}

export interface ApiModelRow {
  nodes: number;
  /** Watch streams each speaker holds open. */
  watchesPerSpeaker: number;
  /** Watch events each speaker receives, per second. */
  eventsPerSpeakerS: number;
  watchBytesPerSpeakerS: number;
  /** Watch events the apiserver sends to all speakers, per second. */
  eventsTotalS: number;
  watchBytesTotalS: number;
  /** Objects listed per second by all speakers' periodic relists (Services, EndpointSlices, Nodes). */
  relistObjectsTotalS: number;
  relistBytesTotalS: number;
  /** Writes per second by one speaker, by all speakers, for the Service creates and deletes. */
  writesPerSpeakerS: number;
  writesTotalS: number;
  /** ServiceBGPStatus objects stored (one per announcing node per BGP Service). */
  bgpStatusObjects: number;
}

export const SPEAKER_WATCHES = 13;
export const RESYNC_S = 600;

export function apiLoad(m: ApiModelInput): ApiModelRow {
  const n = m.nodes;
  const s = m.services;
  const perHour = 1 / 3600;
  // events every speaker receives: every Service, slice and Node change in the cluster
  const svcEv = s * m.serviceUpdatesPerServiceHour * perHour + 2 * m.serviceCreatesPerHour * perHour;
  const sliceEv = s * m.sliceUpdatesPerServiceHour * perHour + 2 * m.serviceCreatesPerHour * perHour;
  const nodeEv = n * m.nodeUpdatesPerNodeHour * perHour;
  const events = svcEv + sliceEv + nodeEv;
  const bytes = svcEv * m.bytes.service + sliceEv * m.bytes.slice + nodeEv * m.bytes.node;
  const relistObjects = (2 * s + n) / RESYNC_S;
  const relistBytes = (s * (m.bytes.service + m.bytes.slice) + n * m.bytes.node) / RESYNC_S;
  // writes for a create + delete pair: layer 2: owner 3 (status create, patch, Event) + 1 delete;
  // BGP: every node 2 + 1 delete
  const pairsS = m.serviceCreatesPerHour * perHour;
  const l2Writes = pairsS * (1 - m.bgpFraction) * 4;
  const bgpWritesPerNode = pairsS * m.bgpFraction * 3;
  return {
    nodes: n,
    watchesPerSpeaker: SPEAKER_WATCHES,
    eventsPerSpeakerS: events,
    watchBytesPerSpeakerS: bytes,
    eventsTotalS: events * n,
    watchBytesTotalS: bytes * n,
    relistObjectsTotalS: relistObjects * n,
    relistBytesTotalS: relistBytes * n,
    writesPerSpeakerS: l2Writes / n + bgpWritesPerNode,
    writesTotalS: l2Writes + bgpWritesPerNode * n,
    bgpStatusObjects: Math.round(s * m.bgpFraction * n),
  };
}
