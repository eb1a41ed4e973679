// The membership agent on a thread of its own (started by threaded.ts). Its event loop and heap are
// its own: a long pass, a big garbage collection or any other stall of the speaker's main thread
// does not delay its pings and acks, so other speakers never declare this node dead for it, and it
// never declares them dead because it read their acks late.
import { parentPort, workerData } from 'node:worker_threads';
import { MembershipAgent } from './agent.js';
import type { FromWorker, ToWorker, WorkerInit } from './thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('speaker/membership/worker.ts runs as a worker thread');
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

const agent = new MembershipAgent({
  self: init.self,
  port: init.port,
  key: init.key,
  ...(init.bindAddress ? { bindAddress: init.bindAddress } : {}),
  ...(init.options ? { options: init.options } : {}),
  ...(init.tickMs ? { tickMs: init.tickMs } : {}),
  onError: (err) => post({ t: 'error', message: err.message }),
});
let gen = 0;
const live = (): string[] => [...agent.liveNodes()].sort();
agent.on('change', (changes) => {
  post({ t: 'change', gen, changes, live: live() });
  post({ t: 'snapshot', snapshot: agent.snapshot() });
});
agent.on('health', (nodes) =>
  post({
    t: 'health',
    nodes,
    health: nodes.map((n) => [n, [...(agent.healthOf(n) ?? [])]]),
  }),
);

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'key':
      agent.setKey(m.key);
      break;
    case 'peers':
      gen = m.gen;
      agent.setPeers(new Map(m.peers));
      // always answer a setPeers with the whole live set, stamped with its number
      post({ t: 'change', gen, changes: [], live: live() });
      break;
    case 'health':
      agent.setHealth(new Set(m.healthy));
      break;
  }
});

agent.start().then(
  () => {
    post({ t: 'started' });
    setInterval(() => post({ t: 'snapshot', snapshot: agent.snapshot() }), init.snapshotMs).unref();
  },
  (err: Error) => post({ t: 'start-failed', message: err.message }),
);
