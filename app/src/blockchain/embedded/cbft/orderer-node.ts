/**
 * One replica of the CBFT ordering service, serving every channel (one Replica and one log per
 * channel, as one Fabric orderer node serves many channels). It listens on a loopback port for
 * the other replicas and for the peers' ordering clients, signs what it sends with its key (a
 * certificate from the orderer organisation's CA) and checks every signature it receives: the
 * other replicas' against their certificates; the clients' requests by their MAC authenticators,
 * under keys shared with clients whose certificates the peer organisation's CA issued.
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import { importIdentity, isIssuedBy, signBytes, verifySignature, type Identity, type IdentityJSON } from '../identity';
import type { BatchSettings } from '../ledger/block-cutter';
import type { Envelope, Reply, RequestRef } from './messages';
import { Replica, type DecidedBlock, type Misbehaviour, type ReplicaConfig, type ReplicaEnv, type ReplicaStatus, type TimerName } from './replica';
import { ReplicaLog } from './replica-log';
import { checkAuthenticator, sharedKey } from './authenticator';
import { Link, readFrames, encodeFrame, writeCorked, type Frame } from './wire';

/** Misbehaviour a test or the simulator's real-service counterpart asks of a replica (plain data: it crosses threads). */
export interface FaultSpec {
  /** As primary, leave out this share of the transactions (chosen by txId, so the same ones each time). */
  censorShare?: number;
  equivocate?: boolean;
  /** Never answers the clients (no REPLY, no blocks fetched): its blocks reach the peers through the others. */
  mute?: boolean;
}

export interface OrdererNodeOptions {
  id: number;
  n: number;
  f: number;
  identity: IdentityJSON;
  /** Every replica's certificate, by index. */
  replicaCertificates: string[];
  /** CA certificates whose certificates may submit transactions (the peers' organisation). */
  clientRoots: string[];
  logDir: string;
  protocol: Omit<ReplicaConfig, 'channel' | 'n' | 'f' | 'batch'>;
  batch: BatchSettings;
  channelBatch?: Record<string, Partial<BatchSettings>>;
  fault?: FaultSpec;
}

interface ChannelState {
  replica: Replica;
  log: ReplicaLog;
  timers: Map<TimerName, NodeJS.Timeout>;
  clients: Set<net.Socket>;
}

/** The client id in a request: a fingerprint of the client's certificate. */
export function clientIdOf(certificate: string): string {
  return createHash('sha256').update(certificate).digest('hex').slice(0, 32);
}

export class OrdererNode {
  private readonly identity: Identity;
  private readonly channels = new Map<string, ChannelState>();
  /** Client id → the key this replica shares with it (for its requests' authenticators). */
  private readonly clients = new Map<string, Buffer>();
  private links: Array<Link | undefined> = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly encodings = new WeakMap<Envelope, [Frame, Buffer[]]>();
  private closed = false;

  private constructor(
    private readonly opts: OrdererNodeOptions,
    private readonly server: net.Server,
  ) {
    this.identity = importIdentity(opts.identity);
  }

