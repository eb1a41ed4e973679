// Fuzzing sample (mutated real-router messages and random bytes) and the crasher/hostile-input replay.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fromHex } from '../../../proto/bytes.js';
import { FUZZ_SESSIONS, checkOne, fuzz, mutate, prng, seedCorpus } from '../../support/fuzz-bgp.js';
import { repoPath } from '../../support/repo.js';

describe('BGP decoder fuzzing', () => {
  it('20,000 inputs: only BgpMessageError, decoded messages re-encode to the same value', () => {
    const stats = fuzz({ iterations: 20_000, seed: 0x5eed });
    assert.deepEqual(stats.crashes, []);
    assert.equal(stats.inputs, 20_000);
    // the harness exercises both paths, otherwise it tests nothing
    assert.ok(stats.decoded > 1000, `${stats.decoded} decoded`);
    assert.ok(stats.rejected > 1000, `${stats.rejected} rejected`);
  });

  it('the seed corpus holds every captured message and decodes cleanly', () => {
    const corpus = seedCorpus();
    assert.ok(corpus.length > 50);
    const names = Object.keys(FUZZ_SESSIONS);
    // fixture messages decode under the dual-stack 4-octet session (OPENs, KEEPALIVEs, most UPDATEs)
    const decoded = corpus.filter((m) => checkOne(m, names[1]!) === 'decoded').length;
    assert.ok(decoded > corpus.length / 2, `${decoded}/${corpus.length}`);
  });

  it('mutations are deterministic for a seed and do change the input', () => {
    const seed = seedCorpus()[0]!;
    const a = mutate(seed, prng(7));
    const b = mutate(seed, prng(7));
    assert.deepEqual(a, b);
    let changed = 0;
    const r = prng(8);
    for (let i = 0; i < 100; i++)
      if (Buffer.compare(Buffer.from(mutate(seed, r)), Buffer.from(seed)) !== 0) changed++;
    assert.ok(changed > 80, `${changed}/100 changed`);
  });

  it('replays every crasher and hostile input kept in test/fixtures/bgp/crashers', () => {
    const dir = repoPath('test', 'fixtures', 'bgp', 'crashers');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 6, `${files.length} files`);
    for (const f of files) {
      const c = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as {
        session: string;
        expect: string;
        hex: string;
      };
      const r = checkOne(fromHex(c.hex), c.session);
      assert.equal(typeof r === 'string' ? r : `crash: ${r.error}`, c.expect, f);
    }
  });
});
