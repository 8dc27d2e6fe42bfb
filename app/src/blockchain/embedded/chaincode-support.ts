/**
 * The peer side of Fabric's chaincode stream protocol (core/chaincode/handler.go), so our
 * chaincode runs through fabric-shim's real ChaincodeMessageHandler, ChaincodeStub and
 * contract dispatch — in-process over an in-memory pipe, or out-of-process as
 * chaincode-as-a-service over gRPC, exactly as a peer would drive it.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ledger, peer } from '@hyperledger/fabric-protos';
import type { ChaincodeInterface, ChaincodeStub } from 'fabric-shim';
import { toTimestamp } from './proposal';
import type { KeyModification, RangeIterator, TxSimulator } from './simulator';

const T = peer.ChaincodeMessage.Type;
type MessageType = peer.ChaincodeMessage.TypeMap[keyof peer.ChaincodeMessage.TypeMap];
const TYPE_NAMES = new Map<number, string>(Object.entries(T).map(([name, n]) => [n as number, name]));

/** Fabric's handler.go batches query results 100 at a time (maxResultLimit). */
const DEFAULT_PAGE_SIZE = 100;
/** Fabric's default core.ledger.state.totalQueryLimit, the cap for one paginated page. */
const TOTAL_QUERY_LIMIT = 100_000;
/** Fabric's default chaincode.executetimeout. */
const DEFAULT_EXECUTE_TIMEOUT_MS = 30_000;

export const RICH_QUERY_UNSUPPORTED = 'rich queries are not supported by the LevelDB state database';

