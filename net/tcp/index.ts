// TCP and UDP sockets with the options Node cannot set (net/tcp/tcp.c): TCP_MD5SIG (RFC 2385),
// IP_TTL / IPV6_UNICAST_HOPS (eBGP multihop, BFD's TTL 255), IP_MINTTL / IPV6_MINHOPCOUNT (GTSM,
// RFC 5082; BFD RFC 5881 §5), SO_BINDTODEVICE (VRF) and source address binding. The fds are handed to
// Node (`new net.Socket({ fd })`, `server.listen({ fd })`, `dgram` `bind({ fd })`) once set up.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Socket, Server, createServer } from 'node:net';
import dgram from 'node:dgram';

/** A socket option or syscall failed; `option` names the option (never carries a password). */
export class TcpOptionError extends Error {
  override readonly name = 'TcpOptionError';
  constructor(
    /** The syscall: socket, setsockopt, bind, connect, listen, load. */
    readonly syscall: string,
    /** The option that failed (TCP_MD5SIG, IP_TTL, SO_BINDTODEVICE…), when a setsockopt did. */
    readonly option: string | undefined,
    /** errno name (EPERM, ENODEV, EINVAL…) or EUNAVAILABLE when the addon is not built. */
    readonly code: string,
    readonly reason: string,
  ) {
    super(`${syscall}${option ? ` ${option}` : ''}: ${reason}`);
  }
}

export type IpFamily = 4 | 6;

export interface Md5Key {
  readonly address: string;
  readonly password: string;
}

export interface SocketOptions {
  /** Bind to this local address (source address). */
  readonly address?: string;
  readonly port?: number;
  /** SO_BINDTODEVICE: a VRF (or any) device name. */
  readonly device?: string;
  /** IP_TTL / IPV6_UNICAST_HOPS of what we send. */
  readonly ttl?: number;
  /** IP_MINTTL / IPV6_MINHOPCOUNT: drop received packets with a lower TTL (GTSM). */
  readonly minTtl?: number;
  /** TCP_MD5SIG keys, one per peer address. */
  readonly md5?: readonly Md5Key[];
  readonly reuseAddr?: boolean;
}

interface NativeTcp {
  socket(family: IpFamily, kind: 'tcp' | 'udp', opts: SocketOptions): number;
  connect(fd: number, address: string, port: number, timeoutMs: number): Promise<void>;
  listen(fd: number, backlog: number): void;
  setMd5(fd: number, family: IpFamily, peer: string, password: string): void;
  setTtl(fd: number, family: IpFamily, ttl: number): void;
  setMinTtl(fd: number, family: IpFamily, minTtl: number): void;
  close(fd: number): void;
}

let native: NativeTcp | undefined;

function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'net', 'tcp', 'build', 'Release', 'bollard_tcp.node');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function addon(): NativeTcp {
  if (native) return native;
  const path = findAddon();
  if (!path) {
    throw new TcpOptionError(
      'load',
      undefined,
      'EUNAVAILABLE',
      'net/tcp/build/Release/bollard_tcp.node not found; run `npm run build:addon`',
    );
  }
  native = createRequire(import.meta.url)(path) as NativeTcp;
  return native;
}

interface NativeError {
  code?: unknown;
  syscall?: unknown;
  option?: unknown;
  message?: unknown;
}

/** Turns whatever the addon threw into a TcpOptionError. */
export function toTcpOptionError(e: unknown, syscall = 'unknown'): TcpOptionError {
  if (e instanceof TcpOptionError) return e;
  const n = (typeof e === 'object' && e !== null ? e : {}) as NativeError;
  return new TcpOptionError(
    typeof n.syscall === 'string' ? n.syscall : syscall,
    typeof n.option === 'string' ? n.option : undefined,
    typeof n.code === 'string' ? n.code : 'EUNKNOWN',
    typeof n.message === 'string' ? n.message : String(e),
  );
}

function call<T>(syscall: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toTcpOptionError(e, syscall);
  }
}

export const familyOf = (address: string): IpFamily => (address.includes(':') ? 6 : 4);

