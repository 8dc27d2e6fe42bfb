/**
 * The B of MVCB: the one interface the web platform uses to talk to the chain. Two adapters
 * implement it: embedded/ (an in-process ledger running the same chaincode, the default) and
 * fabric/ (fabric-network against a real Fabric network). Shaped after Fabric's Gateway API:
 * submit resolves when the transaction is committed, evaluate runs a query on one peer, and
 * events are read from a block number so a listener can resume from its checkpoint.
 */
import type { peer } from '@hyperledger/fabric-protos';
import type { Identity } from './embedded/identity';
import type { ValidationCode as EmbeddedValidationCode } from './embedded/ledger/validator';
import type { Block } from './embedded/ledger/block';

export type { Identity };

/** Fabric's transaction validation codes (peer.TxValidationCode), as a real peer records them. */
export type FabricValidationCode = keyof peer.TxValidationCodeMap;
/**
 * A transaction's validation code: the embedded ledger's (a subset of Fabric's, plus BAD_PROPOSAL_SIGNATURE) or,
 * on a Fabric network, any of Fabric's.
 */
export type ValidationCode = EmbeddedValidationCode | FabricValidationCode;

export type Backend = 'embedded' | 'fabric';

/** One chaincode call: `fcn` is "Contract:transaction", arguments are strings (JSON for objects). */
export interface TransactionRequest {
  channel: string;
  fcn: string;
  args?: string[];
  /**
   * Submit only: called with the transaction id once the proposal is built and before it is endorsed; a rejection
   * stops the submit (nothing is endorsed or ordered). The relay uses it to route a business id the chaincode derives
   * from the transaction id (a new project's) before the transaction reaches a set.
   */
  beforeEndorse?: (txId: string) => Promise<void>;
}

export interface EnrolRequest {
  enrollmentId: string;
  mspId: string;
  /** Application role, carried as the certificate's `role` attribute. */
  role: string;
  /** Organisation id, carried as the certificate's `org` attribute. */
  org: string;
}

export interface SubmitResult {
  txId: string;
  blockNumber: number;
  /** The chaincode's return value (UTF-8 JSON for contract transactions). */
  payload: Buffer;
}


/** The chaincode refused the proposal: nothing was ordered. `message` is the chaincode's own. */
export class EndorsementError extends Error {
  constructor(
    readonly txId: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EndorsementError';
  }

  /** The chaincode's error class, e.g. "VALIDATION" for "VALIDATION: project.budget: …". */
  get code(): string {
    return /^([A-Z_]+):/.exec(this.message)?.[1] ?? 'CHAINCODE';
  }
}

/** What this kind of ledger cannot give (the message says why); nothing was changed. */
export class NotAvailableError extends Error {
  override name = 'NotAvailableError';
}

/** A block as the embedded ledger stores it: header hashes and the transactions its data hash covers. */
export type StoredBlock = Pick<Block, 'number' | 'previousHash' | 'dataHash' | 'transactions'>;

/** The transaction was ordered into a block but marked invalid there: it changed nothing. */
export class CommitError extends Error {
  constructor(
    readonly txId: string,
    readonly blockNumber: number,
    readonly code: Exclude<ValidationCode, 'VALID'>,
    reason: string,
  ) {
    super(`transaction ${txId} was invalidated in block ${blockNumber}: ${code} (${reason})`);
    this.name = 'CommitError';
  }
}

export interface ChainInfo {
  channel: string;
  height: number;
  /** Header hash of the last block ('' while the channel has no block). */
  currentBlockHash: string;
  previousBlockHash: string;
}

export interface TransactionSummary {
  txId: string;
  txNum: number;
  creatorMspId: string;
  /** The creator certificate's subject common name (the enrolment id). */
  creator: string;
  /** ISO-8601 client timestamp from the proposal. */
  timestamp: string;
  fcn: string;
  validationCode: ValidationCode;
  validationMessage?: string;
}

export interface BlockEvent {
  channel: string;
  number: number;
  previousHash: string;
  dataHash: string;
  /** ISO-8601 time the orderer cut the block. */
  cutAt: string;
  transactions: TransactionSummary[];
}

/** A chaincode event of a VALID transaction, in ledger order. */
export interface ChaincodeEventRecord {
  channel: string;
  blockNumber: number;
  txNum: number;
  txId: string;
  chaincode: string;
  name: string;
  payload: Buffer;
}

/** Where a listener stopped: resume after this transaction (Fabric's checkpointer). */
export interface Checkpoint {
  blockNumber: number;
  /** The last event handled in that block; omitted to start at the block's first event. */
  txId?: string;
}