/** The part of a bidirectional message stream both transports (pipe, gRPC call) provide. */
export interface ChaincodeMessageStream {
  write(msg: peer.ChaincodeMessage): unknown;
  end(): unknown;
  on(event: 'data', listener: (msg: peer.ChaincodeMessage) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export interface ExecuteRequest {
  channel: string;
  txId: string;
  signedProposal: peer.SignedProposal;
  input: peer.ChaincodeInput;
}

export interface ExecuteOptions {
  /** Send INIT instead of TRANSACTION (and set ChaincodeInput.is_init). */
  isInit?: boolean;
  timeoutMs?: number;
}

export interface ChaincodeEvent {
  name: string;
  payload: Buffer;
}

export interface ChaincodeResult {
  status: number;
  message: string;
  payload: Buffer;
  event?: ChaincodeEvent;
}

export interface ConnectionOptions {
  /** Results per QueryResponse batch for range/history iterators (Fabric: 100). */
  pageSize?: number;
  /** Default per-transaction timeout (Fabric's executetimeout, 30s). */
  executeTimeoutMs?: number;
}

export interface GrpcConnectOptions extends ConnectionOptions {
  /** Expected package id; the chaincode's REGISTER must carry exactly this name. */
  ccid: string;
  /** Mutual TLS as the peer does it: trust root for the server plus the peer's client pair. */
  tls?: { rootCert: string | Buffer; clientKey?: string | Buffer; clientCert?: string | Buffer; serverNameOverride?: string };
  /** How long to wait for the server to accept the connection and register (default 10s). */
  connectTimeoutMs?: number;
  grpcOptions?: grpc.ChannelOptions;
}

/** Per-transaction state (Fabric's TransactionContext). */
interface TxContext {
  channel: string;
  txId: string;
  simulator: TxSimulator;
  /** Requests of one transaction are answered strictly in order: the shim matches replies to its queue head. */
  queue: Promise<void>;
  cursors: Map<string, QueryCursor>;
  resolve(result: ChaincodeResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  finished: boolean;
}

export class ChaincodeConnection {
  private state: 'created' | 'ready' | 'closed' = 'created';
  private readonly contexts = new Map<string, TxContext>();
  private readonly pageSize: number;
  private readonly executeTimeoutMs: number;
  private registeredName = '';
  private readonly registered: Promise<void>;
  private settleRegistration!: (err?: Error) => void;
  /** In-process only: the shim's handler and chaincode, so a transaction is dispatched by call (see invokeDirectly). */
  private direct: DirectDispatch | undefined;

  private constructor(
    private readonly stream: ChaincodeMessageStream,
    private readonly expectedId: string,
    opts: ConnectionOptions,
    private readonly onClose: () => void,
  ) {
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    this.executeTimeoutMs = opts.executeTimeoutMs ?? DEFAULT_EXECUTE_TIMEOUT_MS;
    this.registered = new Promise<void>((resolve, reject) => {
      this.settleRegistration = (err) => (err ? reject(err) : resolve());
    });
    this.registered.catch(() => undefined); // observed by the factories; avoid unhandled rejections
    stream.on('data', (msg) => this.onMessage(msg));
    stream.on('error', (err) => this.shutdown(new Error(`chaincode stream failed: ${err.message}`)));
    stream.on('end', () => this.shutdown(new Error('chaincode stream ended')));
  }

  /**
   * Runs a chaincode object (e.g. from loadContractChaincode) in this process through
   * fabric-shim's ChaincodeMessageHandler, started like server.js's connect() does.
   * The transaction itself and the chaincode's state requests and queries go by direct call
   * (see invokeDirectly and DirectState); what still travels (registration, the requests this
   * peer refuses) crosses an in-memory pipe as protobuf objects, without re-encoding.
   */
  static async inProcess(chaincode: ChaincodeInterface, chaincodeId: string, opts: ConnectionOptions = {}): Promise<ChaincodeConnection> {
    // Loaded lazily so callers can set CORE_CHAINCODE_LOGGING_LEVEL before fabric-shim's loggers exist.
    const { ChaincodeMessageHandler } = require('fabric-shim/lib/handler');
    const [peerEnd, chaincodeEnd] = createPipe();
    const conn = new ChaincodeConnection(peerEnd, chaincodeId, opts, () => peerEnd.end());
    const guarded = guardChaincode(chaincode);
    const handler = new (withDirectState(ChaincodeMessageHandler, conn))(chaincodeEnd, guarded);
    conn.direct = { handler, chaincode: guarded };
    const register = new peer.ChaincodeMessage();
    register.setType(T.REGISTER);
    register.setPayload(chaincodeIdBytes(chaincodeId));
    handler.chat(register);
    await conn.registered;
    return conn;
  }

  /**
   * Chaincode-as-a-service: like a peer, dial the chaincode's gRPC server, open the
   * protos.Chaincode/Connect stream and wait for its REGISTER.
   */
  static async grpc(address: string, opts: GrpcConnectOptions): Promise<ChaincodeConnection> {
    const credentials = opts.tls
      ? grpc.credentials.createSsl(
          Buffer.from(opts.tls.rootCert),
          opts.tls.clientKey ? Buffer.from(opts.tls.clientKey) : null,
          opts.tls.clientCert ? Buffer.from(opts.tls.clientCert) : null,
        )
      : grpc.credentials.createInsecure();
    const channelOptions: grpc.ChannelOptions = {
      // Fabric's peer defaults: 100 MiB messages both ways.
      'grpc.max_send_message_length': 100 * 1024 * 1024,
      'grpc.max_receive_message_length': 100 * 1024 * 1024,
      ...(opts.tls?.serverNameOverride
        ? { 'grpc.ssl_target_name_override': opts.tls.serverNameOverride, 'grpc.default_authority': opts.tls.serverNameOverride }
        : {}),
      ...opts.grpcOptions,
    };
    const client = new peer.ChaincodeClient(address, credentials, channelOptions);
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    try {
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + timeoutMs, (err) =>
          err ? reject(new Error(`cannot reach chaincode server at ${address}: ${err.message}`)) : resolve(),
        ),
      );
      const call = client.connect();
      const conn = new ChaincodeConnection(call, opts.ccid, opts, () => {
        call.end();
        client.close();
      });
      const timer = setTimeout(
        () => conn.shutdown(new Error(`chaincode at ${address} did not register within ${timeoutMs}ms`)),
        timeoutMs,
      );
      try {
        await conn.registered;
      } finally {
        clearTimeout(timer);
      }
      return conn;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** The name the chaincode registered with (its package id). */
  get chaincodeId(): string {
    return this.registeredName;
  }

  /**
   * Sends TRANSACTION (or INIT) and serves the chaincode's state requests from `simulator`
   * until it answers COMPLETED or ERROR. Concurrent calls are fine; each (channel, txId)
   * pair may only run once at a time, as on a peer.
   */
  execute(req: ExecuteRequest, simulator: TxSimulator, opts: ExecuteOptions = {}): Promise<ChaincodeResult> {
    if (this.state !== 'ready') return Promise.reject(new Error(`chaincode connection is ${this.state}`));
    const key = contextKey(req.channel, req.txId);
    if (this.contexts.has(key)) return Promise.reject(new Error(`txid: ${req.txId}(${req.channel}) exists`));

    let input = req.input;
    if (opts.isInit) {
      input = peer.ChaincodeInput.deserializeBinary(req.input.serializeBinary());
      input.setIsInit(true);
    }

    return new Promise<ChaincodeResult>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.executeTimeoutMs;
      const ctx: TxContext = {
        channel: req.channel,
        txId: req.txId,
        simulator,
        queue: Promise.resolve(),
        cursors: new Map(),
        resolve,
        reject,
        finished: false,
        timer: setTimeout(() => this.fail(ctx, new Error(`timeout expired while executing transaction ${req.txId}`)), timeoutMs),
      };
      this.contexts.set(key, ctx);
      if (this.direct) {
        void this.invokeDirectly(this.direct, ctx, input, req.signedProposal, opts.isInit === true);
        return;
      }
      const msg = message(opts.isInit ? T.INIT : T.TRANSACTION, req.channel, req.txId, input.serializeBinary());
      msg.setProposal(req.signedProposal);
      this.send(msg);
    });
  }

  /**
   * What handler.js's handleMessage does with a TRANSACTION or INIT message, minus the message
   * and its logging: the shim's own ChaincodeStub over this transaction, the contract dispatch,
   * and the response and event it would have sent back in COMPLETED (or ERROR, if no stub).
   */
  private async invokeDirectly(direct: DirectDispatch, ctx: TxContext, input: peer.ChaincodeInput, signedProposal: peer.SignedProposal, isInit: boolean): Promise<void> {
    let stub: ChaincodeStub & { chaincodeEvent?: peer.ChaincodeEvent };
    try {
      stub = new (shimStub())(direct.handler, ctx.channel, ctx.txId, input, signedProposal);
    } catch (err) {
      this.enqueue(ctx, () => this.settle(ctx, failedResult(String(err))));
      return;
    }
    const resp = await (isInit ? direct.chaincode.Init(stub) : direct.chaincode.Invoke(stub));
    let result: ChaincodeResult;
    if (!resp || !resp.status) {
      const method = isInit ? 'Init' : 'Invoke';
      result = { status: 500, message: `[${ctx.channel}-${ctx.txId.substring(0, 8)}] Calling chaincode ${method}() has not called success or error.`, payload: Buffer.alloc(0) };
    } else {
      result = { status: resp.status, message: resp.message ?? '', payload: resp.payload ? Buffer.from(resp.payload) : Buffer.alloc(0) };
      const ev = stub.chaincodeEvent;
      if (ev && ev.getEventName()) result.event = { name: ev.getEventName(), payload: Buffer.from(ev.getPayload_asU8()) };
    }
    // Requests still queued (an un-awaited range, say) land before the results are read, as for COMPLETED.
    this.enqueue(ctx, () => this.settle(ctx, result));
  }

  async close(): Promise<void> {
    this.shutdown(new Error('chaincode connection closed'));
  }

  // -------------------------------------------------------------------------------------

  private onMessage(msg: peer.ChaincodeMessage): void {
    try {
      if (this.state === 'created') this.onHandshakeMessage(msg);
      else if (this.state === 'ready') this.onTransactionMessage(msg);
    } catch (err) {
      // Never let a malformed message escape into the stream's event loop.
      this.shutdown(new Error(`chaincode protocol failure: ${(err as Error).message}`));
    }
  }

  private onHandshakeMessage(msg: peer.ChaincodeMessage): void {
    // Like Fabric, a failed handshake just drops the stream: no ERROR message is sent, and
    // that matters here because handler.js answers an out-of-state message with a plain
    // object (newErrorMsg), which a gRPC stream cannot serialise.
    if (msg.getType() !== T.REGISTER) {
      this.shutdown(new Error(`peer cannot handle ${typeName(msg.getType())} while waiting for REGISTER`));
      return;
    }
    const name = peer.ChaincodeID.deserializeBinary(msg.getPayload_asU8()).getName();
    if (this.expectedId && name !== this.expectedId) {
      this.shutdown(new Error(`chaincode registered as "${name}", expected "${this.expectedId}"`));
      return;
    }
    this.registeredName = name;
    // handler.go HandleRegister: REGISTERED, then READY once the registry has the handler.
    this.send(message(T.REGISTERED, '', ''));
    this.send(message(T.READY, '', ''));
    this.state = 'ready';
    this.settleRegistration();
  }

  private onTransactionMessage(msg: peer.ChaincodeMessage): void {
    const type = msg.getType();
    if (type === T.KEEPALIVE) return;
    const ctx = this.contexts.get(contextKey(msg.getChannelId(), msg.getTxid()));
    if (!ctx) {
      // Late or stray message: Fabric answers with an ERROR for the unknown transaction context.
      if (type !== T.COMPLETED && type !== T.ERROR) {
        this.send(message(T.ERROR, msg.getChannelId(), msg.getTxid(), requestFailed(typeName(type), msg.getTxid(), 'no ongoing transaction')));
      }
      return;
    }
    if (type === T.COMPLETED || type === T.ERROR) {
      // Let requests still queued (e.g. an un-awaited putState) land before the results are read.
      this.enqueue(ctx, () => this.complete(ctx, msg));
      return;
    }
    this.enqueue(ctx, async () => {
      if (ctx.finished) return;
      let reply: peer.ChaincodeMessage;
      try {
        reply = message(T.RESPONSE, ctx.channel, ctx.txId, await this.serve(ctx, type, msg.getPayload_asU8()));
      } catch (err) {
        reply = message(T.ERROR, ctx.channel, ctx.txId, requestFailed(typeName(type), ctx.txId, (err as Error).message));
      }
      if (!ctx.finished) this.send(reply);
    });
  }

  /** Appends to the transaction's serial queue; an unexpected failure fails the transaction. */
  private enqueue(ctx: TxContext, step: () => Promise<void>): void {
    ctx.queue = ctx.queue.then(step).catch((err: unknown) => this.fail(ctx, err instanceof Error ? err : new Error(String(err))));
  }

  /** Serves one state request; returns the RESPONSE payload or throws for an ERROR reply. */
  private async serve(ctx: TxContext, type: MessageType, payload: Uint8Array): Promise<Uint8Array> {
    const sim = ctx.simulator;
    switch (type) {
      case T.GET_STATE: {
        const req = peer.GetState.deserializeBinary(payload);
        return this.getState(ctx, req.getCollection(), req.getKey());
      }
      case T.PUT_STATE: {
        const req = peer.PutState.deserializeBinary(payload);
        return this.putState(ctx, req.getCollection(), req.getKey(), req.getValue_asU8());
      }
      case T.DEL_STATE: {
        const req = peer.DelState.deserializeBinary(payload);
        return this.deleteState(ctx, req.getCollection(), req.getKey());
      }
      case T.GET_STATE_BY_RANGE: {
        const req = peer.GetStateByRange.deserializeBinary(payload);
        return (await this.queryRange(ctx, req.getCollection(), req.getStartkey(), req.getEndkey(), req.getMetadata_asU8())).serializeBinary();
      }
      case T.QUERY_STATE_NEXT:
        return (await this.queryNext(ctx, peer.QueryStateNext.deserializeBinary(payload).getId())).serializeBinary();
      case T.QUERY_STATE_CLOSE:
        return (await this.queryClose(ctx, peer.QueryStateClose.deserializeBinary(payload).getId())).serializeBinary();
      case T.GET_HISTORY_FOR_KEY:
        return (await this.queryHistory(ctx, peer.GetHistoryForKey.deserializeBinary(payload).getKey())).serializeBinary();
      case T.GET_STATE_METADATA: {
        const req = peer.GetStateMetadata.deserializeBinary(payload);
        publicOnly(req.getCollection());
        await sim.getStateMetadata(req.getKey());
        return new peer.StateMetadataResult().serializeBinary(); // no metadata is ever stored
      }
      case T.PUT_STATE_METADATA:
        throw new Error('state metadata (key-level endorsement policies) is not supported by the embedded peer');
      case T.GET_QUERY_RESULT:
        throw new Error(RICH_QUERY_UNSUPPORTED);
      case T.GET_PRIVATE_DATA_HASH:
      case T.PURGE_PRIVATE_DATA:
        throw new Error('private data collections are not supported by the embedded peer');
      case T.INVOKE_CHAINCODE:
        throw new Error('chaincode-to-chaincode invocation is not supported by the embedded peer');
      default:
        throw new Error(`unexpected message type ${typeName(type)}`);
    }
  }

  private async getState(ctx: TxContext, collection: string, key: string): Promise<Uint8Array> {
    publicOnly(collection);
    return (await ctx.simulator.getState(key)) ?? new Uint8Array(0);
  }

  private putState(ctx: TxContext, collection: string, key: string, value: Uint8Array): Uint8Array {
    publicOnly(collection);
    ctx.simulator.putState(key, value);
    return new Uint8Array(0);
  }

  private deleteState(ctx: TxContext, collection: string, key: string): Uint8Array {
    publicOnly(collection);
    ctx.simulator.deleteState(key);
    return new Uint8Array(0);
  }

  /**
   * A point request of an in-process chaincode, answered as serve() would answer its message:
   * the RESPONSE payload as the shim returns it, or the shim's Error for an ERROR reply.
   */
  answerDirectly(
    type: 'GET_STATE' | 'PUT_STATE' | 'DEL_STATE',
    channel: string,
    txId: string,
    collection: string,
    key: string,
    value?: Uint8Array,
  ): Promise<Buffer> {
    return this.inTransaction(type, channel, txId, async (ctx) => {
      if (type === 'GET_STATE') return Buffer.from(await this.getState(ctx, collection, key));
      if (type === 'PUT_STATE') return Buffer.from(this.putState(ctx, collection, key, value ?? new Uint8Array(0)));
      return Buffer.from(this.deleteState(ctx, collection, key));
    });
  }

  /** A query of an in-process chaincode, answered as serve() would: the QueryResponse, or the shim's Error for an ERROR reply. */
  queryDirectly(channel: string, txId: string, query: DirectQuery): Promise<peer.QueryResponse> {
    return this.inTransaction(QUERY_MESSAGE[query.type], channel, txId, (ctx) => {
      switch (query.type) {
        case 'range':
          return this.queryRange(ctx, query.collection, query.startKey, query.endKey, query.metadata);
        case 'next':
          return this.queryNext(ctx, query.id);
        case 'close':
          return this.queryClose(ctx, query.id);
        case 'history':
          return this.queryHistory(ctx, query.key);
      }
    });
  }

  /** Runs a direct request in its transaction's context; a failure reads as the ERROR reply to `type` would. */
  private async inTransaction<T>(type: string, channel: string, txId: string, run: (ctx: TxContext) => Promise<T>): Promise<T> {
    try {
      const ctx = this.contexts.get(contextKey(channel, txId));
      if (!ctx || ctx.finished) throw new Error('no ongoing transaction');
      return await run(ctx);
    } catch (err) {
      throw new Error(requestFailed(type, txId, (err as Error).message));
    }
  }

  // The queries, answered with the QueryResponse the peer sends (see serve) or the in-process handler takes as it is.

  private async queryRange(ctx: TxContext, collection: string, startKey: string, endKey: string, metaBytes: Uint8Array | undefined): Promise<peer.QueryResponse> {
    publicOnly(collection);
    const meta = metaBytes && metaBytes.length > 0 ? peer.QueryMetadata.deserializeBinary(metaBytes) : undefined;
    const paginated = meta !== undefined && (meta.getPagesize() > 0 || meta.getBookmark() !== '');
    const ns = ctx.simulator.namespace;
    const id = randomUUID();

    if (!paginated) {
      const it = ctx.simulator.getStateByRange(startKey, endKey);
      const cursor = new QueryCursor(
        async () => {
          const kv = await it.next();
          return kv && encodeKV(ns, kv.key, kv.value);
        },
        () => it.close(),
      );
      ctx.cursors.set(id, cursor);
      return this.nextBatch(ctx, id, cursor);
    }

    // Paginated: the whole page goes back in one response with a bookmark, and the
    // iterator is closed right away (Fabric's GetBookmarkAndClose).
    const pageSize = Math.min(meta.getPagesize() > 0 ? meta.getPagesize() : TOTAL_QUERY_LIMIT, TOTAL_QUERY_LIMIT);
    const it: RangeIterator = ctx.simulator.getStateByRange(startKey, endKey, {
      pageSize,
      bookmark: meta.getBookmark(),
    });
    const results: peer.QueryResultBytes[] = [];
    try {
      for (let kv = await it.next(); kv; kv = await it.next()) results.push(resultBytes(encodeKV(ns, kv.key, kv.value)));
    } finally {
      await it.close();
    }
    const md = new peer.QueryResponseMetadata();
    md.setFetchedRecordsCount(results.length);
    md.setBookmark(it.bookmark);
    const resp = queryResponse(id, results, false);
    resp.setMetadata(md.serializeBinary());
    return resp;
  }

  private async queryNext(ctx: TxContext, id: string): Promise<peer.QueryResponse> {
    const cursor = ctx.cursors.get(id);
    if (!cursor) throw new Error(`query iterator ${id} not found`);
    return this.nextBatch(ctx, id, cursor);
  }

  private async queryClose(ctx: TxContext, id: string): Promise<peer.QueryResponse> {
    // Closing an unknown/exhausted iterator is not an error in Fabric either.
    await this.closeCursor(ctx, id);
    return queryResponse(id, [], false);
  }

  private async queryHistory(ctx: TxContext, key: string): Promise<peer.QueryResponse> {
    const mods = await ctx.simulator.getHistoryForKey(key);
    let i = 0;
    const cursor = new QueryCursor(
      async () => (i < mods.length ? encodeKeyModification(mods[i++]) : undefined),
      async () => undefined,
    );
    const id = randomUUID();
    ctx.cursors.set(id, cursor);
    return this.nextBatch(ctx, id, cursor);
  }

  /** One QueryResponse batch; exhausted cursors are cleaned up as Fabric's builder does. */
  private async nextBatch(ctx: TxContext, id: string, cursor: QueryCursor): Promise<peer.QueryResponse> {
    const { items, hasMore } = await cursor.nextBatch(this.pageSize);
    if (!hasMore) await this.closeCursor(ctx, id);
    return queryResponse(id, items.map(resultBytes), hasMore);
  }

  private async closeCursor(ctx: TxContext, id: string): Promise<void> {
    const cursor = ctx.cursors.get(id);
    if (!cursor) return;
    ctx.cursors.delete(id);
    await cursor.close();
  }

  private async complete(ctx: TxContext, msg: peer.ChaincodeMessage): Promise<void> {
    let result: ChaincodeResult;
    if (msg.getType() === T.COMPLETED) {
      const resp = peer.Response.deserializeBinary(msg.getPayload_asU8());
      result = { status: resp.getStatus(), message: resp.getMessage(), payload: Buffer.from(resp.getPayload_asU8()) };
      // handler.js attaches the stub's ChaincodeEvent to the COMPLETED message itself.
      const ev = msg.getChaincodeEvent();
      if (ev && ev.getEventName()) result.event = { name: ev.getEventName(), payload: Buffer.from(ev.getPayload_asU8()) };
    } else {
      // The shim sends ERROR when it cannot even build a stub (bad input/proposal).
      result = failedResult(Buffer.from(msg.getPayload_asU8()).toString('utf8'));
    }
    await this.settle(ctx, result);
  }

  private async settle(ctx: TxContext, result: ChaincodeResult): Promise<void> {
    if (ctx.finished) return;
    await this.finish(ctx);
    ctx.resolve(result);
  }

  private fail(ctx: TxContext, err: Error): void {
    if (ctx.finished) return;
    void this.finish(ctx).finally(() => ctx.reject(err));
  }

  /** Ends a transaction context: stop the timer, close iterators left open (their reads count). */
  private async finish(ctx: TxContext): Promise<void> {
    ctx.finished = true;
    clearTimeout(ctx.timer);
    this.contexts.delete(contextKey(ctx.channel, ctx.txId));
    for (const id of [...ctx.cursors.keys()]) {
      await this.closeCursor(ctx, id).catch(() => undefined);
    }
  }

  private shutdown(err: Error): void {
    if (this.state === 'closed') return;
    const wasCreated = this.state === 'created';
    this.state = 'closed';
    for (const ctx of [...this.contexts.values()]) this.fail(ctx, err);
    if (wasCreated) this.settleRegistration(err);
    try {
      this.onClose();
    } catch {
      // already closed
    }
  }

  private send(msg: peer.ChaincodeMessage): void {
    if (this.state === 'closed') return;
    this.stream.write(msg);
  }
}

/**
 * Builds fabric-shim's ChaincodeFromContract for contract classes with the same JSON
 * serializer configuration bootstrap.js uses for `fabric-chaincode-node start/server`.
 */
export function loadContractChaincode(contracts: readonly unknown[], title: string, version: string): ChaincodeInterface {
  const ChaincodeFromContract = require('fabric-shim/lib/contract-spi/chaincodefromcontract');
  quietRefusals();
  const { JSONSerializer } = fromShim('fabric-contract-api');
  const serializers = { transaction: 'jsonSerializer', serializers: { jsonSerializer: JSONSerializer } };
  // Copy: ChaincodeFromContract appends its SystemContract to the array it is given.
  return new ChaincodeFromContract([...contracts], serializers, {}, title, version) as ChaincodeInterface;
}

/**
 * Sets the log level of fabric-shim's and fabric-contract-api's loggers (they keep separate
 * ones). Fabric names: DEBUG, INFO, WARNING, ERROR.
 */
export function setChaincodeLogLevel(level: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR'): void {
  require('fabric-shim/lib/logger').setLevel(level);
  fromShim('fabric-contract-api/lib/logger').setLevel(level);
  // setLevel stores winston's name ('warn'), which getLogger cannot map back; keep Fabric's.
  process.env.CORE_CHAINCODE_LOGGING_LEVEL = level;
}

/** The chaincode's own refusal codes (chaincode/src/ledger/errors.ts). */
const REFUSAL = /^(\[[^\]]*\]) ContractError: (AUTHORISATION|VALIDATION|NOT_FOUND|CONFLICT|STATE|NOT_INITIALISED): /;