/** Checks options before they reach the kernel, so mistakes are typed errors with a clear reason. */
export function validateSocketOptions(o: SocketOptions): void {
  const bad = (option: string, reason: string): never => {
    throw new TcpOptionError('setsockopt', option, 'EINVAL', reason);
  };
  if (o.ttl !== undefined && (!Number.isInteger(o.ttl) || o.ttl < 1 || o.ttl > 255))
    bad('IP_TTL', `TTL ${o.ttl} is not 1..255`);
  if (o.minTtl !== undefined && (!Number.isInteger(o.minTtl) || o.minTtl < 1 || o.minTtl > 255)) {
    bad('IP_MINTTL', `minimum TTL ${o.minTtl} is not 1..255`);
  }
  if (o.device !== undefined && (o.device.length === 0 || o.device.length > 15))
    bad('SO_BINDTODEVICE', 'device name must be 1..15 characters');
  for (const k of o.md5 ?? []) {
    // RFC 2385 keys are at most 80 octets (TCP_MD5SIG_MAXKEYLEN); never echo the password.
    if (Buffer.byteLength(k.password) > 80)
      bad('TCP_MD5SIG', `password for ${k.address} is longer than 80 octets`);
  }
}

/** Dials `address:port` with the options applied before the SYN; resolves with a connected net.Socket. */
export async function connectTcp(
  address: string,
  port: number,
  opts: SocketOptions & { timeoutMs: number; signal?: AbortSignal },
): Promise<Socket> {
  validateSocketOptions(opts);
  const a = addon();
  const family = familyOf(address);
  const fd = call('socket', () => a.socket(family, 'tcp', opts));
  try {
    await a.connect(fd, address, port, Math.max(1, Math.round(opts.timeoutMs)));
  } catch (e) {
    try {
      a.close(fd);
    } catch {
      // already closed
    }
    throw toTcpOptionError(e, 'connect');
  }
  if (opts.signal?.aborted) {
    a.close(fd);
    throw new TcpOptionError('connect', undefined, 'ECANCELED', 'connect aborted');
  }
  return new Socket({ fd, readable: true, writable: true });
}

export interface TcpListener {
  readonly server: Server;
  readonly fd: number;
  readonly family: IpFamily;
  /** Adds (or with '' removes) an MD5 key for a peer on the listening socket; accepted sockets inherit it. */
  setMd5(peer: string, password: string): void;
  close(): Promise<void>;
}

/** Listens on `address:port` (v6 sockets are v6-only) with the options; connections go to `onConnection`. */
export async function listenTcp(
  address: string,
  port: number,
  opts: SocketOptions,
  onConnection: (s: Socket) => void,
): Promise<TcpListener> {
  validateSocketOptions(opts);
  const a = addon();
  const family = familyOf(address);
  const fd = call('socket', () => a.socket(family, 'tcp', { ...opts, address, port, reuseAddr: true }));
  try {
    call('listen', () => a.listen(fd, 64));
  } catch (e) {
    a.close(fd);
    throw e;
  }
  const server = createServer({ pauseOnConnect: false }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Later accept errors (EMFILE…) must not take the process down; the server keeps listening.
  server.on('error', () => undefined);
  return {
    server,
    fd,
    family,
    setMd5: (peer, password) => call('setsockopt', () => a.setMd5(fd, family, peer, password)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface HandleWithFd {
  _handle?: { fd?: number };
}

/** The OS fd behind a net.Socket or dgram socket (Unix), if Node exposes it. */
export function socketFd(s: Socket | dgram.Socket): number | undefined {
  const fd = (s as unknown as HandleWithFd)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Sets the TTL / hop limit of an existing socket (e.g. one accepted by a listener). */
export function setSocketTtl(s: Socket | dgram.Socket, family: IpFamily, ttl: number): void {
  validateSocketOptions({ ttl });
  const fd = socketFd(s);
  if (fd === undefined) throw new TcpOptionError('setsockopt', 'IP_TTL', 'EBADF', 'socket has no fd');
  call('setsockopt', () => addon().setTtl(fd, family, ttl));
}

export function setSocketMinTtl(s: Socket | dgram.Socket, family: IpFamily, minTtl: number): void {
  validateSocketOptions({ minTtl });
  const fd = socketFd(s);
  if (fd === undefined) throw new TcpOptionError('setsockopt', 'IP_MINTTL', 'EBADF', 'socket has no fd');
  call('setsockopt', () => addon().setMinTtl(fd, family, minTtl));
}

/** A UDP socket bound to `address:port` with the options (BFD: ttl 255, minTtl 255 single-hop). */
export async function bindUdp(address: string, port: number, opts: SocketOptions): Promise<dgram.Socket> {
  validateSocketOptions(opts);
  const a = addon();
  const family = familyOf(address);
  const fd = call('socket', () =>
    a.socket(family, 'udp', { ...opts, address, port, reuseAddr: opts.reuseAddr ?? false }),
  );
  const sock = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ fd }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}

/** True when the native addon is built and loads. */
export function tcpAddonAvailable(): boolean {
  try {
    addon();
    return true;
  } catch {
    return false;
  }
}
