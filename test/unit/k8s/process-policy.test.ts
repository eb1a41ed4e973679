// The process policy on a stand-in for `process` (the real one: test/integration/process-policy.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { installProcessPolicy, processFaults, type FaultKind } from '../../../k8s/process-policy.js';

async function faults(kind: FaultKind): Promise<number> {
  const m = await processFaults.get();
  return m.values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

function fakeLog() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  let flushed: ((err?: Error) => void) | undefined;
  return {
    lines,
    flushNow: () => flushed?.(),
    log: {
      error: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'error', fields, msg }),
      fatal: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'fatal', fields, msg }),
      flush: (cb?: (err?: Error) => void) => {
        flushed = cb;
      },
    },
  };
}

describe('process policy', () => {
  it('an unhandled rejection is logged and counted; the process goes on', async () => {
    const proc = new EventEmitter();
    const { lines, log } = fakeLog();
    const exits: number[] = [];
    const policy = installProcessPolicy({ log, process: proc, exit: (c) => exits.push(c) });
    const before = await faults('unhandledRejection');
    proc.emit('unhandledRejection', new Error('lost work'), Promise.resolve());
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, 'error');
    assert.equal(lines[0]?.fields.fault, 'unhandledRejection');
    assert.equal(lines[0]?.fields.err, 'lost work');
    assert.match(String(lines[0]?.fields.stack), /lost work/);
    assert.equal(await faults('unhandledRejection'), before + 1);
    assert.deepEqual(exits, []);
    policy.uninstall();
    assert.equal(proc.listenerCount('unhandledRejection'), 0);
    assert.equal(proc.listenerCount('uncaughtException'), 0);
  });

  it('an uncaught exception is logged as fatal and counted, and the process exits 1 once the log is out', async () => {
    const proc = new EventEmitter();
    const { lines, log, flushNow } = fakeLog();
    const exits: number[] = [];
    const policy = installProcessPolicy({ log, process: proc, exit: (c) => exits.push(c) });
    const before = await faults('uncaughtException');
    proc.emit('uncaughtException', new Error('half-changed'), 'uncaughtException');
    assert.equal(lines[0]?.level, 'fatal');
    assert.equal(lines[0]?.fields.fault, 'uncaughtException');
    assert.equal(lines[0]?.fields.origin, 'uncaughtException');
    assert.equal(lines[0]?.fields.err, 'half-changed');
    assert.equal(await faults('uncaughtException'), before + 1);
    assert.deepEqual(exits, [], 'not before the log is written');
    flushNow();
    assert.deepEqual(exits, [1]);
    policy.uninstall();
  });

  it('exits 1 even when the log never confirms its flush', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const proc = new EventEmitter();
    const { log } = fakeLog();
    const exits: number[] = [];
    const policy = installProcessPolicy({
      log,
      process: proc,
      exit: (c) => exits.push(c),
      flushTimeoutMs: 500,
    });
    t.after(() => policy.uninstall());
    proc.emit('uncaughtException', 'not even an Error', 'uncaughtException');
    t.mock.timers.tick(499);
    assert.deepEqual(exits, []);
    t.mock.timers.tick(1);
    assert.deepEqual(exits, [1]);
  });
});
