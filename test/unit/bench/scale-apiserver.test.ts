import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiLoad, RESYNC_S } from '../../../bench/scale/apiserver.js';

describe('scale simulation: apiserver load model', () => {
  const base = {
    services: 3600,
    sliceUpdatesPerServiceHour: 1,
    serviceUpdatesPerServiceHour: 1,
    nodeUpdatesPerNodeHour: 3600,
    serviceCreatesPerHour: 0,
    bytes: { service: 1000, slice: 2000, node: 10 },
    bgpFraction: 0,
  };

  it('every speaker receives every Service, EndpointSlice and Node event; the apiserver sends them N times', () => {
    const a = apiLoad({ ...base, nodes: 10 });
    // 1 Service + 1 slice event/s, and 10 Node events/s
    assert.equal(a.eventsPerSpeakerS, 12);
    assert.equal(a.watchBytesPerSpeakerS, 1000 + 2000 + 10 * 10);
    assert.equal(a.eventsTotalS, 120);
    assert.equal(a.relistObjectsTotalS, (10 * (2 * 3600 + 10)) / RESYNC_S);
    assert.equal(a.writesTotalS, 0);
  });

  it('layer 2 writes are the owner’s (4 per created and deleted Service); BGP writes are every node’s', () => {
    const l2 = apiLoad({ ...base, nodes: 100, serviceCreatesPerHour: 3600 });
    assert.equal(l2.writesTotalS, 4);
    assert.equal(l2.writesPerSpeakerS, 0.04);
    const bgp = apiLoad({ ...base, nodes: 100, serviceCreatesPerHour: 3600, bgpFraction: 1 });
    assert.equal(bgp.writesPerSpeakerS, 3);
    assert.equal(bgp.writesTotalS, 300);
    assert.equal(bgp.bgpStatusObjects, 360_000);
  });
});
