// Both programs' process policy in a real process: an unhandled rejection is logged and counted and
// the process goes on; an uncaught exception is logged as fatal and the process exits 1.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../support/process-policy-child.js', import.meta.url));

interface Line {
  level: string;
  msg: string;
  fault?: string;
  err?: string;
  stack?: string;
  metrics?: string;
}

/** Runs the child to its end: its exit code and its JSON log lines. */
async function run(scenario: string): Promise<{ code: number | null; lines: Line[]; stderr: string }> {
  const child = spawn(process.execPath, [CHILD, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  const lines = out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
  return { code, lines, stderr };
}

describe('process policy (a real process)', () => {
  it('an unhandled rejection is logged with its stack and counted, and the process goes on to exit 0', async () => {
    const { code, lines, stderr } = await run('rejection');
    assert.equal(code, 0, `exit code (stderr: ${stderr})`);
    const rejection = lines.findIndex((l) => l.fault === 'unhandledRejection');
    assert.ok(rejection >= 0, JSON.stringify(lines));
    assert.equal(lines[rejection]?.level, 'error');
    assert.equal(lines[rejection]?.err, 'lost work');
    assert.match(lines[rejection]?.stack ?? '', /process-policy-child/);
    const after = lines.findIndex((l) => l.msg === 'still running');
    assert.ok(after > rejection, 'the process went on after the rejection');
    assert.match(lines[after]?.metrics ?? '', /bollard_process_faults_total\{kind="unhandledRejection"\} 1/);
  });

  it('an uncaught exception is logged as fatal, and the process exits 1', async () => {
    const { code, lines, stderr } = await run('rejection-then-exception');
    assert.equal(code, 1, `exit code (stderr: ${stderr})`);
    const order = lines.map((l) => l.fault ?? l.msg);
    assert.deepEqual(order, ['unhandledRejection', 'still running', 'uncaughtException']);
    const fatal = lines[2];
    assert.equal(fatal?.level, 'fatal');
    assert.equal(fatal?.err, 'state may be corrupt');
  });
});
