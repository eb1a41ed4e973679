// The netns toolkit: hosts on a bridge reach each other over IPv4 and IPv6; a link can be pulled;
// frames can be captured; destroy leaves nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lan, listNetns } from '../../lab/netns.js';
import { waitFor } from '../../lab/process.js';

describe('netns toolkit', () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), 'bollard-netns-test-'));
  before(async () => {
    lan = await Lan.create();
    await lan.addHost('a', { ipv4: '10.55.0.1/24', ipv6: 'fd55::1/64' });
    await lan.addHost('b', { ipv4: '10.55.0.2/24', ipv6: 'fd55::2/64' });
  });
  after(async () => {
    await lan?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two hosts reach each other over IPv4 and IPv6, with the MACs they were given', async () => {
    const a = lan.host('a');
    const b = lan.host('b');
    assert.equal((await a.exec('ping', ['-c1', '-W2', '10.55.0.2'])).code, 0);
    assert.equal((await b.exec('ping', ['-6', '-c1', '-W2', 'fd55::1'])).code, 0);
    const neigh = await a.sh('ip', ['neigh', 'show', '10.55.0.2']);
    assert.match(neigh, new RegExp(b.mac, 'i'));
  });

  it('a pulled link stops traffic and a restored one carries it again', async () => {
    const a = lan.host('a');
    await lan.host('b').link('down');
    assert.notEqual((await a.exec('ping', ['-c1', '-W1', '10.55.0.2'])).code, 0);
    await lan.host('b').link('up');
    // The port needs a moment to come back (carrier, bridge learning): wait for the first answer.
    await waitFor(
      'ping after link up',
      async () => ((await a.exec('ping', ['-c1', '-W1', '10.55.0.2'])).code === 0 ? true : undefined),
      20_000,
    );
  });

  it('captures frames on the bridge', async () => {
    const cap = await lan.capture(join(dir, 'arp.pcap'), ['arp']);
    await lan.host('a').exec('ip', ['neigh', 'flush', 'all']);
    await lan.host('a').exec('ping', ['-c1', '-W2', '10.55.0.2']);
    await cap.stop();
    assert.ok(statSync(cap.file).size > 24 + 16 + 28, 'the pcap holds at least one ARP frame');
  });

  it('destroy removes every namespace of the run', async () => {
    const extra = await Lan.create();
    await extra.addHost('c', { ipv4: '10.56.0.1/24' });
    const mine = () => listNetns().filter((n) => n.startsWith(extra.prefix));
    assert.equal(mine().length, 2);
    await extra.destroy();
    assert.deepEqual(mine(), []);
  });
});