/**
 * fabric-shim logs every error a transaction throws in red at error level, even a refusal the chaincode
 * meant: a channel not initialised yet (the platform's first start asks, then initialises it), or a
 * person's input refused. Those are answers, not faults: logged at info as what they are. Anything
 * else a transaction throws (a bug) stays an error.
 */
function quietRefusals(): void {
  const logger = require('fabric-shim/lib/logger').getLogger('contracts-spi/chaincodefromcontract.js') as {
    error(message: string, ...rest: unknown[]): void;
    info(message: string): void;
    refusalsQuiet?: boolean;
  };
  if (logger.refusalsQuiet) return;
  logger.refusalsQuiet = true;
  const error = logger.error.bind(logger);
  logger.error = (message: string, ...rest: unknown[]) => {
    const m = typeof message === 'string' ? REFUSAL.exec(message) : null;
    if (!m) return error(message, ...rest);
    logger.info(`${m[1]} refused by the chaincode (${m[2]}), nothing written: ${message.slice(m[0].length)}`);
  };
}

/** Requires a module as fabric-shim resolves it, so both share one instance (Contract, Reflect metadata). */
function fromShim(id: string) {
  return require(require.resolve(id, { paths: [path.dirname(require.resolve('fabric-shim/package.json'))] }));
}

