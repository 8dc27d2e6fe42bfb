/**
 * How a replica passes on a client's request: the first replica the client sent it to relays the
 * payload, the others the reference alone, so every replica receives the bytes once; a replica
 * told of a request without its payload asks the teller when the payload does not come (its first
 * receiver may be faulty), and does not when it does.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope, Requests } from '@fund/app/dist/blockchain/embedded/cbft/messages';
import { harness, type Harness } from './support';

/** What the replica relayed to each other replica: the references, and which of them carried their payload. */
function relayed(h: Harness): Map<number, { refs: number; payloads: number }> {
  const out = new Map<number, { refs: number; payloads: number }>();
  for (const { to, envelope } of h.sent) {
    if (envelope.message.type !== 'requests') continue;
    out.set(to, { refs: envelope.message.requests.length, payloads: envelope.payloads?.size ?? 0 });
  }
  return out;
}

/** Unsigned, as relayed requests are (each carries its client's authenticator). */
function requests(from: number, message: Requests, payloads?: Map<string, Uint8Array>): Envelope {
  return { from, message, signature: '', ...(payloads ? { payloads } : {}) };
}

const fetches = (h: Harness) => h.sent.filter((s) => s.envelope.message.type === 'fetch');

describe('CBFT replica: relaying client requests', () => {
  test('the first receiver relays the payload, the other the reference alone, to the replicas the client left out', () => {
    const first = harness(1);
    const second = harness(2);
    const { ref, payload } = first.request('tx-1', first.clock.now);
    first.replica.onRequest(ref, payload, [1, 2]);
    second.replica.onRequest(ref, payload, [1, 2]);
    first.replica.onTimer('gossip');
    second.replica.onTimer('gossip');
    assert.deepEqual([...relayed(first)].sort(), [
      [0, { refs: 1, payloads: 1 }],
      [3, { refs: 1, payloads: 1 }],
    ]);
    assert.deepEqual([...relayed(second)].sort(), [
      [0, { refs: 1, payloads: 0 }],
      [3, { refs: 1, payloads: 0 }],
    ]);
  });

  test('told of a request without its payload, a replica asks the teller once the wait is over, and takes the payload it sends', () => {
    const h = harness(0);
    const { ref, payload } = h.request('tx-1', h.clock.now);
    h.replica.onEnvelope(requests(2, { type: 'requests', requests: [ref] }));
    assert.ok(h.timers.includes('payloads'));
    assert.equal(h.replica.status().pending, 0);
    h.clock.now += 200;
    h.replica.onTimer('payloads');
    assert.deepEqual(
      fetches(h).map((s) => [s.to, s.envelope.message]),
      [[2, { type: 'fetch', digests: [ref.digest] }]],
    );
    h.replica.onEnvelope(requests(2, { type: 'requests', requests: [ref] }, new Map([[ref.digest, payload]])));
    assert.equal(h.replica.status().pending, 1);
    h.clock.now += 200;
    h.replica.onTimer('payloads');
    assert.equal(fetches(h).length, 1, 'nothing more to ask for');
  });

  test('the payload from the first receiver in time: nothing is asked', () => {
    const h = harness(0);
    const { ref, payload } = h.request('tx-1', h.clock.now);
    h.replica.onEnvelope(requests(2, { type: 'requests', requests: [ref] }));
    h.replica.onEnvelope(requests(1, { type: 'requests', requests: [ref] }, new Map([[ref.digest, payload]])));
    h.clock.now += 200;
    h.replica.onTimer('payloads');
    assert.equal(fetches(h).length, 0);
    assert.equal(h.replica.status().pending, 1);
  });

  test('a teller that never answers is asked a few times, then given up on', () => {
    const h = harness(0);
    const { ref } = h.request('tx-1', h.clock.now);
    h.replica.onEnvelope(requests(3, { type: 'requests', requests: [ref] }));
    for (let i = 0; i < 10; i++) {
      h.clock.now += 200;
      h.replica.onTimer('payloads');
    }
    assert.equal(fetches(h).length, 3);
  });
});
