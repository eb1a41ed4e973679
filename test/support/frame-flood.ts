// A small raw-socket sender for the reliability tests and the chaos bench: floods ARP requests, NDP
// neighbour solicitations and malformed frames on an interface as fast as it can (or at a target
// rate), for some seconds, then prints {"sent", "errors", "seconds", "perSecond"} on stdout.
// Run inside a lab host:
//   node dist/test/support/frame-flood.js '{"ifname":"eth0","seconds":3,"kinds":["arp","ndp","malformed"],
//        "arpTargets":["10.50.0.200"],"ndpTargets":["fd00:50::200"]}'
// ARP requests go to random addresses of the LAN and to the given targets (about 1 in 8); NS go to
// the solicited-node group of random addresses and of the targets. Malformed frames: truncated ARP,
// ARP with a wrong hardware length, ARP/IPv6 ethertypes with random bytes, a truncated NS.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PacketSocket } from '../../net/packet.js';
import { scanInterfaces } from '../../net/interfaces.js';
import { arpFrame, arpRequest } from '../../proto/arp.js';
import { encodeEthernet, EtherType } from '../../proto/ethernet.js';
import { encodeNdp, ipv6Frame, neighborSolicitation } from '../../proto/ndp.js';

export type FloodKind = 'arp' | 'ndp' | 'malformed';

export interface FloodArgs {
  ifname: string;
  seconds: number;
  kinds: FloodKind[];
  arpTargets?: string[];
  ndpTargets?: string[];
  /** Frames per second to aim for (0 or absent: as fast as possible). */
  rate?: number;
  /** A file to create just before the first frame goes out: the marker that the flood is on. */
  startedFile?: string;
}

export interface FloodResult {
  sent: number;
  errors: number;
  seconds: number;
  perSecond: number;
}

function randomV4(base: string): string {
  const p = base.split('.');
  return `${p[0]}.${p[1]}.${p[2]}.${1 + Math.floor(Math.random() * 253)}`;
}

function randomV6(base: string): string {
  const prefix = base.split('::')[0] ?? 'fd00:50';
  return `${prefix}::${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}`;
}

/** A pool of frames to cycle through. */
export function buildFrames(
  a: FloodArgs,
  mac: string,
  v4: string | undefined,
  v6ll: string | undefined,
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 512; i++) {
    const kind = a.kinds[i % a.kinds.length] as FloodKind;
    if (kind === 'arp' && v4) {
      const targets = a.arpTargets ?? [];
      const target =
        i % 8 === 0 && targets.length > 0 ? (targets[i % targets.length] as string) : randomV4(v4);
      frames.push(arpFrame(arpRequest(mac, v4, target), mac));
    } else if (kind === 'ndp' && v6ll) {
      const targets = a.ndpTargets ?? [];
      const target =
        i % 8 === 1 && targets.length > 0
          ? (targets[i % targets.length] as string)
          : randomV6(targets[0] ?? 'fd00:50::1');
      const ns = neighborSolicitation(v6ll, target, mac);
      frames.push(
        ipv6Frame(
          encodeNdp({ source: v6ll, destination: ns.destination, message: ns.message }),
          mac,
          ns.destination,
        ),
      );
    } else {
      switch (i % 5) {
        case 0: {
          // truncated ARP: 10 bytes of payload
          const f = arpFrame(
            arpRequest(mac, v4 ?? '10.50.0.100', (a.arpTargets ?? ['10.50.0.1'])[0] as string),
            mac,
          );
          frames.push(f.subarray(0, 14 + 10));
          break;
        }
        case 1: {
          // ARP with hardware length 7
          const f = Uint8Array.from(arpFrame(arpRequest(mac, v4 ?? '10.50.0.100', '10.50.0.1'), mac));
          f[14 + 4] = 7;
          frames.push(f);
          break;
        }
        case 2:
          frames.push(
            encodeEthernet({
              destination: 'ff:ff:ff:ff:ff:ff',
              source: mac,
              vlans: [],
              etherType: EtherType.ARP,
              payload: randomBytes(28 + (i % 40)),
            }),
          );
          break;
        case 3:
          frames.push(
            encodeEthernet({
              destination: '33:33:ff:00:02:00',
              source: mac,
              vlans: [],
              etherType: EtherType.IPV6,
              payload: randomBytes(40 + (i % 60)),
            }),
          );
          break;
        default: {
          // an NS cut short inside its ICMPv6 header
          const src = v6ll ?? 'fe80::1';
          const ns = neighborSolicitation(src, (a.ndpTargets ?? ['fd00:50::1'])[0] as string, mac);
          const f = ipv6Frame(
            encodeNdp({ source: src, destination: ns.destination, message: ns.message }),
            mac,
            ns.destination,
          );
          frames.push(f.subarray(0, 14 + 40 + 6));
        }
      }
    }
  }
  return frames;
}

export async function flood(a: FloodArgs): Promise<FloodResult> {
  const i = scanInterfaces().find((x) => x.name === a.ifname);
  if (!i) throw new Error(`no interface ${a.ifname}`);
  const v6ll = i.linkLocal6[0];
  const frames = buildFrames(a, i.mac, i.ipv4[0], v6ll);
  if (frames.length === 0) throw new Error('nothing to send');
  const sock = PacketSocket.open(i.name, i.index, () => undefined);
  if (a.startedFile) writeFileSync(a.startedFile, '');
  let sent = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + a.seconds * 1000;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      if (now >= end) return resolve();
      const allowed = a.rate ? Math.floor(((now - t0) / 1000) * a.rate) - sent : 200;
      for (let k = 0; k < Math.min(allowed, 200); k++) {
        try {
          sock.send(frames[sent % frames.length] as Uint8Array);
          sent++;
        } catch {
          errors++; // ENOBUFS: the queue is full
          break;
        }
      }
      setImmediate(tick);
    };
    tick();
  });
  const seconds = (performance.now() - t0) / 1000;
  sock.close();
  return { sent, errors, seconds, perSecond: Math.round(sent / seconds) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const a = JSON.parse(process.argv[2] ?? '{}') as FloodArgs;
  process.stdout.write(`${JSON.stringify(await flood(a))}\n`);
}
