/**
 * Bad input to a replica changes nothing and throws nothing: what comes off a socket is whatever
 * a broken or hostile sender wrote, and a replica that threw or moved on it would hand a single
 * faulty node a way to stop or mislead an honest one. Each input is fed to a backup holding one
 * pending request; its status, the messages it sent and its log must stay as they were, and at
 * the end a genuine pre-prepare still gets its PREPARE.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { proposalDigest, type Commit, type Envelope, type Message, type PrePrepare, type Proposal } from '@fund/app/dist/blockchain/embedded/cbft/messages';
import { harness, type Harness } from './support';

// Rule 'rotate': at height 0, round 0 the primary is replica 0; the replica under test is backup 1.
const PRIMARY = 0;

function setUp(): { h: Harness; proposal: Proposal } {
  const h = harness(1, { rule: 'rotate' });
  const { ref, payload } = h.request('tx-1', h.clock.now - 50);
  h.replica.onRequest(ref, payload);
  const proposal: Proposal = { height: 0, previous: '', proposer: PRIMARY, round: 0, previousRound: 0, cutAt: h.clock.now, requests: [ref] };
  return { h, proposal };
}

/** Feeds `input` and checks that nothing moved. */
function unchanged(h: Harness, input: () => void): void {
  const before = { status: h.replica.status(), sent: h.sent.length, persisted: h.persisted.length, replies: h.replies };
  assert.doesNotThrow(input);
  assert.deepEqual(h.replica.status(), before.status);
  assert.equal(h.sent.length, before.sent, `sent ${JSON.stringify(h.sent.slice(before.sent).map((s) => s.envelope.message))}`);
  assert.equal(h.persisted.length, before.persisted);
  assert.equal(h.replies, before.replies);
}

/** Still alive: the real primary's pre-prepare gets this backup's PREPARE. */
function stillWorks(h: Harness, proposal: Proposal): void {
  h.replica.onEnvelope(h.sign<PrePrepare>(PRIMARY, { type: 'pre-prepare', height: 0, round: 0, proposal }));
  const prepares = h.sent.filter((s) => s.envelope.message.type === 'prepare');
  assert.equal(prepares.length, 3, 'a PREPARE to each of the other three replicas');
}

const cast = (x: unknown): Envelope => x as Envelope;