// ---------------------------------------------------------------------------------------

/**
 * Pulls encoded results with one look-ahead, so has_more is exact; like Fabric's
 * queryResponseBuilder, the look-ahead result is fetched (and recorded) before it is sent.
 */
class QueryCursor {
  private pending: Uint8Array | undefined;

  constructor(
    private readonly pull: () => Promise<Uint8Array | undefined>,
    readonly close: () => Promise<void>,
  ) {}

  async nextBatch(max: number): Promise<{ items: Uint8Array[]; hasMore: boolean }> {
    const items: Uint8Array[] = [];
    if (this.pending !== undefined) {
      items.push(this.pending);
      this.pending = undefined;
    }
    while (items.length < max) {
      const next = await this.pull();
      if (next === undefined) return { items, hasMore: false };
      items.push(next);
    }
    this.pending = await this.pull();
    return { items, hasMore: this.pending !== undefined };
  }
}

/**
 * fabric-shim's handler with the chaincode's requests (state, ranges and their pages, history)
 * answered by a direct call to the peer side instead of an encoded message, a queued promise
 * and a decoded reply, which cost the endorsement worker about a tenth of its time. What the
 * shim makes of each answer (its iterators over the QueryResponse, the errors it throws) is
 * what handler.js's parseResponse makes of the RESPONSE or ERROR message. The requests the
 * embedded peer refuses (private data, rich queries, metadata, chaincode calls) still travel as
 * messages and are refused there.
 */
