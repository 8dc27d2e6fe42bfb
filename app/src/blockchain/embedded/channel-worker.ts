/**
 * A channel's peer on its own thread (see channel-thread.ts for the other side): a ChannelLedger
 * with its stores and its own in-process chaincode, endorsing proposals the ledger's thread
 * built and signed, then ordering and committing them. Proposals are checked against the trust
 * roots the ledger's thread sends, updated when an MSP is added.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { peer } from '@hyperledger/fabric-protos';
import { chaincodeIdOf, loadChaincodeModule } from './chaincode-module';
import { ChaincodeConnection } from './chaincode-support';
import { ChannelLedger } from './channel-ledger';
import { chainInfoOf, startProposal, type Outcome } from './channel-peer';
import { Outbox, bytesAt, type ChannelRead, type ChannelWorkerData, type FromChannel, type Packet, type ToChannel } from './channel-thread';
import { EndorserPool } from './endorser-pool';
import type { TransactionLocation } from './ledger/block-store';
import type { ChainInfo } from '../gateway';

const port = parentPort!;
const opts = workerData as ChannelWorkerData;
const outbox = new Outbox<FromChannel>((packet, transfer) => port.postMessage(packet, transfer));
let roots = opts.roots;
/** Whether the ledger's thread reads blocks as they are committed (then they go along with the notice). */
let watched = false;
/** Proposals being endorsed: a close waits until they are ordered. */
const starting = new Set<Promise<unknown>>();
let closing = false;
/** Items of received packets handled per turn of the event loop (see main). */
const RUNS_PER_TURN = 16;

async function main(): Promise<void> {
  let chaincode: ChaincodeConnection | undefined;
  let ledger: ChannelLedger | undefined;
  let endorsers: EndorserPool | undefined;
  try {
    chaincode = await ChaincodeConnection.inProcess(loadChaincodeModule(opts.chaincode), chaincodeIdOf(opts.chaincode));
    ledger = await ChannelLedger.open({ dataDir: opts.dataDir, channel: opts.channel, chaincode, namespace: opts.chaincode.name, batch: opts.batch, trustRoots: () => roots, ...(opts.ordering ? { ordering: opts.ordering } : {}) });
    if (opts.endorsers > 0) {
      endorsers = await EndorserPool.start(opts.endorsers, { chaincode: opts.chaincode }, new Map([[opts.channel, ledger.store]]));
      ledger.useEndorsers(endorsers);
    }
  } catch (err) {
    await endorsers?.close();
    await ledger?.close().catch(() => undefined);
    await chaincode?.close().catch(() => undefined);
    throw err;
  }
  const open = { ledger, chaincode, endorsers };
  void announceCommits(ledger);
  // A packet's items are taken RUNS_PER_TURN at a time, the outbox sent between turns. Endorsing a proposal is one
  // chain of microtasks, so a whole packet would be endorsed before any notice left: the ledger's thread would wait
  // for all of them before signing its clients' next proposals, and the two threads would take turns instead of
  // working together (the set's thread sat idle a quarter of the time under the pressure benchmark).
  const received: Array<[ToChannel, Packet<ToChannel>]> = [];
  let turn: NodeJS.Immediate | undefined;
  const takeTurn = () => {
    turn = undefined;
    outbox.flush();
    for (const [item, packet] of received.splice(0, RUNS_PER_TURN)) receive(open, item, packet);
    if (received.length > 0) turn = setImmediate(takeTurn);
  };
  port.on('message', (packet: Packet<ToChannel>) => {
    for (const item of packet.items) received.push([item, packet]);
    if (!turn) takeTurn();
  });
  outbox.push({ t: 'ready', height: ledger.height });
  outbox.flush();
}

/** One notice per committed block (the submits' outcomes travel in the same packet), with the block if watched. */
async function announceCommits(ledger: ChannelLedger): Promise<void> {
  for await (const block of ledger.blocks(ledger.height)) {
    const bytes = watched ? await ledger.getBlockBytes(block.number) : undefined;
    outbox.push({ t: 'committed', height: block.number + 1, ...(bytes ? { block: outbox.bytes(bytes) } : {}) });
  }
}

function receive(open: { ledger: ChannelLedger; chaincode: ChaincodeConnection; endorsers?: EndorserPool }, item: ToChannel, packet: Packet<ToChannel>): void {
  switch (item.t) {
    case 'run':
      run(open.ledger, item, bytesAt(packet, item.proposal));
      return;
    case 'roots':
      roots = item.roots;
      return;
    case 'read':
      read(open.ledger, item.read).then(
        // A reference into the packet is taken in the same step as the item is queued: the packet may leave at any await.
        (result) => outbox.push({ t: 'read', id: item.id, result: Array.isArray(result) ? result.map((b) => outbox.bytes(b)) : result }),
        (error: Error) => outbox.push({ t: 'read', id: item.id, error }),
      );
      return;
    case 'watch':
      watched = item.on;
      return;
    case 'close':
      void close(open);
      return;
  }
}

function run(ledger: ChannelLedger, { id, submit, tellOrdered }: ToChannel & { t: 'run' }, bytes: Buffer): void {
  const reply = (outcome: Outcome) => outbox.push({ t: 'outcome', id, outcome: outcome.kind === 'done' ? { ...outcome, payload: outbox.bytes(outcome.payload) } : outcome });
  const fail = (error: Error) => outbox.push({ t: 'outcome', id, error });
  if (closing) return fail(new Error(`channel ${ledger.channel} is closed`));
  const started = startProposal(ledger, peer.SignedProposal.deserializeBinary(bytes), submit, bytes);
  starting.add(started);
  started.then(
    ({ ordered, outcome }) => {
      starting.delete(started);
      if (ordered && tellOrdered) outbox.push({ t: 'ordered', id });
      outcome.then(reply, fail);
    },
    (error: Error) => {
      starting.delete(started);
      fail(error);
    },
  );
}

async function read(ledger: ChannelLedger, read: ChannelRead): Promise<ChainInfo | TransactionLocation | undefined | Buffer[]> {
  switch (read.what) {
    case 'chainInfo':
      return chainInfoOf(ledger);
    case 'transaction':
      return ledger.store.blocks.getTransaction(read.txId);
    case 'blocks': {
      const records: Buffer[] = [];
      for (let n = read.from; n < read.to; n++) records.push(await ledger.getBlockBytes(n));
      return records;
    }
  }
}

/** Orders what was endorsed, commits what is pending, closes the stores and the chaincode, then says so. */
async function close(open: { ledger: ChannelLedger; chaincode: ChaincodeConnection; endorsers?: EndorserPool }): Promise<void> {
  closing = true;
  try {
    await Promise.allSettled([...starting]);
    await open.ledger.close();
    await open.endorsers?.close();
    await open.chaincode.close();
  } finally {
    // Said even after a failure: the ledger's thread is waiting for it before it ends the thread.
    outbox.push({ t: 'closed' });
    outbox.flush();
  }
}

main().catch((error: Error) => {
  outbox.push({ t: 'failed', error });
  outbox.flush();
});
