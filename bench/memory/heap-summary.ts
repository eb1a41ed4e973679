// What a V8 heap snapshot (.heapsnapshot, taken after the full GC V8 does first) holds, by node type
// and constructor name: self sizes summed, the largest first. No retained sizes (that needs the
// dominator tree); enough to see whether strings, arrays, closures or our own objects dominate.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  what: string;
  count: number;
  bytes: number;
}

export function summarizeHeap(file: string, top = 15): { total: number; groups: HeapGroup[] } {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const groups = new Map<string, HeapGroup>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType] as number] ?? '?';
    const size = s.nodes[i + iSize] as number;
    total += size;
    // strings are grouped by type only (their name is their text)
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string'
        ? ''
        : (s.strings[s.nodes[i + iName] as number] ?? '').slice(0, 60);
    const what = name ? `${type} ${name}` : type;
    const g = groups.get(what) ?? { what, count: 0, bytes: 0 };
    g.count++;
    g.bytes += size;
    groups.set(what, g);
  }
  return { total, groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top) };
}