function withDirectState(Handler: new (stream: unknown, chaincode: ChaincodeInterface) => ShimHandler, conn: ChaincodeConnection) {
  return class DirectState extends Handler {
    handleGetState(collection: string, key: string, channel: string, txId: string): Promise<Buffer> {
      return conn.answerDirectly('GET_STATE', channel, txId, collection, key);
    }

    handlePutState(collection: string, key: string, value: Uint8Array, channel: string, txId: string): Promise<Buffer> {
      return conn.answerDirectly('PUT_STATE', channel, txId, collection, key, value);
    }

    handleDeleteState(collection: string, key: string, channel: string, txId: string): Promise<Buffer> {
      return conn.answerDirectly('DEL_STATE', channel, txId, collection, key);
    }

    async handleGetStateByRange(collection: string, startKey: string, endKey: string, channel: string, txId: string, metadata?: Uint8Array) {
      const response = await conn.queryDirectly(channel, txId, { type: 'range', collection, startKey, endKey, metadata });
      const result: { iterator: unknown; metadata?: { bookmark: string; fetchedRecordsCount: number } } = { iterator: new (shimIterators().StateQueryIterator)(this, channel, txId, response) };
      const md = response.getMetadata_asU8();
      if (md.length > 0) {
        const decoded = peer.QueryResponseMetadata.deserializeBinary(md);
        result.metadata = { bookmark: decoded.getBookmark(), fetchedRecordsCount: decoded.getFetchedRecordsCount() };
      }
      return result;
    }

    handleQueryStateNext(id: string, channel: string, txId: string): Promise<peer.QueryResponse> {
      return conn.queryDirectly(channel, txId, { type: 'next', id });
    }

    handleQueryStateClose(id: string, channel: string, txId: string): Promise<peer.QueryResponse> {
      return conn.queryDirectly(channel, txId, { type: 'close', id });
    }

    async handleGetHistoryForKey(key: string, channel: string, txId: string) {
      const response = await conn.queryDirectly(channel, txId, { type: 'history', key });
      return new (shimIterators().HistoryQueryIterator)(this, channel, txId, response);
    }
  };
}

