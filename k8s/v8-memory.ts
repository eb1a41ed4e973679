// V8 told to favour memory over speed (`--optimize-for-size`): it grows the heap less before it
// collects. What Bollard's programs keep is a small part of what they allocate (the JSON of list and
// watch responses, each pass's work), and with V8's defaults that garbage piles up before a
// collection: the speaker at 10,000 Services was at 293 MiB RSS when settled, 138 MiB with the flag,
// for the same CPU (docs/benchmarks.md, "Speaker memory"). NODE_OPTIONS does not accept this flag, so
// the programs set it themselves, first thing, before their informers' first lists.
import { setFlagsFromString } from 'node:v8';

export function favourMemory(on: boolean): void {
  if (on) setFlagsFromString('--optimize-for-size');
}
