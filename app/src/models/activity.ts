/** Off-chain records of what people did and asked for: audit log, alert acknowledgements, notifications, subscriptions, problem reports, files, bank API clients, the relay's asynchronous requests, failed logins and lockouts. */
import { Schema, model } from 'mongoose';

const mixed = Schema.Types.Mixed;

/** One user action (业务监控): who did what, from where, and whether the chain accepted it. */
const auditEntrySchema = new Schema({
  at: { type: Date, default: () => new Date(), index: true },
  userId: String,
  username: { type: String, index: true },
  role: String,
  orgId: String,
  action: { type: String, required: true },
  target: String,
  ok: Boolean,
  message: String,
  txId: String,
  ip: String,
});

const notificationSchema = new Schema({
  userId: { type: String, required: true, index: true },
  at: { type: Date, default: () => new Date() },
  kind: String,
  title: { type: String, required: true },
  link: String,
  read: { type: Boolean, default: false },
  /** The ledger event that caused it: written by upsert, so a rebuild replaying events does not notify twice. */
  eventId: String,
});
// Unique: the notifier upserts on it, and a unique index is what the bundled server can look up by.
notificationSchema.index({ userId: 1, eventId: 1 }, { unique: true });

/** A user's subscription (订阅): every event of a project, every event of a county, or every alert. */
const subscriptionSchema = new Schema({
  userId: { type: String, required: true, index: true },
  kind: { type: String, required: true, enum: ['project', 'county', 'alerts'] },
  target: { type: String, default: '' },
  at: { type: Date, default: () => new Date() },
});
subscriptionSchema.index({ userId: 1, kind: 1, target: 1 }, { unique: true });

/** A problem a user reports that the system did not flag (申报). */
const problemReportSchema = new Schema({
  at: { type: Date, default: () => new Date(), index: true },
  userId: String,
  username: String,
  orgId: String,
  projectId: String,
  title: { type: String, required: true },
  body: { type: String, required: true },
  status: { type: String, enum: ['OPEN', 'ANSWERED', 'CLOSED'], default: 'OPEN' },
  response: String,
  respondedBy: String,
  respondedAt: Date,
});

/** An uploaded file: bytes on disk under the upload folder, its SHA-256 on the chain. */
const storedFileSchema = new Schema({
  _id: String, // sha256 hex
  name: String,
  size: Number,
  mime: String,
  path: String,
  uploadedBy: String,
  at: { type: Date, default: () => new Date() },
});

/** A bank's machine-to-machine credential for the bank API; only the token's hash is kept. */
const apiClientSchema = new Schema({
  bankId: { type: String, required: true, index: true },
  tokenHash: { type: String, required: true, unique: true },
  label: String,
  /** the user whose certificate signs the bank's transactions */
  userId: { type: String, required: true },
  active: { type: Boolean, default: true },
  at: { type: Date, default: () => new Date() },
  /** Where the relay posts the result of this client's asynchronous requests (a webhook the bank registers). */
  callbackUrl: String,
});

/**
 * An asynchronous request through the relay (thesis 4.3.2): answered at once with its digest (the transaction
 * id), settled when the transaction commits or fails, its result then posted to the client's callback once. A bank
 * record no set can take yet waits PARKED (services/parked-records.ts), with what is needed to send it later.
 */
const relayRequestSchema = new Schema({
  _id: { type: String, required: true }, // the digest
  clientId: { type: String, index: true },
  fcn: String,
  target: String,
  channel: String,
  state: { type: String, enum: ['PARKED', 'PENDING', 'COMMITTED', 'FAILED'], index: true },
  /** The transaction that carried it, when that is not the digest (a parked record sent later). */
  txId: String,
  parked: {
    at: Date,
    /** The call's arguments and its signer, for sending it once the serial's set is known. */
    args: { type: [String], default: undefined },
    userId: String,
    /** The signer's organisation (the bank), for the monitoring centre. */
    orgId: String,
    ip: String,
    /** Sends that did not reach a chain (the record stays parked), and the last one's cause. */
    attempts: Number,
    lastError: String,
  },
  result: mixed,
  error: { code: String, message: String },
  blockNumber: Number,
  createdAt: { type: Date, default: () => new Date() },
  settledAt: Date,
  callback: {
    url: String,
    state: { type: String, enum: ['NONE', 'WAITING', 'SENDING', 'DELIVERED'], index: true },
    attempts: { type: Number, default: 0 },
    nextAttemptAt: Date,
    lastError: String,
    deliveredAt: Date,
  },
});

/**
 * Failed logins counted per account and per client address (services/login-guard.ts), written by rate-limiter-flexible's
 * Mongo store: its document shape, declared here for the unique index on `key` it needs. No TTL index (not on every
 * MongoDB-protocol server): the guard deletes expired counters itself.
 */
const loginFailureSchema = new Schema({
  key: { type: String, required: true, unique: true },
  points: Number,
  expire: Date,
});

/** A lockout the login guard started (登录锁定): the monitoring centre's alert while it is recent; the audit log keeps it for good. */
const loginLockoutSchema = new Schema({
  at: { type: Date, default: () => new Date() },
  until: { type: Date, required: true },
  scope: { type: String, required: true, enum: ['account', 'address'] },
  /** the username, or the client address */
  key: { type: String, required: true },
  failures: Number,
  /** the address of the failure that started it, and the account it tried */
  ip: String,
  username: String,
});

/**
 * An overdue alert someone in charge has looked into and explains (e.g. the bank confirmed the transfer is on its
 * way): shown as acknowledged, no longer counted as open. Keyed by the alert and the deadline it is about, so the
 * same draft missing its next deadline is a new alert. The acknowledgement is also in the audit log.
 */
const alertAcknowledgementSchema = new Schema({
  _id: String, // `${kind}:${ref}:${since ISO}` (monitoring.ts alertKey)
  kind: { type: String, required: true },
  ref: { type: String, required: true },
  since: { type: Date, required: true },
  reason: { type: String, required: true },
  by: { type: String, required: true },
  role: String,
  at: { type: Date, default: () => new Date() },
});

export const AuditEntry = model('AuditEntry', auditEntrySchema, 'auditLog');
export const AlertAcknowledgement = model('AlertAcknowledgement', alertAcknowledgementSchema, 'alertAcknowledgements');
export const Notification = model('Notification', notificationSchema, 'notifications');
export const Subscription = model('Subscription', subscriptionSchema, 'subscriptions');
export const ProblemReport = model('ProblemReport', problemReportSchema, 'problemReports');
export const StoredFile = model('StoredFile', storedFileSchema, 'files');
export const ApiClient = model('ApiClient', apiClientSchema, 'apiClients');
export const RelayRequest = model('RelayRequest', relayRequestSchema, 'relayRequests');
export const LoginFailure = model('LoginFailure', loginFailureSchema, 'loginFailures');
export const LoginLockout = model('LoginLockout', loginLockoutSchema, 'loginLockouts');