/** A query of the in-process chaincode (see ChaincodeConnection.queryDirectly). */
type DirectQuery =
  | { type: 'range'; collection: string; startKey: string; endKey: string; metadata: Uint8Array | undefined }
  | { type: 'next' | 'close'; id: string }
  | { type: 'history'; key: string };

/** The message each query stands for, which names it in errors as the peer's ERROR reply would. */
const QUERY_MESSAGE: Record<DirectQuery['type'], string> = { range: 'GET_STATE_BY_RANGE', next: 'QUERY_STATE_NEXT', close: 'QUERY_STATE_CLOSE', history: 'GET_HISTORY_FOR_KEY' };

type IteratorClass = new (handler: unknown, channel: string, txId: string, response: peer.QueryResponse) => unknown;
let iteratorClasses: { StateQueryIterator: IteratorClass; HistoryQueryIterator: IteratorClass } | undefined;

/** fabric-shim's iterator classes, the ones its stub hands to the chaincode. */
function shimIterators() {
  return (iteratorClasses ??= require('fabric-shim/lib/iterators') as { StateQueryIterator: IteratorClass; HistoryQueryIterator: IteratorClass });
}

interface ShimHandler {
  chat(msg: peer.ChaincodeMessage): void;
}

interface DirectDispatch {
  handler: ShimHandler;
  chaincode: ChaincodeInterface;
}

