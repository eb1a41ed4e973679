// `node dist/test/support/gc-workload.js on|off`: what the speaker's heap does under its kind of load,
// with and without k8s/v8-memory.ts's favourMemory. 100,000 Services arrive as list responses of
// 5,000 (JSON text, parsed, then dropped: the garbage) while a small projection of each is kept (the
// caches). Prints the V8 heap's size, used and the RSS right after, as JSON. No collection is forced.
import { favourMemory } from '../../k8s/v8-memory.js';

export interface GcWorkloadResult {
  favourMemory: boolean;
  heapTotalBytes: number;
  heapUsedBytes: number;
  rssBytes: number;
  kept: number;
}

const on = process.argv[2] === 'on';
favourMemory(on);

const served = (i: number) => ({
  metadata: {
    name: `svc-${i}`,
    namespace: `ns-${i % 20}`,
    uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
    labels: { app: `svc-${i}`, tier: 'web' },
  },
  spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  status: { loadBalancer: { ingress: [{ ip: `172.20.${(i >> 8) & 255}.${i & 255}` }] } },
});
type Served = ReturnType<typeof served>;

const kept: { name: string; namespace: string; ip: string }[] = [];
for (let page = 0; page < 20; page++) {
  const text = JSON.stringify({ items: Array.from({ length: 5000 }, (_, k) => served(page * 5000 + k)) });
  for (const s of (JSON.parse(text) as { items: Served[] }).items)
    kept.push({
      name: s.metadata.name,
      namespace: s.metadata.namespace,
      ip: s.status.loadBalancer.ingress[0]?.ip ?? '',
    });
}
const m = process.memoryUsage();
const result: GcWorkloadResult = {
  favourMemory: on,
  heapTotalBytes: m.heapTotal,
  heapUsedBytes: m.heapUsed,
  rssBytes: m.rss,
  kept: kept.length,
};
console.log(JSON.stringify(result));
