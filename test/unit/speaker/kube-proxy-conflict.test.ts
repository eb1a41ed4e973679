// kube-proxy IPVS without strictARP, the pure part: the verdict over a node's kube-ipvs0 device and the
// effective arp_ignore/arp_announce (the larger of `all` and the interface's), the condition it gives the
// Services the node announces, and reading the state from procfs-shaped files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REASON_IPVS_WITHOUT_STRICT_ARP,
  ipvsArpVerdict,
  kubeProxyConditionFor,
  readNodeArpState,
  type ArpSysctls,
} from '../../../speaker/kube-proxy-conflict.js';

const s = (arpIgnore?: number, arpAnnounce?: number): ArpSysctls => ({ arpIgnore, arpAnnounce });

describe('ipvsArpVerdict', () => {
  it('no kube-ipvs0: no conflict whatever the sysctls', () => {
    assert.equal(
      ipvsArpVerdict({ ipvsDevice: false, all: s(0, 0), interfaces: new Map([['eth0', s(0, 0)]]) }).conflict,
      false,
    );
  });
  it('kube-ipvs0 with the kernel defaults (IPVS without strictARP): conflict naming the interface', () => {
    const v = ipvsArpVerdict({ ipvsDevice: true, all: s(0, 0), interfaces: new Map([['eth0', s(0, 0)]]) });
    assert.equal(v.conflict, true);
    assert.match(v.message, /eth0: arp_ignore=0 arp_announce=0/);
    assert.match(v.message, /strictARP/);
  });
  it('strictARP (all: arp_ignore=1, arp_announce=2): no conflict; the larger of all and the interface counts', () => {
    assert.equal(
      ipvsArpVerdict({ ipvsDevice: true, all: s(1, 2), interfaces: new Map([['eth0', s(0, 0)]]) }).conflict,
      false,
    );
    assert.equal(
      ipvsArpVerdict({ ipvsDevice: true, all: s(0, 0), interfaces: new Map([['eth0', s(1, 2)]]) }).conflict,
      false,
    );
    const half = ipvsArpVerdict({ ipvsDevice: true, all: s(1, 0), interfaces: new Map([['eth0', s(0, 0)]]) });
    assert.equal(half.conflict, true);
    assert.match(half.message, /arp_ignore=1 arp_announce=0/);
  });
  it('no interface known yet: `all` decides; unreadable values count as the default 0', () => {
    assert.equal(ipvsArpVerdict({ ipvsDevice: true, all: s(), interfaces: new Map() }).conflict, true);
    assert.equal(ipvsArpVerdict({ ipvsDevice: true, all: s(1, 2), interfaces: new Map() }).conflict, false);
  });
});

describe('kubeProxyConditionFor', () => {
  it('names the node; nothing to say without a conflict', () => {
    const v = ipvsArpVerdict({ ipvsDevice: true, all: s(0, 0), interfaces: new Map() });
    const c = kubeProxyConditionFor('node-1', v);
    assert.equal(c?.reason, REASON_IPVS_WITHOUT_STRICT_ARP);
    assert.match(c?.message ?? '', /^node node-1: kube-proxy runs in IPVS mode/);
    assert.equal(kubeProxyConditionFor('node-1', { conflict: false, message: '' }), undefined);
  });
});

describe('readNodeArpState', () => {
  it('reads the device and the sysctls from the given roots', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'arp-state-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const procConf = join(root, 'conf');
    for (const d of [join(procConf, 'kube-ipvs0'), join(procConf, 'all'), join(procConf, 'eth0')])
      mkdirSync(d, { recursive: true });
    writeFileSync(join(procConf, 'all', 'arp_ignore'), '1\n');
    writeFileSync(join(procConf, 'all', 'arp_announce'), '2\n');
    writeFileSync(join(procConf, 'eth0', 'arp_ignore'), '0\n');
    const st = readNodeArpState(['eth0'], procConf);
    assert.equal(st.ipvsDevice, true);
    assert.deepEqual(st.all, { arpIgnore: 1, arpAnnounce: 2 });
    assert.deepEqual(st.interfaces.get('eth0'), { arpIgnore: 0, arpAnnounce: undefined });
    assert.equal(ipvsArpVerdict(st).conflict, false);
  });
});