type StubClass = new (handler: ShimHandler, channel: string, txId: string, input: peer.ChaincodeInput, signedProposal: peer.SignedProposal) => ChaincodeStub & { chaincodeEvent?: peer.ChaincodeEvent };

let stubClass: StubClass | undefined;

/** fabric-shim's ChaincodeStub class (loaded lazily, like the handler, for the log level; resolving it costs ~30 µs). */
function shimStub(): StubClass {
  return (stubClass ??= require('fabric-shim/lib/stub') as StubClass);
}

/**
 * Makes a throwing Init/Invoke answer with an error response instead of crashing this
 * process: handler.js awaits them without a catch, which in a separate chaincode process
 * would only kill the chaincode. (ChaincodeFromContract already catches.)
 */
function guardChaincode(cc: ChaincodeInterface): ChaincodeInterface {
  const guard = (fn: ChaincodeInterface['Invoke']): ChaincodeInterface['Invoke'] => async (stub) => {
    try {
      return await fn.call(cc, stub);
    } catch (err) {
      return { status: 500, message: err instanceof Error ? err.message : String(err) };
    }
  };
  return { Init: guard(cc.Init), Invoke: guard(cc.Invoke) };
}

/** One end of an in-memory, object-mode message pipe (what handler.js needs of a stream). */
class PipeEnd extends EventEmitter implements ChaincodeMessageStream {
  other!: PipeEnd;
  private ended = false;

