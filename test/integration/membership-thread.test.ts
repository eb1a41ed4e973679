// The membership agent on its own thread, on real UDP over loopback: member "a" (threaded, in this
// process) and member "b" (a plain agent in a child process), 127.0.0.1 and 127.0.0.2, one port.
// Waits are on events: a's snapshots and changes, and b's lines on its stdout (b answers a "mark"
// on its stdin with a line of its own state, ordered after every change it printed before).
import { describe, it, after, before } from 'node:test';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ThreadedMembership } from '../../speaker/membership/threaded.js';
import type { Change } from '../../speaker/membership/messages.js';

const PORT = 20_000 + Math.floor(Math.random() * 20_000);
const A = '127.0.0.1';
const B = '127.0.0.2';
const PEERS = new Map([
  ['a', A],
  ['b', B],
]);

/** What b prints when it reads "mark" on its stdin. */
interface Mark {
  mark: true;
  members: [string, string][];
  probes: number;
}

/** Member "b" as its own process: prints every change it sees, one JSON array a line. */
function spawnB(key: Buffer): ChildProcess {
  const agent = new URL('../../speaker/membership/agent.js', import.meta.url).href;
  const script = [
    `const { MembershipAgent } = await import(${JSON.stringify(agent)});`,
    `const b = new MembershipAgent({ self: 'b', port: ${PORT}, bindAddress: '${B}', key: Buffer.from('${key.toString('hex')}', 'hex') });`,
    "b.on('change', (c) => process.stdout.write(JSON.stringify(c) + '\\n'));",
    'await b.start();',
    `b.setPeers(new Map([['a', '${A}'], ['b', '${B}']]));`,
    "process.stdout.write('ready\\n');",
    "process.stdin.setEncoding('utf8');",
    "process.stdin.on('data', (d) => { for (const l of d.split('\\n')) if (l === 'mark') { const s = b.snapshot(); process.stdout.write(JSON.stringify({ mark: true, members: s.members, probes: s.stats.probes }) + '\\n'); } });",
    "process.stdin.on('end', () => process.exit(0));",
  ].join('\n');
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Turns a lost event into a failure within a minute (the runner's own limit is ten); no test waits on it. */
const GUARD = { timeout: 60_000 };

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
  let marked: (m: Mark) => void = () => undefined;
  /** b's state, printed after every change b printed before it. */
  const markOfB = (): Promise<Mark> => {
    const p = new Promise<Mark>((resolve) => (marked = resolve));
    b.stdin?.write('mark\n');
    return p;
  };

  before(async () => {
    b = spawnB(key);
    const lines = createInterface({ input: b.stdout as NodeJS.ReadableStream });
    bReady = new Promise((resolve) =>
      lines.on('line', (l) => {
        if (l === 'ready') resolve();
        else {
          const v = JSON.parse(l) as Change[] | Mark;
          if (Array.isArray(v)) seenByB.push(...v);
          else marked(v);
        }
      }),
    );
    await Promise.all([a.start(), bReady]);
  });
  after(() => {
    a.stop();
    b.stdin?.end();
    b.kill();
  });

  it('peers start alive at once; health results travel; probes run', GUARD, async () => {
    const seen: Change[][] = [];
    a.on('change', (c) => seen.push(c));
    a.setPeers(PEERS);
    // the mirror follows setPeers synchronously, as the in-thread agent does
    assert.deepEqual([...a.liveNodes()].sort(), ['a', 'b']);
    assert.deepEqual(seen[0], [{ node: 'b', from: 'unknown', to: 'alive' }]);
    a.setHealth(new Set(['ns/web']));
    assert.deepEqual([...(a.healthOf('a') ?? [])], ['ns/web']);
    // the thread's snapshots (one a second by default) show the probes running
    while (a.snapshot().counters.received < 5) await once(a, 'snapshot');
    assert.ok(a.snapshot().stats.probes > 0);
    assert.deepEqual(a.snapshot().members, [['b', 'alive']]);
  });

  it(
    'a 1.5 s stall of the main thread: the other member never suspects this one (the thread kept answering)',
    GUARD,
    async () => {
      const before = await markOfB();
      const from = seenByB.length;
      // The fault: the main thread busy for 1.5 s (longer than b's suspicion time would allow a silent
      // member), no timer, no message, no I/O on it.
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // busy
      }
      // b's mark comes after every change b printed; b kept probing a meanwhile (its probes rose).
      const after = await markOfB();
      assert.ok(after.probes > before.probes, 'b probed during the stall');
      assert.deepEqual(after.members, [['a', 'alive']]);
      assert.deepEqual(
        seenByB.slice(from).filter((c) => c.node === 'a'),
        [],
        'b saw a change of a',
      );
      assert.deepEqual([...a.liveNodes()].sort(), ['a', 'b']);
    },
  );

  it('a member that goes away is declared dead, and the thread reports it', GUARD, async () => {
    const dead = new Promise<void>((resolve) =>
      a.on('change', (c) => c.some((x) => x.node === 'b' && x.to === 'dead') && resolve()),
    );
    b.kill('SIGKILL');
    await dead;
    assert.deepEqual([...a.liveNodes()], ['a']);
    assert.deepEqual(errors, []);
  });
});
