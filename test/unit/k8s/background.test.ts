import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { background, backgroundFailures } from '../../../k8s/background.js';

async function failuresOf(task: string): Promise<number> {
  const m = await backgroundFailures.get();
  return m.values.find((v) => v.labels.task === task)?.value ?? 0;
}

describe('background work', () => {
  it('a failure is logged with the task and its context, and counted; a success says nothing', async () => {
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    let logged: () => void = () => undefined;
    const marker = new Promise<void>((resolve) => (logged = resolve));
    const log = {
      error: (fields: Record<string, unknown>, msg: string) => {
        lines.push({ fields, msg });
        logged();
      },
    };
    const before = await failuresOf('write status');
    background(log, 'write nothing', Promise.resolve('fine'));
    // Settled after the success above: when this one is logged, the success has been handled.
    background(log, 'write status', Promise.reject(new Error('apiserver away')), {
      object: { kind: 'Service', namespace: 'ns', name: 'web' },
    });
    await marker;
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.msg, 'write status failed');
    assert.deepEqual(
      { ...lines[0]?.fields, stack: typeof lines[0]?.fields.stack },
      {
        task: 'write status',
        err: 'apiserver away',
        stack: 'string',
        object: { kind: 'Service', namespace: 'ns', name: 'web' },
      },
    );
    assert.equal(await failuresOf('write status'), before + 1);
    assert.equal(await failuresOf('write nothing'), 0);
  });

  it('a rejection that is not an Error is logged as text', async () => {
    let got: Record<string, unknown> | undefined;
    const logged = new Promise<void>((resolve) => {
      background(
        {
          error: (fields) => {
            got = fields;
            resolve();
          },
        },
        'odd',
        Promise.reject('just a string'),
      );
    });
    await logged;
    assert.deepEqual(got, { task: 'odd', err: 'just a string' });
  });
});