/** An endless stream of events (live after the replay); close() ends the iteration. */
export interface EventStream<T> extends AsyncIterable<T> {
  close(): void;
}

export interface LedgerGateway {
  readonly backend: Backend;
  channels(): string[];
  /** Issues an X.509 identity from the MSP's certificate authority with role and org attributes. */
  enrol(req: EnrolRequest): Promise<Identity>;
  /** Endorse, order, validate, commit; throws EndorsementError or CommitError. */
  submit(identity: Identity, req: TransactionRequest): Promise<SubmitResult>;
  /** Runs a query against committed state; nothing is ordered. Throws EndorsementError. */
  evaluate(identity: Identity, req: TransactionRequest): Promise<Buffer>;
  chainInfo(channel: string): Promise<ChainInfo>;
  getBlock(channel: string, number: number): Promise<BlockEvent>;
  getTransaction(channel: string, txId: string): Promise<(TransactionSummary & { blockNumber: number }) | undefined>;
  /** Block events from `startBlock` (replayed from the ledger), then live. */
  blockEvents(channel: string, startBlock?: number): EventStream<BlockEvent>;
  /** Chaincode events after `checkpoint` (or from block 0), then live. */
  chaincodeEvents(channel: string, checkpoint?: Checkpoint): EventStream<ChaincodeEventRecord>;
  /**
   * Opens a channel created after the start (an operator adds a set). The embedded ledger opens it on a thread of
   * its own; on a Fabric network the channel is created and joined by `npm run network -- addChannel` and this
   * method is absent.
   */
  addChannel?(channel: string): Promise<void>;
  /** Committed history of a project or draft, through the chaincode's own access rules. */
  history(identity: Identity, channel: string, entity: 'Project' | 'Draft', id: string): Promise<unknown[]>;
  /**
   * A block exactly as the ledger stored and hashed it: its header and every transaction with the signed proposal,
   * creator certificate, write set and validation code, so that an audit dossier can be checked offline (the
   * transactions' signatures, the data hash, the chain of headers). The embedded ledger's block format; on a Fabric
   * network it throws NotAvailableError.
   */
  storedBlock(channel: string, number: number): Promise<StoredBlock>;
  /**
   * The nodes of the set whose channel is `channel`, in the routing chain's order (the relay hands them over whenever
   * it reads the routing chain): on a Fabric network the peers the channel's queries, commit waits, discovery and
   * event streams go to; none, the configured default. Absent on the embedded ledger, whose set is one peer.
   */
  useNodes?(channel: string, nodes: readonly SetNode[]): void;
  /** The peers a channel's requests go to, the one in use first ([] for the configured default), for the operators. */
  gatewayNodes?(channel: string): string[];
  /**
   * The nodes this ledger knows to serve `channel`, peers first, the one it would use first at the head: what the
   * platform registers on the routing chain for a set that lists none ([] when it knows none).
   */
  channelNodes?(channel: string): Promise<ChannelNode[]>;
  /** The ordering service as operators see it (the embedded ledger's; Fabric's is the network's own). */
  orderingStatus?(): Promise<OrderingStatus>;
  close(): Promise<void>;
}

/**
 * A node of a set as the routing chain records it (节点合约, table 4.5): what the relay hands the ledger to say where
 * a set's requests go.
 */
export interface SetNode {
  nodeId: string;
  listenIp: string;
  rpcPort: number;
}

/** A node serving a channel, with every field the routing chain records for a node (table 4.5) but its set. */
export interface ChannelNode extends SetNode {
  p2pPort: number;
  nodeType: 'peer' | 'orderer';
  desc: string;
  /** SHA-256 of the DER of the certificate authority's root certificate that vouches for the node (certificateHash). */
  caHash: string;
  agencyInfo: string;
}

/** One replica of a BFT ordering service as an operator sees it. */
export interface ReplicaView {
  id: number;
  up: boolean;
  /** Which replicas it is connected to, by index. */
  links: boolean[];
  /** Per channel: the next height to decide, the round at it, the primary, the credit scores and who proposed how many blocks. */
  channels: Record<string, { height: number; round: number; phase: 'normal' | 'view-change'; primary: number; scores: number[]; proposed: number[]; failedRounds: number; stableCheckpoint: number; pending: number; lastDecidedAt?: number }>;
}

export interface OrderingStatus {
  service: 'solo' | 'cbft';
  n?: number;
  f?: number;
  rule?: 'credit' | 'rotate';
  replicas?: ReplicaView[];
}
