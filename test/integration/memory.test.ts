// The speaker's memory, from the process itself (issue 17, item 2): RSS after importing its entry
// module, heap bytes per Service held by its informers, projections and service index
// (test/support/memory-probe.ts) after a full GC, and the V8 heap's size under the speaker's kind of
// load with k8s/v8-memory.ts's favourMemory (test/support/gc-workload.ts). The ceilings are generous
// (1.2-1.5x the figures recorded in docs/benchmarks.md, "Speaker memory"), well under the figures
// before the changes (RSS 117-129 MiB; 5.4-5.7 kB per Service; a heap of 52-60 MiB without the
// flag), so only a real regression fails. Memory, never time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { speakerEndpointSlice, speakerService } from '../../k8s/projection.js';
import { EndpointIndex, serviceFactsOf } from '../../speaker/service-index.js';
import type { EndpointSliceObj, ServiceObj } from '../../speaker/k8s-types.js';
import type { ProbeResult } from '../support/memory-probe.js';
import type { GcWorkloadResult } from '../support/gc-workload.js';
import { speakerCommand } from '../../speaker/cli-entry.js';
import { servedService, servedSlice } from '../support/memory-probe.js';
import { repoPath } from '../support/repo.js';

const run = promisify(execFile);
const MiB = 2 ** 20;
const RSS_CEILING_MIB = 72;
const BYTES_PER_SERVICE_CEILING = 4500;
const HEAP_UNDER_LOAD_CEILING_MIB = 40;
const N = 1000;

/** The compiled module (a loader such as tsx, when the tests run from source, would be measured too). */
function compiled(...path: string[]): string {
  const file = repoPath('dist', ...path);
  assert.ok(existsSync(file), `${file} is missing: build first (npx tsc -p .)`);
  return file;
}

/** Runs plain node, without this process's loaders or flags. */
async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { timeout: 120_000 });
  return stdout;
}

describe('speaker memory', { timeout: 240_000 }, () => {
  it(`RSS after importing the speaker's entry module stays under ${RSS_CEILING_MIB} MiB`, async () => {
    const entry = pathToFileURL(compiled('speaker', 'cli-entry.js')).href;
    const out = await node([
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(entry)}); console.log(JSON.stringify(process.memoryUsage()))`,
    ]);
    const rss = (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { rss: number }).rss;
    console.log(`# speaker entry module imported: RSS ${(rss / MiB).toFixed(1)} MiB`);
    assert.ok(rss < RSS_CEILING_MIB * MiB, `RSS ${(rss / MiB).toFixed(1)} MiB`);
  });

  it(`heap per Service (${N} Services and their EndpointSlices) stays under ${BYTES_PER_SERVICE_CEILING} bytes`, async () => {
    const probe = compiled('test', 'support', 'memory-probe.js');
    const out = await node(['--expose-gc', probe, String(N), 'after']);
    const r = JSON.parse(out.trim()) as ProbeResult;
    console.log(
      `# ${r.services} Services: heap ${(r.heapBaseBytes / MiB).toFixed(1)} -> ${(r.heapBytes / MiB).toFixed(1)} MiB, ` +
        `${Math.round(r.bytesPerService)} bytes per Service, RSS ${(r.rssBytes / MiB).toFixed(1)} MiB`,
    );
    assert.equal(r.services, N);
    assert.ok(
      r.bytesPerService < BYTES_PER_SERVICE_CEILING,
      `${Math.round(r.bytesPerService)} bytes per Service`,
    );
  });

  it(`under list-response garbage, the speaker's V8 heap stays under ${HEAP_UNDER_LOAD_CEILING_MIB} MiB (favourMemory, on by default)`, async () => {
    // the speaker turns it on unless told --optimize-for-size=false
    assert.equal((speakerCommand().opts() as { optimizeForSize?: boolean }).optimizeForSize, true);
    const workload = compiled('test', 'support', 'gc-workload.js');
    const measure = async (mode: 'on' | 'off') =>
      // the chart's NODE_OPTIONS (speaker.nodeOptions) as a flag
      JSON.parse((await node(['--max-semi-space-size=2', workload, mode])).trim()) as GcWorkloadResult;
    const on = await measure('on');
    const off = await measure('off');
    for (const r of [on, off])
      console.log(
        `# favourMemory ${r.favourMemory ? 'on ' : 'off'}: V8 heap ${(r.heapTotalBytes / MiB).toFixed(1)} MiB ` +
          `(used ${(r.heapUsedBytes / MiB).toFixed(1)}), RSS ${(r.rssBytes / MiB).toFixed(1)} MiB, ${r.kept} kept`,
      );
    assert.equal(on.kept, 100_000);
    assert.ok(
      on.heapTotalBytes < HEAP_UNDER_LOAD_CEILING_MIB * MiB,
      `V8 heap ${(on.heapTotalBytes / MiB).toFixed(1)} MiB`,
    );
  });

  it('the speaker decides the same on projected objects as on served ones', () => {
    const served = (i: number) => structuredClone(servedService(i)) as ServiceObj;
    for (let i = 0; i < 8; i++) {
      const full = serviceFactsOf(served(i), '');
      assert.ok(full);
      assert.deepEqual(serviceFactsOf(speakerService(served(i)), ''), full);
    }
    const withShared = served(9);
    withShared.metadata = {
      ...withShared.metadata,
      annotations: { ...withShared.metadata?.annotations, 'metallb.universe.tf/allow-shared-ip': 'k' },
    };
    assert.equal(serviceFactsOf(speakerService(structuredClone(withShared)), '')?.allowSharedIP, true);
    const a = new EndpointIndex();
    const b = new EndpointIndex();
    const slice = (i: number) => structuredClone(servedSlice(i)) as EndpointSliceObj;
    a.set(slice(3));
    b.set(speakerEndpointSlice(slice(3)));
    assert.deepEqual(b.of('ns-3/svc-3'), a.of('ns-3/svc-3'));
    assert.equal(a.of('ns-3/svc-3').length, 3);
  });
});
