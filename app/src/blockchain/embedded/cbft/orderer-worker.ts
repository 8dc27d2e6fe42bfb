/**
 * A CBFT replica on a worker thread of its own (see ordering-service.ts for the other side): the
 * replicas share the machine's cores with the peers but not an event loop, and one can be killed
 * (terminated) and started again from its log like a process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OrdererNode, type OrdererNodeOptions } from './orderer-node';

export type ToOrderer = { t: 'connect'; ports: number[] } | { t: 'status'; id: number } | { t: 'close' };
export type FromOrderer =
  | { t: 'ready'; port: number }
  | { t: 'failed'; error: Error }
  | { t: 'status'; id: number; status: ReturnType<OrdererNode['status']>; links: boolean[] }
  | { t: 'closed' };

const port = parentPort!;
const { options, listen } = workerData as { options: OrdererNodeOptions; listen: number };

OrdererNode.start(options, listen).then(
  ({ node, port: listening }) => {
    port.on('message', (m: ToOrderer) => {
      if (m.t === 'connect') node.connect(m.ports);
      else if (m.t === 'status') port.postMessage({ t: 'status', id: m.id, status: node.status(), links: node.linksUp() } satisfies FromOrderer);
      else if (m.t === 'close') void node.close().then(() => port.postMessage({ t: 'closed' } satisfies FromOrderer));
    });
    port.postMessage({ t: 'ready', port: listening } satisfies FromOrderer);
  },
  (error: Error) => port.postMessage({ t: 'failed', error } satisfies FromOrderer),
);
