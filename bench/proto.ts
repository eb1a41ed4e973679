// `npm run bench -- proto`: BGP UPDATE decode/encode rates and packing of 10,000 /32 and /128 routes.
import {
  IPV4_UNICAST,
  IPV6_UNICAST,
  decodeMessage,
  encodeMessage,
  packUpdates,
  parseCommunity,
  parsePrefix,
  type PathAttribute,
  type SessionParams,
  type UpdateMessage,
} from '../proto/bgp/index.js';

const S: SessionParams = {
  fourOctetAs: true,
  extendedMessages: false,
  families: [IPV4_UNICAST, IPV6_UNICAST],
  addPath: [],
};
const ATTRS: PathAttribute[] = [
  { type: 'origin', origin: 'igp' },
  { type: 'asPath', segments: [{ type: 'sequence', asns: [64512] }] },
  { type: 'communities', communities: [parseCommunity('64512:100'), parseCommunity('no-export')] },
  { type: 'largeCommunities', communities: [{ globalAdmin: 64512, localData1: 1, localData2: 2 }] },
];

function time<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

/** Runs `f` repeatedly for about `budgetMs` and returns runs per second. */
function rate(f: () => void, budgetMs = 1500): { perSecond: number; runs: number } {
  for (let i = 0; i < 200; i++) f(); // warm-up
  let runs = 0;
  const t0 = performance.now();
  let now = t0;
  while (now - t0 < budgetMs) {
    for (let i = 0; i < 50; i++) f();
    runs += 50;
    now = performance.now();
  }
  return { perSecond: runs / ((now - t0) / 1000), runs };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export async function run(_args: string[]): Promise<void> {
  const v4 = Array.from({ length: 10_000 }, (_, i) => parsePrefix(`10.${(i >> 8) & 255}.${i & 255}.1/32`));
  const v6 = Array.from({ length: 10_000 }, (_, i) => parsePrefix(`2001:db8::${i.toString(16)}/128`));

  const p4 = time(() =>
    packUpdates({ attributes: ATTRS, ipv4NextHop: '192.0.2.1', announce: v4, withdraw: [] }, S),
  );
  const e4 = time(() => p4.value.map((u) => encodeMessage(u, S)));
  const p6 = time(() =>
    packUpdates(
      {
        attributes: ATTRS,
        ipv6NextHop: { global: '2001:db8::1', linkLocal: 'fe80::1' },
        announce: v6,
        withdraw: [],
      },
      S,
    ),
  );
  const e6 = time(() => p6.value.map((u) => encodeMessage(u, S)));
  const w6 = time(() => packUpdates({ attributes: [], announce: [], withdraw: v6 }, S));
  console.log('packing (one attribute set, 4096-octet UPDATEs):');
  console.log(
    `  10,000 /32  -> ${p4.value.length} UPDATEs; pack ${p4.ms.toFixed(1)} ms + encode ${e4.ms.toFixed(1)} ms`,
  );
  console.log(
    `  10,000 /128 -> ${p6.value.length} UPDATEs; pack ${p6.ms.toFixed(1)} ms + encode ${e6.ms.toFixed(1)} ms`,
  );
  console.log(`  10,000 /128 withdrawn -> ${w6.value.length} UPDATEs; pack ${w6.ms.toFixed(1)} ms`);

  // Typical UPDATEs: one prefix with a realistic attribute set; and full 4 KiB UPDATEs.
  const small: UpdateMessage = {
    type: 'update',
    withdrawn: [],
    attributes: [...ATTRS, { type: 'nextHop', nextHop: '192.0.2.1' }, { type: 'med', med: 10 }],
    nlri: [parsePrefix('198.51.100.0/24')],
  };
  const smallBytes = encodeMessage(small, S);
  const full4 = encodeMessage(p4.value[0]!, S);
  const full6 = encodeMessage(p6.value[0]!, S);
  const n4 = p4.value[0]!.nlri.length;
  const n6 = p6.value[0]!.attributes.find((a) => a.type === 'mpReach');
  const n6count = n6 && n6.type === 'mpReach' ? n6.nlri.length : 0;
  console.log('decode (UPDATE bytes -> values, RFC 7606 checks included):');
  const cases: [string, Uint8Array, number, UpdateMessage][] = [
    [`1-prefix UPDATE (${smallBytes.length} B)`, smallBytes, 1, small],
    [`full IPv4 UPDATE (${full4.length} B, ${n4} /32)`, full4, n4, p4.value[0]!],
    [`full IPv6 UPDATE (${full6.length} B, ${n6count} /128)`, full6, n6count, p6.value[0]!],
  ];
  for (const [name, bytes, prefixes] of cases) {
    const r = rate(() => decodeMessage(bytes, S));
    console.log(`  ${name}: ${fmt(r.perSecond)} UPDATEs/s, ${fmt(r.perSecond * prefixes)} prefixes/s`);
  }
  console.log('encode (values -> UPDATE bytes):');
  for (const [name, , prefixes, msg] of cases) {
    const r = rate(() => encodeMessage(msg, S));
    console.log(`  ${name}: ${fmt(r.perSecond)} UPDATEs/s, ${fmt(r.perSecond * prefixes)} prefixes/s`);
  }
}
