// Property tests: arbitrary valid BGP value -> encode -> decode -> the same value, and the bytes
// re-encode identically.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_SESSION,
  decodeMessage,
  encodeMessage,
  makeOpen,
  type BgpMessage,
  type OpenMessage,
  type SessionParams,
} from '../../../proto/bgp/index.js';
import { capability, ipv4, plain, session, u16, u8, update } from './arbitraries.js';

function roundTrip(m: BgpMessage, s: SessionParams): void {
  const bytes = encodeMessage(m, s);
  const d = decodeMessage(bytes, s);
  assert.deepEqual(d.problems, []);
  assert.deepEqual(d.message, plain(m));
  assert.deepEqual(encodeMessage(d.message, s), bytes);
}

describe('BGP round trips (fast-check)', () => {
  it('UPDATE with every attribute type, 2- and 4-octet AS, ADD-PATH, in any order', () => {
    fc.assert(
      fc.property(
        session.chain((s) => update(s).map((u) => [s, u] as const)),
        ([s, u]) => roundTrip(u, s),
      ),
      { numRuns: 400 },
    );
  });

  it('OPEN with any capabilities, one parameter or one per capability, RFC 9072 form on request', () => {
    const open = fc
      .record({
        myAs: u16,
        holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
        bgpId: ipv4.filter((x) => x !== '0.0.0.0'),
        capabilities: fc.array(capability, { maxLength: 6 }),
        split: fc.boolean(),
        extended: fc.boolean(),
      })
      .map((r): OpenMessage => {
        const base: OpenMessage = {
          type: 'open',
          version: 4,
          myAs: r.myAs,
          holdTime: r.holdTime,
          bgpId: r.bgpId,
          capabilities: r.capabilities,
        };
        const split =
          r.split && r.capabilities.length > 1
            ? { capabilitiesPerParameter: r.capabilities.map(() => 1) }
            : {};
        return { ...base, ...split, ...(r.extended ? { extendedParameters: true } : {}) };
      });
    fc.assert(
      fc.property(open, (o) => roundTrip(o, DEFAULT_SESSION)),
      { numRuns: 400 },
    );
  });

  it('OPEN too big for 255 octets of parameters uses RFC 9072 and decodes back', () => {
    const caps = Array.from({ length: 80 }, (_, i) => ({ type: 'multiprotocol' as const, afi: i, safi: 1 }));
    const o = makeOpen({ asn: 4200000000, bgpId: '192.0.2.1', holdTime: 90, capabilities: caps });
    const bytes = encodeMessage(o, DEFAULT_SESSION);
    assert.equal(bytes[28], 255); // Non-Ext OP Len
    assert.equal(bytes[29], 255); // Non-Ext OP Type
    roundTrip(o, DEFAULT_SESSION);
  });

  it('NOTIFICATION, KEEPALIVE, ROUTE-REFRESH (normal, BoRR, EoRR, with ORF octets)', () => {
    const notification = fc.record({
      type: fc.constant('notification' as const),
      code: u8,
      subcode: u8,
      data: fc.uint8Array({ maxLength: 200 }),
    });
    const rr = fc
      .record({
        afi: u16,
        safi: u8,
        subtype: u8,
        orf: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined }),
      })
      .map(({ afi, safi, subtype, orf }) => {
        const base = { type: 'routeRefresh' as const, afi, safi, subtype };
        return orf && subtype !== 1 && subtype !== 2 ? { ...base, orf } : base;
      });
    const msg = fc.oneof(notification, rr, fc.constant({ type: 'keepalive' as const }));
    fc.assert(
      fc.property(msg, session, (m, s) => roundTrip(m, s)),
      { numRuns: 300 },
    );
  });
});
