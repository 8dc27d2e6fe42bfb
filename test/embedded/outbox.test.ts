/**
 * The channel thread's message batching: what is pushed in one turn of the event loop leaves
 * as one packet, its byte fields packed into one ArrayBuffer that is transferred, not copied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { Outbox, bytesAt, type BytesRef, type Packet } from '@fund/app/dist/blockchain/embedded';

type Item = { n: number; bytes?: BytesRef };

test('items of one turn leave as one packet whose bytes are transferred; the next turn makes the next packet', async () => {
  const { port1, port2 } = new MessageChannel();
  const sent: ArrayBuffer[] = [];
  const outbox = new Outbox<Item>((packet, transfer) => {
    sent.push(packet.bytes);
    port1.postMessage(packet, transfer);
  });
  const small = Buffer.from('payload'); // a view of Node's shared pool: only its own bytes may travel
  outbox.push({ n: 1, bytes: outbox.bytes(small) });
  outbox.push({ n: 2 });
  outbox.push({ n: 3, bytes: outbox.bytes(new Uint8Array([1, 2, 3])) });
  assert.equal(receiveMessageOnPort(port2), undefined, 'nothing leaves before the turn ends');
  await nextTurn();
  const packet = receiveMessageOnPort(port2)!.message as Packet<Item>;
  assert.deepEqual(packet.items.map((i) => i.n), [1, 2, 3]);
  assert.equal(packet.bytes.byteLength, small.length + 3, 'only the fields, not the pool they were cut from');
  assert.equal(sent[0].byteLength, 0, 'transferred: the sender’s ArrayBuffer is detached');
  assert.deepEqual(bytesAt(packet, packet.items[0].bytes!), Buffer.from('payload'));
  assert.deepEqual(bytesAt(packet, packet.items[2].bytes!), Buffer.from([1, 2, 3]));
  assert.equal(receiveMessageOnPort(port2), undefined, 'one packet');

  outbox.push({ n: 4, bytes: outbox.bytes(Buffer.from('next')) });
  outbox.flush(); // at once, as a closing thread does
  const next = receiveMessageOnPort(port2)!.message as Packet<Item>;
  assert.deepEqual(next.items, [{ n: 4, bytes: [0, 4] }]);
  await nextTurn();
  assert.equal(receiveMessageOnPort(port2), undefined, 'an empty outbox posts nothing');
  port1.close();
});
