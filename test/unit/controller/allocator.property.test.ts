// Property tests: random sequences of Service adds/updates/removes and pool changes never produce a double
// assignment, an address outside its pool, a sharing violation or wrong counters; and are deterministic.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Allocator } from '../../../controller/allocator.js';
import { parseIP, isBuggyIP } from '../../../config/ip.js';
import { poolServes } from '../../../config/parse.js';
import type { Pool } from '../../../config/types.js';
import type { ServiceRequest } from '../../../controller/request.js';
import { pools, req } from './helpers.js';

// A small universe so that collisions, exhaustion and sharing happen often.
const POOL_SETS: Pool[][] = [
  pools({
    a: { addresses: ['10.0.0.0-10.0.0.3', 'fc00::-fc00::2'] },
    b: { addresses: ['10.0.1.254-10.0.2.1'], avoidBuggyIPs: true },
  }),
  pools({ a: { addresses: ['10.0.0.0-10.0.0.1', 'fc00::-fc00::1'] } }),
  pools({
    a: { addresses: ['10.0.0.2-10.0.0.5'], serviceAllocation: { priority: 1, namespaces: ['ns1'] } },
    c: { addresses: ['10.0.3.0/30'], autoAssign: false },
    d: { addresses: ['fc00::10/126', '10.0.4.0/31'] },
  }),
  pools({
    b: {
      addresses: ['10.0.1.254-10.0.2.1', 'fc00::2-fc00::3'],
      serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: 'web' } }] },
    },
  }),
  [],
];
const IPS = [
  '10.0.0.0',
  '10.0.0.1',
  '10.0.0.2',
  '10.0.1.255',
  '10.0.2.1',
  '10.0.3.1',
  'fc00::',
  'fc00::1',
  'fc00::11',
  '10.9.9.9',
];

const arbReq = fc.record({
  id: fc.integer({ min: 0, max: 7 }),
  ns: fc.constantFrom('ns1', 'ns2'),
  fam: fc.constantFrom<ServiceRequest['families']>([4], [6], [4, 6], [6, 4]),
  policy: fc.constantFrom<ServiceRequest['policy']>('SingleStack', 'PreferDualStack', 'RequireDualStack'),
  requested: fc.option(fc.constantFrom(...IPS), { freq: 3 }),
  pool: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'x'), { freq: 3 }),
  sharingKey: fc.option(fc.constantFrom('k1', 'k2'), { freq: 2 }),
  port: fc.constantFrom(80, 443),
  protocol: fc.constantFrom('TCP', 'UDP'),
  etpLocal: fc.boolean(),
  sel: fc.constantFrom('app=a', 'app=b'),
  tier: fc.constantFrom('web', 'db'),
});
type ArbReq = typeof arbReq extends fc.Arbitrary<infer T> ? T : never;

const arbOp = fc.oneof(
  { weight: 6, arbitrary: arbReq.map((r) => ({ op: 'ensure' as const, r })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 7 }).map((id) => ({ op: 'release' as const, id })) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 0, max: POOL_SETS.length - 1 })
      .map((set) => ({ op: 'pools' as const, set })),
  },
);
type Op = typeof arbOp extends fc.Arbitrary<infer T> ? T : never;

function toReq(r: ArbReq): ServiceRequest {
  const families = r.policy === 'SingleStack' ? r.fam.slice(0, 1) : r.fam;
  const requested =
    r.requested !== null && families.includes(parseIP(r.requested)?.family ?? 4) ? [r.requested] : [];
  return req(`s${r.id}`, {
    key: `svc/s${r.id}`,
    namespace: r.ns,
    labels: { tier: r.tier },
    families,
    policy: r.policy === 'RequireDualStack' && families.length < 2 ? 'SingleStack' : r.policy,
    requestedIPs: r.policy === 'RequireDualStack' && families.length === 2 ? [] : requested,
    pool: r.pool ?? undefined,
    sharingKey: r.sharingKey ?? undefined,
    ports: [{ protocol: r.protocol, port: r.port }],
    etpLocal: r.etpLocal,
    selector: r.sel,
  });
}

function run(ops: Op[]): {
  alloc: Allocator;
  reqs: Map<string, ServiceRequest>;
  current: Pool[];
  trace: string[];
} {
  const alloc = new Allocator(POOL_SETS[0]);
  let current = POOL_SETS[0] as Pool[];
  const reqs = new Map<string, ServiceRequest>();
  const trace: string[] = [];
  for (const op of ops) {
    if (op.op === 'ensure') {
      const r = toReq(op.r);
      const had = alloc.assignment(r.key);
      const res = alloc.ensure(r);
      if (res.ok && res.changed && !had && r.requestedIPs.length === 0 && r.pool === undefined) {
        const p = current.find((x) => x.name === res.assignment.pool);
        assert.ok(p?.autoAssign, `${r.key}: auto-assigned from autoAssign:false pool ${p?.name}`);
      }
      reqs.set(r.key, r);
      trace.push(JSON.stringify(res));
    } else if (op.op === 'release') {
      alloc.release(`svc/s${op.id}`);
      reqs.delete(`svc/s${op.id}`);
      trace.push(`release ${op.id}`);
    } else {
      current = POOL_SETS[op.set] as Pool[];
      trace.push(JSON.stringify([...alloc.setPools(current)]));
      // As the reconciler does after a configuration change: every Service is ensured again.
      for (const key of [...reqs.keys()].sort())
        trace.push(JSON.stringify(alloc.ensure(reqs.get(key) as ServiceRequest)));
    }
    checkInvariants(alloc, reqs, current);
  }
  return { alloc, reqs, current, trace };
}

