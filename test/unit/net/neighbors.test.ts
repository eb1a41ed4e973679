// The ARP table parser the BFD echo function uses to find the peer's MAC and interface.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProcArp } from '../../../net/neighbors.js';

const ARP = [
  'IP address       HW type     Flags       HW address            Mask     Device',
  '10.50.0.1        0x1         0x2         02:B0:11:00:00:01     *        eth0',
  '10.50.0.2        0x1         0x0         00:00:00:00:00:00     *        eth0',
  '10.60.0.1        0x1         0x2         02:b0:11:00:00:09     *        eth1',
  '',
].join('\n');

describe('net/neighbors', () => {
  it('parses /proc/net/arp: complete entries, lower-case MACs, devices', () => {
    assert.deepEqual(parseProcArp(ARP), [
      { ip: '10.50.0.1', mac: '02:b0:11:00:00:01', device: 'eth0', complete: true },
      { ip: '10.50.0.2', mac: '00:00:00:00:00:00', device: 'eth0', complete: false },
      { ip: '10.60.0.1', mac: '02:b0:11:00:00:09', device: 'eth1', complete: true },
    ]);
  });
});