  /** Listens on `port` (0: one the system picks; a restarted replica takes its old one back). */
  static async start(opts: OrdererNodeOptions, port = 0): Promise<{ node: OrdererNode; port: number }> {
    const server = net.createServer();
    const node = new OrdererNode(opts, server);
    server.on('connection', (socket) => node.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return { node, port: (server.address() as net.AddressInfo).port };
  }

  /** The other replicas' ports, by index (this one's is ignored). */
  connect(ports: number[]): void {
    this.links = ports.map((port, i) => (i === this.opts.id ? undefined : new Link(port, { kind: 'hello', role: 'replica', id: this.opts.id })));
  }

  /** Opens a channel's replica (its log replayed) if it is not open yet. */
  channel(name: string): ChannelState {
    let state = this.channels.get(name);
    if (state) return state;
    if (!/^[a-z][a-z0-9.-]{0,48}$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a channel name`);
    const { log, records } = ReplicaLog.open(path.join(this.opts.logDir, name));
    const timers = new Map<TimerName, NodeJS.Timeout>();
    const clients = new Set<net.Socket>();
    const env: ReplicaEnv = {
      now: () => Date.now(),
      send: (to, envelope) => this.links[to]?.send(...this.encoded(name, envelope)),
      reply: (reply) => (this.opts.fault?.mute ? undefined : this.toClients(clients, name, reply)),
      setTimer: (timer, ms) => {
        clearTimeout(timers.get(timer));
        timers.set(
          timer,
          setTimeout(() => {
            timers.delete(timer);
            if (!this.closed) state!.replica.onTimer(timer);
          }, ms),
        );
      },
      clearTimer: (timer) => {
        clearTimeout(timers.get(timer));
        timers.delete(timer);
      },
      sign: (bytes) => signBytes(this.identity, Buffer.from(bytes, 'utf8')).toString('base64'),
      verify: (replica, bytes, signature) => verifySignature(this.opts.replicaCertificates[replica], Buffer.from(bytes, 'utf8'), Buffer.from(signature, 'base64')),
      verifyRequest: (ref) => this.verifyRequest(ref),
      persist: (record) => log.append(record),
      loadBlock: (height) => log.loadBlock(height),
    };
    const config: ReplicaConfig = { ...this.opts.protocol, channel: name, n: this.opts.n, f: this.opts.f, batch: { ...this.opts.batch, ...this.opts.channelBatch?.[name] } };
    const replica = new Replica(this.opts.id, config, env, misbehaviourOf(this.opts.fault));
    replica.restore(records);
    state = { replica, log, timers, clients };
    this.channels.set(name, state);
    return state;
  }

  status(): Record<string, ReplicaStatus> {
    return Object.fromEntries([...this.channels].map(([name, s]) => [name, s.replica.status()]));
  }

  /** Which of the other replicas this one is connected to now. */
  linksUp(): boolean[] {
    return this.links.map((l, i) => i === this.opts.id || !!l?.up);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.links) l?.close();
    for (const s of this.sockets) s.destroy();
    for (const c of this.channels.values()) {
      for (const t of c.timers.values()) clearTimeout(t);
      c.log.close();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      for (const c of this.channels.values()) c.clients.delete(socket);
    });
    socket.on('error', () => undefined);
    let peer: { role: 'replica'; id: number } | { role: 'client'; channel: string } | undefined;
    readFrames(socket, (frame) => {
      if (this.closed) return;
      if (frame.kind === 'hello') {
        if (frame.role === 'replica' && Number.isInteger(frame.id) && frame.id >= 0 && frame.id < this.opts.n) peer = { role: 'replica', id: frame.id };
        else if (frame.role === 'client' && this.trustedClient(frame.certificate)) {
          const id = clientIdOf(frame.certificate);
          if (!this.clients.has(id)) this.clients.set(id, sharedKey(this.identity.privateKey, frame.certificate));
          this.channel(frame.channel).clients.add(socket);
          peer = { role: 'client', channel: frame.channel };
        } else socket.destroy();
        return;
      }
      if (!peer) return void socket.destroy();
      if (peer.role === 'replica' && frame.kind === 'envelope' && frame.envelope.from === peer.id) {
        this.channel(frame.channel).replica.onEnvelope(frame.envelope);
      } else if (peer.role === 'client' && frame.kind === 'request' && frame.channel === peer.channel) {
        this.channel(frame.channel).replica.onRequest(frame.ref, frame.payload, frame.sentTo);
      } else if (peer.role === 'client' && frame.kind === 'flush' && frame.channel === peer.channel) {
        this.channel(frame.channel).replica.onFlush();
      } else if (peer.role === 'client' && frame.kind === 'envelope' && frame.envelope.message.type === 'fetch' && !this.opts.fault?.mute) {
        this.answerFetch(socket, peer.channel, frame.envelope.message.from);
      }
    });
  }

  /** A client that fell behind (a peer restarting) asks for decided blocks from `from`. */
  private answerFetch(socket: net.Socket, channel: string, from: number | undefined): void {
    for (const envelope of this.channel(channel).replica.decidedFrom(from)) this.write(socket, { kind: 'envelope', channel, envelope });
  }

  private toClients(clients: Set<net.Socket>, channel: string, reply: Envelope<Reply>): void {
    for (const socket of clients) writeCorked(socket, this.encoded(channel, reply)[1]);
  }

  /**
   * An envelope as a frame and its encoding, made once per envelope: a replica broadcasts one
   * envelope object to every other replica (a pre-prepare carries the whole block's requests), so
   * the frame is serialized once, not once per link.
   */
  private encoded(channel: string, envelope: Envelope): [Frame, Buffer[]] {
    let done = this.encodings.get(envelope);
    if (!done) {
      const frame: Frame = { kind: 'envelope', channel, envelope };
      done = [frame, encodeFrame(frame)];
      this.encodings.set(envelope, done);
    }
    return done;
  }

  private write(socket: net.Socket, frame: Frame): void {
    writeCorked(socket, encodeFrame(frame));
  }

  private trustedClient(certificate: unknown): certificate is string {
    return typeof certificate === 'string' && this.opts.clientRoots.some((root) => isIssuedBy(certificate, root));
  }

  private verifyRequest(ref: RequestRef): boolean {
    const key = this.clients.get(ref.client);
    return !!key && checkAuthenticator(key, this.opts.id, ref.digest, ref.signature);
  }
}

function misbehaviourOf(fault: FaultSpec | undefined): Misbehaviour {
  if (!fault) return {};
  const share = fault.censorShare;
  return {
    ...(share ? { censor: (ref: RequestRef) => parseInt(ref.txId.slice(0, 8), 16) / 2 ** 32 < share } : {}),
    ...(fault.equivocate ? { equivocate: true } : {}),
  };
}

export type { DecidedBlock };
