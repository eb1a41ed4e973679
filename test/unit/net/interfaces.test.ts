import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_INTERFACE_EXCLUDES,
  compileExcludes,
  usableInterfaces,
  InterfacePatternError,
  type InterfaceInfo,
} from '../../../net/interfaces.js';

function iface(name: string, over: Partial<InterfaceInfo> = {}): InterfaceInfo {
  return {
    name,
    index: 2,
    mac: '02:00:00:00:00:01',
    up: true,
    broadcast: true,
    noarp: false,
    ipv4: [],
    ipv6: [],
    linkLocal6: [],
    ...over,
  };
}

describe('usableInterfaces', () => {
  const excludes = compileExcludes(DEFAULT_INTERFACE_EXCLUDES);
  it('keeps an up, broadcast, ARP-enabled, unenslaved interface', () => {
    assert.deepEqual(
      usableInterfaces([iface('eth0')], { excludes }).map((i) => i.name),
      ['eth0'],
    );
  });
  it("applies MetalLB's default exclusions", () => {
    const names = [
      'docker0',
      'cbr0',
      'dummy0',
      'virbr0',
      'lxcbr0',
      'veth1234',
      'lo',
      'cali1',
      'tunl0',
      'flannel.1',
      'kube-ipvs0',
      'cni0',
      'nodelocaldns',
      'lxc12',
      'eth1',
      'lo0',
      'bond0',
    ];
    const kept = usableInterfaces(
      names.map((n) => iface(n)),
      { excludes },
    ).map((i) => i.name);
    assert.deepEqual(kept, ['eth1', 'lo0', 'bond0']);
  });
  it('drops down, non-broadcast, NOARP, enslaved and MAC-less interfaces', () => {
    const all = [
      iface('a', { up: false }),
      iface('b', { broadcast: false }),
      iface('c', { noarp: true }),
      iface('d', { master: 'bond0' }),
      iface('e', { mac: '' }),
      iface('f', { mac: '00:00:00:00:00:00' }),
      iface('g'),
    ];
    assert.deepEqual(
      usableInterfaces(all, { excludes }).map((i) => i.name),
      ['g'],
    );
  });
  it('exclusions are configurable', () => {
    const only = compileExcludes(['^eth1$']);
    assert.deepEqual(
      usableInterfaces([iface('eth0'), iface('eth1'), iface('veth0')], { excludes: only }).map((i) => i.name),
      ['eth0', 'veth0'],
    );
  });
  it('a bad pattern is a typed error', () => {
    assert.throws(() => compileExcludes(['(']), InterfacePatternError);
  });
});