  write(msg: peer.ChaincodeMessage): boolean {
    if (this.ended) return false;
    const other = this.other;
    // Deliver on a microtask: no re-entrancy into the sender, FIFO order, no stream overhead.
    queueMicrotask(() => other.emit('data', msg));
    return true;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const other = this.other;
    queueMicrotask(() => other.emit('end'));
  }
}

function createPipe(): [PipeEnd, PipeEnd] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}

function message(type: MessageType, channel: string, txId: string, payload?: Uint8Array | string): peer.ChaincodeMessage {
  const msg = new peer.ChaincodeMessage();
  msg.setType(type);
  msg.setChannelId(channel);
  msg.setTxid(txId);
  if (payload !== undefined) msg.setPayload(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload);
  return msg;
}

function chaincodeIdBytes(name: string): Uint8Array {
  const id = new peer.ChaincodeID();
  id.setName(name);
  return id.serializeBinary();
}

function contextKey(channel: string, txId: string): string {
  return `${channel}\u0000${txId}`;
}

function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type ${type}`;
}

/** The response to a transaction the shim could not even start (no stub: bad input or proposal). */
function failedResult(cause: string): ChaincodeResult {
  return { status: 500, message: `transaction returned with failure: ${cause}`, payload: Buffer.alloc(0) };
}

/** Fabric wraps a failed request as "<TYPE> failed: transaction ID: <txid>: <cause>". */
function requestFailed(type: string, txId: string, cause: string): string {
  return `${type} failed: transaction ID: ${txId}: ${cause}`;
}

function publicOnly(collection: string): void {
  if (collection) throw new Error(`private data collection "${collection}" is not supported by the embedded peer`);
}

function queryResponse(id: string, results: peer.QueryResultBytes[], hasMore: boolean): peer.QueryResponse {
  const resp = new peer.QueryResponse();
  resp.setId(id);
  resp.setResultsList(results);
  resp.setHasMore(hasMore);
  return resp;
}

function resultBytes(bytes: Uint8Array): peer.QueryResultBytes {
  const r = new peer.QueryResultBytes();
  r.setResultbytes(bytes);
  return r;
}

function encodeKV(ns: string, key: string, value: Uint8Array): Uint8Array {
  const kv = new ledger.queryresult.KV();
  kv.setNamespace(ns);
  kv.setKey(key);
  kv.setValue(value);
  return kv.serializeBinary();
}

function encodeKeyModification(mod: KeyModification): Uint8Array {
  const km = new ledger.queryresult.KeyModification();
  km.setTxId(mod.txId);
  km.setValue(mod.value);
  km.setIsDelete(mod.isDelete);
  km.setTimestamp(toTimestamp(mod.timestamp));
  return km.serializeBinary();
}
