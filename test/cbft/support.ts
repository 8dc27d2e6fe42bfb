/**
 * One CBFT replica on a recording environment, for feeding it messages by hand: HMAC signatures
 * with a secret per replica (as the simulator's), a clock the test moves, and every send, timer
 * and log record kept for the assertions.
 */
import { createHmac } from 'node:crypto';
import { requestDigest, signingBytes, type Envelope, type Message, type RequestRef, type Signed } from '@fund/app/dist/blockchain/embedded/cbft/messages';
import { DEFAULT_REPLICA_CONFIG, Replica, type LogRecord, type Misbehaviour, type ReplicaConfig, type TimerName } from '@fund/app/dist/blockchain/embedded/cbft/replica';

export const CHANNEL = 'test';
const mac = (key: string, bytes: string): string => createHmac('sha256', key).update(bytes).digest('base64');
const keyOf = (replica: number): string => `replica-${replica}-key`;

export interface Harness {
  replica: Replica;
  config: ReplicaConfig;
  sent: Array<{ to: number; envelope: Envelope }>;
  replies: number;
  persisted: LogRecord[];
  timers: TimerName[];
  clock: { now: number };
  /** A message as replica `from` signs it (any index: the harness holds every key). */
  sign<M extends Message>(from: number, message: M): Signed<M>;
  /** A client request, signed by the client. */
  request(txId: string, timestamp: number, body?: string): { ref: RequestRef; payload: Uint8Array };
}

export function harness(id: number, overrides: Partial<ReplicaConfig> = {}, misbehaviour: Misbehaviour = {}): Harness {
  const config: ReplicaConfig = { ...DEFAULT_REPLICA_CONFIG, channel: CHANNEL, n: 4, f: 1, batch: { maxMessageCount: 10, batchTimeoutMs: 200, preferredMaxBytes: 1 << 20 }, ...overrides };
  const clock = { now: 10_000 };
  const h: Omit<Harness, 'replica'> & { replica?: Replica } = {
    config,
    sent: [],
    replies: 0,
    persisted: [],
    timers: [],
    clock,
    sign: (from, message) => ({ from, message, signature: mac(keyOf(from), signingBytes(CHANNEL, message)) }),
    request: (txId, timestamp, body = `payload of ${txId}`) => {
      const payload = Buffer.from(body);
      const digest = requestDigest(txId, timestamp, payload);
      return { ref: { txId, timestamp, size: payload.byteLength, digest, client: 'client', signature: mac('client', digest) }, payload };
    },
  };
  h.replica = new Replica(
    id,
    config,
    {
      now: () => clock.now,
      send: (to, envelope) => void h.sent.push({ to, envelope }),
      reply: () => void h.replies++,
      setTimer: (name) => void h.timers.push(name),
      clearTimer: () => undefined,
      sign: (bytes) => mac(keyOf(id), bytes),
      verify: (replica, bytes, signature) => mac(keyOf(replica), bytes) === signature,
      verifyRequest: (ref) => ref.client === 'client' && mac('client', ref.digest) === ref.signature,
      persist: (record) => void h.persisted.push(record),
      loadBlock: () => undefined,
    },
    misbehaviour,
  );
  return h as Harness;
}
