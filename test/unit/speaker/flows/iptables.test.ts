// Flow handover's chain as iptables-restore text, the backend choice, and the module's errors as
// values (a fake runner: no process is started).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { chooseBackend, familyRules, restoreText, type Runner } from '../../../../speaker/flows/iptables.js';
import { FlowHandover } from '../../../../speaker/flows/handover.js';
import { makeLogger } from '../../../../k8s/logger.js';
import { FakeClock } from '../../../support/fake-clock.js';

describe('flow handover chain', () => {
  it('drops handed-over copies first, then marks, copies and drops each VIP\u2019s strays', () => {
    const text = restoreText(4, [
      { vip: '192.0.2.10', gateways: ['10.0.0.1', '10.0.0.3'] },
      { vip: '2001:db8::10', gateways: ['fd00::1'] },
    ]);
    assert.equal(
      text,
      [
        '*mangle',
        ':BOLLARD-FLOWS - [0:0]',
        '-F BOLLARD-FLOWS',
        '-A BOLLARD-FLOWS -p tcp ! --syn -m conntrack --ctstate NEW -m dscp --dscp 21 -j DROP',
        '-A BOLLARD-FLOWS -d 192.0.2.10/32 -p tcp ! --syn -m conntrack --ctstate NEW -m limit --limit 2000/sec --limit-burst 2000 -j DSCP --set-dscp 21',
        '-A BOLLARD-FLOWS -d 192.0.2.10/32 -p tcp ! --syn -m conntrack --ctstate NEW -m dscp --dscp 21 -j TEE --gateway 10.0.0.1',
        '-A BOLLARD-FLOWS -d 192.0.2.10/32 -p tcp ! --syn -m conntrack --ctstate NEW -m dscp --dscp 21 -j TEE --gateway 10.0.0.3',
        '-A BOLLARD-FLOWS -d 192.0.2.10/32 -p tcp ! --syn -m conntrack --ctstate NEW -m dscp --dscp 21 -j DROP',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.match(
      restoreText(6, [{ vip: '2001:db8::10', gateways: ['fd00::1'] }]),
      /-d 2001:db8::10\/128 .* -j TEE --gateway fd00::1/,
    );
  });

  it('each family gets its VIPs with the targets\u2019 addresses of that family', () => {
    const addrs: Record<string, string[]> = { 'node-1': ['10.0.0.1', 'fd00::1'], 'node-3': ['10.0.0.3'] };
    const rules = new Map([
      ['192.0.2.10', ['node-1', 'node-3']],
      ['2001:db8::10', ['node-1', 'node-3']],
    ]);
    const of = (n: string): string[] => addrs[n] ?? [];
    assert.deepEqual(familyRules(4, rules, of), [{ vip: '192.0.2.10', gateways: ['10.0.0.1', '10.0.0.3'] }]);
    assert.deepEqual(familyRules(6, rules, of), [{ vip: '2001:db8::10', gateways: ['fd00::1'] }]);
  });

  it('the backend is the one whose nat table has KUBE- chains, else plain iptables', () => {
    const run =
      (nft: string, legacy: string): Runner =>
      (cmd) => ({
        ok: true,
        stdout: cmd.includes('-nft-') ? nft : cmd.includes('-legacy-') ? legacy : '',
      });
    assert.equal(chooseBackend(run(':KUBE-SERVICES - [0:0]', ''), 4), 'iptables-nft');
    assert.equal(chooseBackend(run('', ':KUBE-SERVICES - [0:0]'), 6), 'ip6tables-legacy');
    assert.equal(
      chooseBackend(() => ({ ok: false, stdout: '', error: 'ENOENT' }), 4),
      'iptables',
    );
  });

  it('iptables missing: logged once per cause, counted, nothing thrown', async () => {
    const registry = new Registry();
    const lines: string[] = [];
    const log = makeLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
    const calls: string[] = [];
    const flows = new FlowHandover({
      self: 'node-2',
      log,
      registry,
      clock: new FakeClock(),
      windowMs: 5000,
      addressesOf: () => ['10.0.0.1'],
      run: (cmd) => {
        calls.push(cmd);
        return { ok: false, stdout: '', error: 'spawnSync iptables-restore ENOENT' };
      },
    });
    flows.start();
    const live = new Set(['node-1', 'node-2']);
    flows.observe({ self: 'node-2', live, draining: new Set(), excluded: new Set() }, () => ['192.0.2.10']);
    assert.deepEqual(flows.rules(), new Map([['192.0.2.10', ['node-1']]]), 'the first pass: a window');
    flows.observe(
      { self: 'node-2', live: new Set(['node-2']), draining: new Set(), excluded: new Set() },
      () => ['192.0.2.10'],
    );
    assert.deepEqual(flows.rules(), new Map(), 'node-1 died: its window ended');
    flows.stop();
    const warned = lines.filter((l) => l.includes('without flow handover'));
    assert.equal(warned.length, 2, `one line per family: ${warned.join('')}`);
    const metric = await registry.getSingleMetricAsString('bollard_speaker_flow_handover_errors_total');
    assert.match(metric, /cause="install-ipv4"\} 1/);
    assert.ok(calls.length > 0);
  });
});