describe('CBFT replica: bad input changes nothing and throws nothing', () => {
  test('malformed envelopes', () => {
    const { h, proposal } = setUp();
    const prepare: Message = { type: 'prepare', height: 0, round: 0, digest: proposalDigest(proposal) };
    const good = h.sign(2, prepare);
    for (const bad of [
      null,
      undefined,
      42,
      'envelope',
      {},
      { from: 2 },
      { from: 2, message: null, signature: good.signature },
      { from: 2, message: 'prepare', signature: good.signature },
      { ...good, from: '2' },
      { ...good, from: 2.5 },
      { ...good, from: Number.NaN },
      { ...good, signature: undefined },
      { ...good, signature: 12345 },
      h.sign(2, { type: 'no-such-type' } as unknown as Message),
      h.sign(2, { type: 'prepare' } as unknown as Message),
      h.sign(2, { type: 'commit', height: 'zero', round: null, digest: 7 } as unknown as Message),
    ]) {
      unchanged(h, () => h.replica.onEnvelope(cast(bad)));
    }
    stillWorks(h, proposal);
  });

  test('signed garbage from a replica with a valid key', () => {
    const { h, proposal } = setUp();
    const garbage: unknown[] = [
      { type: 'pre-prepare', height: 0, round: 0, proposal: null },
      { type: 'pre-prepare', height: 0, round: 0 },
      { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, requests: 'all of them' } },
      { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, requests: [null] } },
      { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, cutAt: 'now' } },
      { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, previousRound: 'first' } },
      { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, previousRound: 1 } },
      { type: 'pre-prepare', height: 0, round: 0, proposal, previousCommit: [null, 'x'] },
      { type: 'pre-prepare', height: 0, round: 0, proposal, previousCommit: 'all of them' },
      { type: 'pre-prepare', height: 0, round: -1, proposal },
      { type: 'pre-prepare', height: Number.POSITIVE_INFINITY, round: 0, proposal },
      { type: 'new-view', height: 0, round: 1, viewChanges: null, prePrepare: null },
      { type: 'new-view', height: 0, round: 1, viewChanges: [null, 3], prePrepare: { from: 1 } },
      { type: 'view-change', height: 0, round: 1, reason: 'timeout', prepared: {} },
      { type: 'view-change', height: 0, round: 1, reason: 'timeout', prepared: { prePrepare: { from: 0, message: null }, prepares: 'x' } },
      { type: 'view-change', height: 0, round: 'one', reason: 'timeout' },
      { type: 'checkpoint', height: 'sixteen', digest: null },
      { type: 'requests', requests: null },
      { type: 'requests', requests: [null, 1, 'x'] },
      { type: 'fetch', digests: 'abc' },
      { type: 'fetch', digests: [null, 1], from: -3 },
      { type: 'fetch', from: 1e12 },
      { type: 'decided', proposal: null, certificate: null },
      { type: 'decided', proposal: { ...proposal, requests: null }, certificate: [] },
      { type: 'reply', height: 0, digest: 'x', proposal: null },
    ];
    for (const message of garbage) unchanged(h, () => h.replica.onEnvelope(h.sign(PRIMARY, message as Message)));
    // Replica 2 sends the same garbage: not the primary, no better.
    for (const message of garbage) unchanged(h, () => h.replica.onEnvelope(h.sign(2, message as Message)));
    stillWorks(h, proposal);
  });

  test('at height 1: garbage where the proof of the previous block round goes', () => {
    // Replica 2 decides block 0 from a genuine certificate; under 'rotate' replica 1 leads height 1.
    const h = harness(2, { rule: 'rotate' });
    const { ref, payload } = h.request('tx-1', h.clock.now - 50);
    h.replica.onRequest(ref, payload);
    const block0: Proposal = { height: 0, previous: '', proposer: 0, round: 0, previousRound: 0, cutAt: h.clock.now, requests: [ref] };
    const digest0 = proposalDigest(block0);
    const certificate = [0, 1, 3].map((from) => h.sign<Commit>(from, { type: 'commit', height: 0, round: 0, digest: digest0 }));
    h.replica.onEnvelope(h.sign(0, { type: 'decided', proposal: block0, certificate }));
    assert.equal(h.replica.decidedHeight, 1);
    const next = h.request('tx-2', h.clock.now - 50);
    h.replica.onRequest(next.ref, next.payload);
    const block1: Proposal = { height: 1, previous: digest0, proposer: 1, round: 0, previousRound: 0, cutAt: h.clock.now, requests: [next.ref] };
    for (const previousCommit of [[null, 1, 'x'], [{ from: 0 }], 'certificate', [...certificate.slice(0, 2), { ...certificate[2], message: null }], certificate.slice(0, 2)]) {
      unchanged(h, () => h.replica.onEnvelope(h.sign(1, { type: 'pre-prepare', height: 1, round: 0, proposal: block1, previousCommit } as unknown as Message)));
    }
    // The genuine proof is taken.
    h.replica.onEnvelope(h.sign<PrePrepare>(1, { type: 'pre-prepare', height: 1, round: 0, proposal: block1, previousCommit: certificate }));
    assert.ok(h.sent.some((s) => s.envelope.message.type === 'prepare' && s.envelope.message.height === 1));
  });

  test('wrong signatures', () => {
    const { h, proposal } = setUp();
    const pp: PrePrepare = { type: 'pre-prepare', height: 0, round: 0, proposal };
    const byTwo = h.sign(2, pp);
    const other = h.sign(PRIMARY, { ...pp, proposal: { ...proposal, cutAt: proposal.cutAt + 1 } });
    for (const bad of [
      { ...byTwo, from: PRIMARY }, // replica 2's signature, claimed as the primary's
      { ...other, message: pp }, // the primary's signature over another block
      { from: PRIMARY, message: pp, signature: '' },
      { ...h.sign(PRIMARY, pp), message: { ...pp, round: 0, height: 0, proposal: { ...proposal, requests: [] } } },
    ]) {
      unchanged(h, () => h.replica.onEnvelope(cast(bad)));
    }
    stillWorks(h, proposal);
  });

  test('senders out of range, and this replica itself', () => {
    const { h, proposal } = setUp();
    const pp: PrePrepare = { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, proposer: 4 } };
    for (const from of [4, 5, 99, -1, 2 ** 31, 1]) {
      unchanged(h, () => h.replica.onEnvelope(h.sign(from, { ...pp, proposal: { ...proposal, proposer: from } })));
      unchanged(h, () => h.replica.onEnvelope(h.sign(from, { type: 'commit', height: 0, round: 0, digest: proposalDigest(proposal) })));
      unchanged(h, () => h.replica.onEnvelope(h.sign(from, { type: 'view-change', height: 0, round: 1, reason: 'timeout' })));
    }
    stillWorks(h, proposal);
  });

  test('forged commit certificates', () => {
    const { h, proposal } = setUp();
    const digest = proposalDigest(proposal);
    const commit = (from: number, over: Partial<Commit> = {}) => h.sign<Commit>(from, { type: 'commit', height: 0, round: 0, digest, ...over });
    const forged = (from: number) => ({ ...commit(from), signature: commit(3).signature });
    const certificates: unknown[] = [
      [forged(0), forged(2), commit(3)], // two signatures that are not theirs
      [commit(2), commit(2), commit(2)], // one replica three times
      [commit(2), commit(3)], // 2f, not 2f+1
      [commit(0), commit(2), commit(3, { digest: 'f'.repeat(64) })], // one commit for another block
      [commit(0), commit(2), commit(3, { round: 1 })], // commits from different rounds
      [commit(0), commit(2), commit(3, { height: 1 })],
      [commit(4), commit(5), commit(6)], // replicas that do not exist
      [commit(0), commit(2), { ...commit(3), message: { type: 'prepare', height: 0, round: 0, digest } }],
      [null, undefined, 7],
      null,
      'certificate',
      {},
    ];
    for (const certificate of certificates) {
      unchanged(h, () => h.replica.onEnvelope(h.sign(2, { type: 'decided', proposal, certificate } as unknown as Message)));
    }
    // A genuine certificate for a block other than the one the certificate names.
    const wrongBlock = { ...proposal, requests: [] };
    unchanged(h, () => h.replica.onEnvelope(h.sign(2, { type: 'decided', proposal: wrongBlock, certificate: [commit(0), commit(2), commit(3)] })));
    stillWorks(h, proposal);
  });

  test('a pre-prepare from a replica that is not the primary', () => {
    const { h, proposal } = setUp();
    for (const from of [2, 3]) {
      unchanged(h, () => h.replica.onEnvelope(h.sign<PrePrepare>(from, { type: 'pre-prepare', height: 0, round: 0, proposal: { ...proposal, proposer: from } })));
      // …nor the primary's block passed on by someone else under its own name.
      unchanged(h, () => h.replica.onEnvelope(h.sign<PrePrepare>(from, { type: 'pre-prepare', height: 0, round: 0, proposal })));
      // …nor a new view from the wrong primary of round 1 (rotate: replica 1 itself leads round 1 at height 0).
      const prePrepare = h.sign<PrePrepare>(from, { type: 'pre-prepare', height: 0, round: 1, proposal: { ...proposal, proposer: from, round: 1 } });
      const viewChanges = [0, 2, 3].map((v) => h.sign(v, { type: 'view-change', height: 0, round: 1, reason: 'timeout' as const }));
      unchanged(h, () => h.replica.onEnvelope(h.sign(from, { type: 'new-view', height: 0, round: 1, viewChanges, prePrepare })));
    }
    stillWorks(h, proposal);
  });

  test('requests with a wrong digest, size or client signature', () => {
    const h = harness(1, { rule: 'rotate' });
    const { ref, payload } = h.request('tx-1', h.clock.now - 50);
    const other = Buffer.from('another payload');
    const inputs: Array<[unknown, unknown]> = [
      [ref, other], // the payload is not the one the digest names
      [{ ...ref, digest: 'a'.repeat(64) }, payload],
      [{ ...ref, size: ref.size + 1 }, payload],
      [{ ...ref, signature: h.request('tx-2', ref.timestamp).ref.signature }, payload], // the client signed something else
      [{ ...ref, client: 'someone-else' }, payload],
      [{ ...ref, timestamp: ref.timestamp + 1 }, payload],
      [{ ...ref, timestamp: Number.NaN }, payload],
      [{ ...ref, txId: 'x'.repeat(500) }, payload],
      [{ ...ref, txId: 7 }, payload],
      [null, payload],
      [ref, null],
      [ref, 'payload of tx-1'],
    ];
    for (const [r, p] of inputs) unchanged(h, () => h.replica.onRequest(r as typeof ref, p as Uint8Array));
    assert.equal(h.replica.status().pending, 0);
    assert.deepEqual(h.timers, []);
    // The same, passed on by another replica in a REQUESTS message.
    for (const [r, p] of inputs) {
      const payloads = new Map([[(r as typeof ref | null)?.digest ?? 'x', p as Uint8Array]]);
      unchanged(h, () => h.replica.onEnvelope({ ...h.sign(2, { type: 'requests', requests: [r as typeof ref] }), payloads }));
    }
    assert.equal(h.replica.status().pending, 0);
    // And the genuine request is taken.
    h.replica.onRequest(ref, payload);
    assert.equal(h.replica.status().pending, 1);
  });
});
