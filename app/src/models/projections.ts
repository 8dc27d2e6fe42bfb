/**
 * Projections: off-chain mirrors of chain state, written only by the projector from chaincode events
 * (services/projector.ts) and rebuilt from the ledger when dropped. Pages read these; the chain stays
 * the source of truth. `doc` keeps the chain's own JSON for detail pages; the other fields are for
 * filtering, sorting and sums. Money is kept twice: the exact fen string, and a Number for sums
 * (exact up to 9×10^15 fen).
 */
import { Schema, model, type InferSchemaType } from 'mongoose';

const mixed = Schema.Types.Mixed;

/**
 * The project's visibility fields (services/scope.ts), copied onto every projection keyed by a project,
 * so one scope filter serves every collection: the bundled MongoDB server uses no secondary index, and a
 * `projectId $in [thousands]` filter would be matched document by document.
 */
const projectScopeFields = {
  county: String,
  implementingUnitId: String,
  payerIds: [String],
};

const projectViewSchema = new Schema({
  _id: String,
  name: { type: String, required: true },
  county: { type: String, required: true, index: true },
  town: String,
  status: { type: String, required: true, index: true },
  budget: String,
  budgetFen: Number,
  countyOfficeId: { type: String, index: true },
  implementingUnitId: { type: String, index: true },
  payerIds: { type: [String], index: true },
  percentComplete: Number,
  filedAt: Date,
  updatedAt: { type: Date, index: true },
  approvedAt: Date,
  fundedAt: Date,
  lastProgressAt: Date,
  /** fen that has reached the implementing unit and been accepted (tranche by tranche when paid in tranches) */
  releasedFen: { type: Number, default: 0 },
  /** fen the implementing unit has paid out to payees, matched against the bank's record */
  paidOutFen: { type: Number, default: 0 },
  /** The project's payouts as the chain states them (Reconciliation:payouts), when the project names payees. */
  payouts: mixed,
  doc: mixed,
  blockNumber: Number,
  /** The set (business channel) that owns the project. */
  channel: String,
});
projectViewSchema.index({ status: 1, updatedAt: -1 });
projectViewSchema.index({ county: 1, updatedAt: -1 });

const draftViewSchema = new Schema({
  _id: String,
  projectId: { type: String, index: true },
  ...projectScopeFields,
  source: String,
  amount: String,
  amountFen: Number,
  status: { type: String, index: true },
  holderId: { type: String, index: true },
  /** The organisation that pays the next hop, and its deadline; empty once the draft has arrived. */
  nextPayerId: { type: String, index: true },
  nextReceiverId: String,
  nextStage: String,
  nextDeadline: Date,
  /** The bank that executes the next hop (holds the paying account). */
  nextBankId: String,
  /** fen the next hop carries: a tranche, or the whole draft. */
  nextAmount: String,
  /** The chain's reason why the next hop may not be paid yet (a tranche's milestone, fiscal money first), or null. */
  heldBack: String,
  doc: mixed,
  updatedAt: Date,
});

const transferViewSchema = new Schema({
  _id: String, // the bank serial
  projectId: { type: String, index: true },
  ...projectScopeFields,
  draftIds: [String],
  stage: String,
  payerId: { type: String, index: true },
  payeeId: String,
  bankId: { type: String, index: true },
  expectedAmount: String,
  recordedAmount: String,
  /** REGISTERED (no bank record yet), RECORDED (no registration yet), MATCHED, MATCHED_LATE, MISMATCH */
  status: { type: String, index: true },
  claim: mixed,
  record: mixed,
  updatedAt: Date,
});

const discrepancyViewSchema = new Schema({
  _id: String,
  kind: { type: String, index: true },
  serial: String,
  projectId: { type: String, index: true },
  ...projectScopeFields,
  status: { type: String, index: true },
  problems: mixed,
  resolution: mixed,
  raisedAt: Date,
  doc: mixed,
  /** The set whose chain holds it. */
  channel: String,
});

/** Every chaincode event, in ledger order: the audit trail of the chain and the feed of notifications. */
const ledgerEventSchema = new Schema({
  _id: String, // `${blockNumber}:${txId}:${index}`
  channel: String,
  blockNumber: { type: Number, index: true },
  txId: { type: String, index: true },
  type: { type: String, index: true },
  projectId: { type: String, index: true },
  ...projectScopeFields,
  at: Date,
  data: mixed,
});

const organisationViewSchema = new Schema({
  _id: String,
  name: String,
  type: { type: String, index: true },
  mspId: String,
  county: { type: String, index: true },
  accounts: [{ _id: false, accountNo: String, bankId: String, name: String }],
  active: Boolean,
  registeredAt: Date,
});

/** Where the projector stopped, per channel (Fabric's checkpointer). */
const checkpointSchema = new Schema({
  _id: String,
  blockNumber: Number,
  txId: String,
  updatedAt: Date,
});

export const ProjectView = model('ProjectView', projectViewSchema, 'projectViews');
export const DraftView = model('DraftView', draftViewSchema, 'draftViews');
export const TransferView = model('TransferView', transferViewSchema, 'transferViews');
export const DiscrepancyView = model('DiscrepancyView', discrepancyViewSchema, 'discrepancyViews');
export const LedgerEvent = model('LedgerEvent', ledgerEventSchema, 'ledgerEvents');
export const OrganisationView = model('OrganisationView', organisationViewSchema, 'organisationViews');
export const Checkpoint = model('Checkpoint', checkpointSchema, 'checkpoints');

export type ProjectViewFields = InferSchemaType<typeof projectViewSchema>;
export type DraftViewFields = InferSchemaType<typeof draftViewSchema>;

/** Every projection collection: what a rebuild drops. */
export const PROJECTIONS = [ProjectView, DraftView, TransferView, DiscrepancyView, LedgerEvent, OrganisationView, Checkpoint];