function inPool(p: Pool, ip: string): boolean {
  const x = parseIP(ip);
  return !!x && p.ranges.some((r) => r.family === x.family && r.first <= x.value && x.value <= r.last);
}

function checkInvariants(alloc: Allocator, reqs: Map<string, ServiceRequest>, current: Pool[]): void {
  const byIP = new Map<string, string[]>();
  for (const [key, r] of reqs) {
    const a = alloc.assignment(key);
    if (!a) continue;
    const pool = current.find((p) => p.name === a.pool);
    assert.ok(pool, `${key} holds ${a.ips} from missing pool ${a.pool}`);
    for (const ip of a.ips) {
      assert.ok(inPool(pool, ip), `${key}: ${ip} outside pool ${pool.name}`);
      const fam = parseIP(ip)?.family ?? 4;
      assert.ok(r.families.includes(fam), `${key}: ${ip} family not wanted`);
      if (pool.avoidBuggyIPs) assert.ok(!isBuggyIP(fam, parseIP(ip)?.value ?? 0n), `${key}: buggy ${ip}`);
      byIP.set(ip, [...(byIP.get(ip) ?? []), key]);
    }
    assert.equal(
      new Set(a.ips.map((ip) => parseIP(ip)?.family)).size,
      a.ips.length,
      `${key}: two IPs of one family`,
    );
    assert.ok(
      poolServes(pool, r.namespace, r.namespaceLabels, r.labels),
      `${key}: pool ${pool.name} does not serve it`,
    );
    if (r.pool !== undefined) assert.equal(a.pool, r.pool);
    if (r.requestedIPs.length) assert.deepEqual([...a.ips].sort(), [...r.requestedIPs].sort());
    // (An address from an autoAssign: false pool is kept when the annotation that chose it goes away:
    // dropping the annotation is no reason to move. Fresh automatic choices are checked below.)
    if (r.policy === 'RequireDualStack') assert.equal(a.ips.length, 2);
  }
  // No double assignment: every address's users pairwise may share it.
  for (const [ip, keys] of byIP) {
    assert.deepEqual([...keys].sort(), alloc.usersOf(ip).sort(), `users of ${ip} disagree`);
    for (let i = 0; i < keys.length; i++)
      for (let j = i + 1; j < keys.length; j++) {
        const x = reqs.get(keys[i] as string) as ServiceRequest;
        const y = reqs.get(keys[j] as string) as ServiceRequest;
        assert.ok(
          x.sharingKey && x.sharingKey === y.sharingKey,
          `${ip} double-assigned to ${x.key} and ${y.key}`,
        );
        assert.equal(x.etpLocal, y.etpLocal, `${ip}: Local and Cluster share`);
        if (x.etpLocal) assert.equal(x.selector, y.selector);
        for (const p of x.ports)
          assert.ok(
            !y.ports.some((q) => q.port === p.port && q.protocol === p.protocol),
            `${ip}: port clash ${x.key} ${y.key}`,
          );
      }
  }
  // Counters: assigned = distinct addresses in use; never above the pool size.
  for (const s of alloc.stats()) {
    for (const f of [4, 6] as const) {
      const used = [...byIP.keys()].filter(
        (ip) => parseIP(ip)?.family === f && alloc.poolFor(ip) === s.pool,
      ).length;
      assert.equal(s.assigned[f], BigInt(used), `pool ${s.pool} IPv${f} counter`);
      assert.ok(s.available[f] >= 0n);
    }
  }
  assert.equal(alloc.assignmentCount, [...reqs.keys()].filter((k) => alloc.assignment(k)).length);
}

describe('allocator properties', () => {
  it('never double-assigns, never leaves a pool, respects sharing and keeps counters exact', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 60 }), (ops) => {
        run(ops);
      }),
      { numRuns: 400 },
    );
  });
  it('is deterministic: the same sequence gives the same results', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 40 }), (ops) => {
        assert.deepEqual(run(ops).trace, run(ops).trace);
      }),
      { numRuns: 150 },
    );
  });
  it('ensure is idempotent: a second ensure with the same request changes nothing', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 30 }), arbReq, (ops, r) => {
        const { alloc } = run(ops);
        const rq = toReq(r);
        const first = alloc.ensure(rq);
        const second = alloc.ensure(rq);
        if (first.ok) {
          assert.ok(second.ok);
          assert.equal(second.changed, false);
          assert.deepEqual(second.assignment, first.assignment);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('a rebuild from assignments (claims in any order of the same set) reproduces them', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 40 }), (ops) => {
        const { alloc, reqs, current } = run(ops);
        const fresh = new Allocator(current);
        for (const [key, r] of reqs) {
          const a = alloc.assignment(key);
          if (a) assert.ok(fresh.claim(r, a.ips).ok, `claim of ${key} ${a.ips}`);
        }
        assert.deepEqual(fresh.stats(), alloc.stats());
      }),
      { numRuns: 200 },
    );
  });
});
