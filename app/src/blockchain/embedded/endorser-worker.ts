/**
 * An endorsing peer on its own thread: it runs the ledger's chaincode through fabric-shim's
 * contract dispatch against an in-memory replica of each channel's committed state, which the
 * ledger keeps current by posting every committed block's valid write sets. Key history is
 * asked of the ledger, which holds it on disk. See endorser-pool.ts for the other side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { peer } from '@hyperledger/fabric-protos';
import { chaincodeIdOf, loadChaincodeModule } from './chaincode-module';
import { ChaincodeConnection } from './chaincode-support';
import { simulateProposal, type Simulation } from './endorser';
import { MemoryState } from './memory-state';
import type { KeyModification } from './simulator';
import { asBuffer as buf, type FromWorker, type ToWorker, type WorkerOptions } from './endorser-pool';

const port = parentPort!;
const { chaincode: chaincodeModule } = workerData as WorkerOptions;
const namespace = chaincodeModule.name;

interface Replica {
  state: MemoryState;
  height: number;
}

const replicas = new Map<string, Replica>();
const historyRequests = new Map<number, { resolve(mods: KeyModification[]): void; reject(err: Error): void }>();
let nextHistoryId = 0;

const send = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

function replica(channel: string): Replica {
  let r = replicas.get(channel);
  if (!r) {
    const state = new MemoryState(
      (ns, key) =>
        new Promise<KeyModification[]>((resolve, reject) => {
          const id = nextHistoryId++;
          historyRequests.set(id, { resolve, reject });
          send({ type: 'history', id, channel, ns, key });
        }),
    );
    replicas.set(channel, (r = { state, height: -1 }));
  }
  return r;
}

async function main(): Promise<void> {
  const chaincode = await ChaincodeConnection.inProcess(loadChaincodeModule(chaincodeModule), chaincodeIdOf(chaincodeModule));
  port.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'snapshot': {
        const r = replica(msg.channel);
        for (const e of msg.entries) r.state.load(e.ns, e.key, buf(e.value), e.version);
        r.height = msg.height;
        if (msg.last) send({ type: 'loaded', channel: msg.channel });
        return;
      }
      case 'block': {
        const r = replica(msg.channel);
        for (const tx of msg.txs) r.state.apply(tx.namespace, tx.writes.map((w) => ({ ...w, value: buf(w.value) })), { blockNum: msg.number, txNum: tx.txNum }, tx.txId, tx.timestamp);
        r.height = msg.number;
        return;
      }
      case 'history-result': {
        const pending = historyRequests.get(msg.id);
        historyRequests.delete(msg.id);
        if (msg.error !== undefined) pending?.reject(new Error(msg.error));
        else pending?.resolve(msg.mods.map((m) => ({ ...m, value: buf(m.value) })));
        return;
      }
      case 'endorse': {
        const r = replica(msg.channel);
        // The ledger's thread checked the proposal before posting it (ChannelLedger.endorse).
        const run = { channel: msg.channel, txId: msg.txId, signedProposal: peer.SignedProposal.deserializeBinary(msg.proposal), input: peer.ChaincodeInput.deserializeBinary(msg.input) };
        simulateProposal({ namespace, chaincode, state: r.state, height: r.height }, run).then(
          (result) => {
            const bytes = packBytes(result);
            send({ type: 'endorsed', id: msg.id, result }, [bytes]);
          },
          (err: Error) => send({ type: 'endorsed', id: msg.id, error: err.message }),
        );
        return;
      }
    }
  });
  send({ type: 'ready' });
}

/**
 * Moves a simulation's byte fields (payloads, written values) into one ArrayBuffer of their own,
 * which the message then transfers instead of copying. A small Buffer is a view of Node's shared
 * 8 KiB pool, and cloning it copies the whole slab, with every message.
 */
function packBytes(result: Simulation): ArrayBuffer {
  const { response, results } = result;
  const fields: Buffer[] = [response.payload, ...(response.event ? [response.event.payload] : []), ...results.writes.map((w) => w.value)];
  const packed = Buffer.allocUnsafeSlow(fields.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  const place = (b: Buffer): Buffer => {
    b.copy(packed, offset);
    offset += b.length;
    return packed.subarray(offset - b.length, offset);
  };
  response.payload = place(response.payload);
  if (response.event) response.event.payload = place(response.event.payload);
  for (const w of results.writes) w.value = place(w.value);
  return packed.buffer as ArrayBuffer;
}

main().catch((err: Error) => {
  send({ type: 'failed', message: err.stack ?? err.message });
});
