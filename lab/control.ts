// The supervisor's control protocol: one JSON request per connection on `.lab/control.sock`, one JSON
// answer back. `{op: 'status'}` → `{ok: true, result: …}` or `{ok: false, error: '…'}`.
import { connect, createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import { LabError } from './errors.js';

export type ControlOp =
  | { op: 'status' }
  | { op: 'kill' | 'stop' | 'start'; host: string; process: string }
  | { op: 'link'; host: string; state: 'up' | 'down' }
  | {
      op: 'pods';
      action: 'add' | 'remove' | 'unready' | 'ready';
      node: string;
      service: string;
      count?: number;
    }
  | { op: 'node-ready'; node: string; ready: boolean }
  | { op: 'down' };

export interface ControlReply {
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** Serves the protocol; `handle` answers each request. */
export function serveControl(socket: string, handle: (req: ControlOp) => Promise<unknown>): Promise<Server> {
  rmSync(socket, { force: true });
  const server = createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      let req: ControlOp;
      try {
        req = JSON.parse(line) as ControlOp;
      } catch {
        conn.end(JSON.stringify({ ok: false, error: 'bad request: not JSON' }) + '\n');
        return;
      }
      handle(req).then(
        (result) => conn.end(JSON.stringify({ ok: true, result } satisfies ControlReply) + '\n'),
        (err: unknown) =>
          conn.end(
            JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) }) + '\n',
          ),
      );
    });
    conn.on('error', () => undefined);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}

/** Sends one request; rejects with LabError when the supervisor does not answer or answers an error. */
export function callControl<T>(socket: string, req: ControlOp, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buf = '';
    const timer = setTimeout(() => conn.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify(req) + '\n'));
    conn.on('data', (c: string) => (buf += c));
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(new LabError('supervisor', err.message));
    });
    conn.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as ControlReply;
        if (reply.ok) resolve(reply.result as T);
        else reject(new LabError(req.op, reply.error ?? 'failed'));
      } catch {
        reject(new LabError('supervisor', 'closed the connection without an answer'));
      }
    });
  });
}
