// The membership agent on its own thread, on real UDP over loopback: member "a" (threaded, in this
// process) and member "b" (a plain agent in a child process), 127.0.0.1 and 127.0.0.2, one port.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ThreadedMembership } from '../../../speaker/membership/threaded.js';
import type { Change } from '../../../speaker/membership/core.js';

const PORT = 20_000 + Math.floor(Math.random() * 20_000);
const A = '127.0.0.1';
const B = '127.0.0.2';
const PEERS = new Map([
  ['a', A],
  ['b', B],
]);

/** Member "b" as its own process: prints every change it sees, one JSON array a line. */
function spawnB(key: Buffer): ChildProcess {
  const agent = new URL('../../../speaker/membership/agent.js', import.meta.url).href;
  const script = [
    `const { MembershipAgent } = await import(${JSON.stringify(agent)});`,
    `const b = new MembershipAgent({ self: 'b', port: ${PORT}, bindAddress: '${B}', key: Buffer.from('${key.toString('hex')}', 'hex') });`,
    "b.on('change', (c) => process.stdout.write(JSON.stringify(c) + '\\n'));",
    'await b.start();',
    `b.setPeers(new Map([['a', '${A}'], ['b', '${B}']]));`,
    "process.stdout.write('ready\\n');",
    "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();",
  ].join('\n');
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

describe('membership on its own thread', () => {
  const key = randomBytes(32);
  const errors: string[] = [];
  const a = new ThreadedMembership({
    self: 'a',
    port: PORT,
    bindAddress: A,
    key,
    onError: (err) => errors.push(err.message),
  });
  let b: ChildProcess;
  const seenByB: Change[] = [];
  let bReady: Promise<void>;

  before(async () => {
    b = spawnB(key);
    const lines = createInterface({ input: b.stdout as NodeJS.ReadableStream });
    bReady = new Promise((resolve) =>
      lines.on('line', (l) => {
        if (l === 'ready') resolve();
        else seenByB.push(...(JSON.parse(l) as Change[]));
      }),
    );
    await Promise.all([a.start(), bReady]);
  });
  after(() => {
    a.stop();
    b.stdin?.end();
    b.kill();
  });

  it('peers start alive at once; health results travel; probes run', async () => {
    const seen: Change[][] = [];
    a.on('change', (c) => seen.push(c));
    a.setPeers(PEERS);
    // the mirror follows setPeers synchronously, as the in-thread agent does
    assert.deepEqual([...a.liveNodes()].sort(), ['a', 'b']);
    assert.deepEqual(seen[0], [{ node: 'b', from: 'unknown', to: 'alive' }]);
    a.setHealth(new Set(['ns/web']));
    assert.deepEqual([...(a.healthOf('a') ?? [])], ['ns/web']);
    while (a.snapshot().counters.received < 5) await new Promise((r) => setTimeout(r, 50));
    assert.ok(a.snapshot().stats.probes > 0);
    assert.deepEqual(a.snapshot().members, [['b', 'alive']]);
  });

  it('a 1.5 s stall of the main thread: the other member never suspects this one (the thread kept answering)', async () => {
    const from = seenByB.length;
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // busy: no timer, no message, no I/O on this thread
    }
    // what b saw during the stall is in its output by now; give it one more probe round to print
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      seenByB.slice(from).filter((c) => c.node === 'a'),
      [],
      'b saw a change of a',
    );
    assert.deepEqual([...a.liveNodes()].sort(), ['a', 'b']);
  });

  it('a member that goes away is declared dead, and the thread reports it', async () => {
    const dead = new Promise<void>((resolve) =>
      a.on('change', (c) => c.some((x) => x.node === 'b' && x.to === 'dead') && resolve()),
    );
    b.kill('SIGKILL');
    await dead;
    assert.deepEqual([...a.liveNodes()], ['a']);
    assert.deepEqual(errors, []);
  });
});
