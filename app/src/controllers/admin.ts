/**
 * Administration (系统管理, thesis 6.3.1.1 management centre), administrator only: users and their
 * certificates, organisations joining and leaving with their bank accounts, the routing chain's sets,
 * nodes, routes and relay whitelist (thesis chapter 4), and the banks' API tokens.
 * Off-chain changes (users, tokens) go to the audit log through audit(); chain changes through act().
 */
import * as crypto from 'node:crypto';
import { isIP } from 'node:net';
import 'reflect-metadata';
import * as X509 from '@peculiar/x509';
import type { Request, Response, Router } from 'express';
import mongoose from 'mongoose';
import { COUNTY_ROLES, ROLES, isRole, type Role } from '@fund/chaincode/dist/access/roles';
import { ID_PATTERN } from '@fund/chaincode/dist/ledger/validation';
import type { Organisation } from '@fund/chaincode/dist/organisation/organisation';
import type { Route, RouteManager, WhitelistEntry } from '@fund/chaincode/dist/routing/routing';
import type { SetStatus } from '../blockchain/relay';
import { FABRIC_ATTR_OID } from '../blockchain/embedded/identity';
import { User, type UserDoc } from '../models/user';
import { serveSet } from '../services/sets';
import { RelayRequest, ApiClient, AuditEntry } from '../models/activity';
import { OrganisationView } from '../models/projections';
import { createUser, renewUserCertificate, revokeUserCertificate } from '../services/accounts';
import { MSP_OF_ROLE } from '../blockchain/msp';
import type { Submitted } from '../services/chain';
import { hashPassword, tokenHash } from '../services/secrets';
import { platformOf } from '../platform';
import type { OrderingStatus } from '../blockchain';
import { act, audit, flash, FormError, refusal } from './act';
import { route } from './route';

const ADMIN: readonly Role[] = ['admin'];
const OBJECT_ID = /^[0-9a-f]{24}$/;
const SERVICE_USERNAME = 'system';

type Body = Record<string, unknown>;

/** The forms' field names → their labels' keys, so a refusal names the field as the form shows it (others: as typed). */
const LABELS: Record<string, string> = {
  username: 'login.username',
  displayName: 'admin.displayName',
  role: 'admin.role',
  orgId: 'admin.organisation',
  password: 'login.password',
  id: 'admin.orgId',
  type: 'admin.orgType',
  county: 'admin.county',
  userId: 'admin.bankUser',
  label: 'admin.tokenLabel',
};

/** A refused field: English for the log, a message key and the field's label for the reader (act.ts refusal()). */
function refused(name: string, english: string, key: string, vars?: Record<string, string | number>): FormError {
  return new FormError(`${name}: ${english}`, { key, vars, ...(LABELS[name] ? { label: LABELS[name] } : { name }) });
}

/** A trimmed text field; anything but a string counts as empty, and an over-long value is an error. */
function text(body: Body, name: string, max: number): string {
  const value = body[name];
  if (typeof value !== 'string') return '';
  const trimmed = value.trim();
  if (trimmed.length > max) throw refused(name, `at most ${max} characters`, 'refusal.tooLong', { max });
  return trimmed;
}

function required(body: Body, name: string, max: number): string {
  const value = text(body, name, max);
  if (!value) throw refused(name, 'required', 'refusal.required');
  return value;
}

function identifier(body: Body, name: string): string {
  const value = required(body, name, 64);
  if (!ID_PATTERN.test(value)) throw refused(name, '2–64 letters, digits, ".", "_" or "-", starting with a letter or digit', 'refusal.identifier');
  return value;
}

function wholeNumber(body: Body, name: string, min: number, max: number): number {
  const value = required(body, name, 12);
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) throw refused(name, `a whole number from ${min} to ${max}`, 'refusal.wholeNumber', { min, max });
  return Number(value);
}

/** "true" or "false" from a button; anything else is refused rather than guessed. */
function flag(body: Body, name: string): boolean {
  const value = body[name];
  if (value !== 'true' && value !== 'false') throw refused(name, 'must be "true" or "false"', 'refusal.flag');
  return value === 'true';
}

function notFound(res: Response) {
  res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
}

interface OrgRow {
  _id: string;
  name?: string | null;
  type?: string | null;
  mspId?: string | null;
  county?: string | null;
  accounts: Array<{ accountNo?: string | null; bankId?: string | null; name?: string | null }>;
  active?: boolean | null;
  registeredAt?: Date | null;
}

type ViewDoc = Omit<OrgRow, '_id' | 'accounts'> & { _id: string | null; accounts: OrgRow['accounts'] };
const viewRow = (v: ViewDoc): OrgRow => ({ ...v, _id: String(v._id) });

/** An organisation as the projection holds it (the projector records every registered one, the operator included). */
async function findOrganisation(orgId: string): Promise<OrgRow | null> {
  if (!ID_PATTERN.test(orgId)) return null;
  const view = await OrganisationView.findById(orgId).lean();
  return view ? viewRow(view) : null;
}

/** What an administrator wants to see of a user's enrolment certificate. */
function certificateFacts(pem: string | null | undefined) {
  if (!pem) return undefined;
  try {
    const cert = new crypto.X509Certificate(pem);
    let attrs: Record<string, string> = {};
    const ext = new X509.X509Certificate(pem).getExtension(FABRIC_ATTR_OID);
    if (ext) attrs = (JSON.parse(Buffer.from(ext.value).toString('utf8')) as { attrs?: Record<string, string> }).attrs ?? {};
    return {
      subject: cert.subject.split('\n').join(', '),
      issuer: cert.issuer.split('\n').join(', '),
      serial: cert.serialNumber,
      validFrom: new Date(cert.validFrom),
      validTo: new Date(cert.validTo),
      fingerprint: cert.fingerprint256,
      attrs,
    };
  } catch {
    return { subject: '?', issuer: '?', serial: '', validFrom: undefined, validTo: undefined, fingerprint: '', attrs: {} };
  }
}

/** A transaction on the routing channel, recorded like any other chain action. */
async function onRouting<T>(req: Request, action: string, target: string, fcn: string, args: string[]): Promise<Submitted<T>> {
  const { chain, config } = platformOf(req);
  return act<T>(req, action, target, async () => chain.submitAs<T>(await chain.identityOf(req.user!), fcn, args, config.routingChannel));
}

async function routingQuery<T>(req: Request, fcn: string, args: string[] = []): Promise<T> {
  const { chain, config } = platformOf(req);
  return chain.evaluateAs<T>(await chain.identityOf(req.user!), fcn, args, config.routingChannel);
}

function done(req: Request, res: Response, blockNumber: number, txId: string) {
  flash(req, 'success', res.locals.t('common.done', { block: blockNumber, txId }));
}

function doneOnRouting(req: Request, res: Response, blockNumber: number, txId: string) {
  flash(req, 'success', res.locals.t('admin.doneOnRouting', { channel: platformOf(req).config.routingChannel, block: blockNumber, txId }));
}

// ---------------------------------------------------------------------------------------------
// Users

async function renderUsers(req: Request, res: Response, status = 200, values: Body = {}, error?: string) {
  const role = typeof req.query.role === 'string' && isRole(req.query.role) ? req.query.role : '';
  const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 40) : '';
  const filter: Record<string, unknown> = {};
  if (role) filter.role = role;
  if (q) {
    const pattern = { $regex: q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' };
    filter.$or = [{ username: pattern }, { displayName: pattern }, { orgId: pattern }];
  }
  const [users, total, orgs] = await Promise.all([
    User.find(filter).sort({ username: 1 }).limit(500).lean(),
    User.countDocuments(filter),
    OrganisationView.find().sort({ type: 1, _id: 1 }).lean(),
  ]);
  const all = orgs.map(viewRow);
  const orgNames = Object.fromEntries(all.map((o) => [o._id, o.name]));
  const rows = users.map((u) => ({ ...u, cert: certificateFacts(u.wallet?.certificate) }));
  res.status(status).render('admin-users', { title: 'admin.users', users: rows, total, orgs: all.filter((o) => o.active), orgNames, roles: ROLES, role, q, values, error, service: SERVICE_USERNAME });
}

async function renderUser(req: Request, res: Response, user: UserDoc | null, status = 200, error?: string) {
  if (!user) return notFound(res);
  const [org, activity] = await Promise.all([findOrganisation(user.orgId), AuditEntry.find({ username: user.username }).sort({ at: -1 }).limit(20).lean()]);
  res.status(status).render('admin-user', { title: 'admin.user', target: user, org, cert: certificateFacts(user.wallet?.certificate), activity, error, service: SERVICE_USERNAME });
}

async function findUser(id: unknown) {
  return typeof id === 'string' && OBJECT_ID.test(id) ? User.findById(id) : null;
}

// ---------------------------------------------------------------------------------------------
// Organisations

async function renderOrganisations(req: Request, res: Response, status = 200, values: Body = {}, error?: string) {
  const type = typeof req.query.type === 'string' && isRole(req.query.type) ? req.query.type : '';
  const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 40) : '';
  const filter: Record<string, unknown> = {};
  if (type) filter.type = type;
  if (q) {
    const pattern = { $regex: q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' };
    filter.$or = [{ _id: pattern }, { name: pattern }, { county: pattern }];
  }
  const [projected, counties, userCounts] = await Promise.all([
    OrganisationView.find(filter).sort({ type: 1, _id: 1 }).lean(),
    OrganisationView.distinct('county'),
    User.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$orgId', n: { $sum: 1 } } }]),
  ]);
  const users = Object.fromEntries(userCounts.map((c) => [c._id, c.n]));
  const orgs = projected.map(viewRow);
  res.status(status).render('admin-organisations', {
    title: 'admin.organisations',
    orgs,
    users,
    counties: (counties as string[]).filter(Boolean).sort((a, b) => a.localeCompare(b, 'zh-CN')),
    roles: ROLES,
    countyRoles: COUNTY_ROLES,
    msps: MSP_OF_ROLE,
    type,
    q,
    values,
    error,
  });
}

async function renderOrganisation(req: Request, res: Response, orgId: string, status = 200, values: Body = {}, error?: string) {
  const org = await findOrganisation(orgId);
  if (!org) return notFound(res);
  const [banks, users] = await Promise.all([OrganisationView.find({ type: 'bank', active: true }).sort({ _id: 1 }).lean(), User.find({ orgId }).sort({ username: 1 }).lean()]);
  res.status(status).render('admin-organisation', { title: 'admin.organisation', org, banks, users, values, error });
}

// ---------------------------------------------------------------------------------------------
// Routing chain


async function renderRouting(req: Request, res: Response, status = 200, values: Body = {}, error?: string, errorSet?: string) {
  const { config } = platformOf(req);
  let manager: RouteManager = { sets: [], currentFreeSet: 0, routeCount: 0 };
  let sets: SetStatus[] = [];
  let whitelist: WhitelistEntry[] = [];
  let chainError: string | undefined;
  try {
    manager = await routingQuery<RouteManager>(req, 'RouteManager:getManager');
    // The relay's view: the routing chain's sets with their nodes, and whether each answers here.
    sets = (await platformOf(req).chain.relay.setStatus()).map((s) => (s.served ? s : { ...s, healthError: res.locals.t('admin.setNotServed', { channel: s.channel }) }));
    whitelist = await routingQuery<WhitelistEntry[]>(req, 'Whitelist:list');
  } catch (err) {
    chainError = refusal(res, err);
  }
  // Look-ups are GET queries: they read the routing chain and change nothing.
  const lookup = typeof req.query.businessId === 'string' ? req.query.businessId.trim().slice(0, 64) : '';
  let found: Route | undefined;
  let lookupError: string | undefined;
  if (lookup) {
    try {
      found = await routingQuery<Route>(req, 'RouteManager:getRoute', [lookup]);
    } catch (err) {
      lookupError = refusal(res, err);
    }
  }
  const check = typeof req.query.address === 'string' ? req.query.address.trim().slice(0, 64) : '';
  let checked: { address: string; allowed: boolean; matched?: string } | undefined;
  let checkError: string | undefined;
  if (check) {
    try {
      checked = await routingQuery(req, 'Whitelist:check', [check]);
    } catch (err) {
      checkError = refusal(res, err);
    }
  }
  res.status(status).render('admin-routing', {
    title: 'admin.routing',
    channel: config.routingChannel,
    businessChannel: config.businessChannel,
    manager,
    sets,
    whitelist,
    chainError,
    lookup,
    found,
    lookupError,
    check,
    checked,
    checkError,
    values,
    error,
    errorSet,
  });
}

// ---------------------------------------------------------------------------------------------
// Bank API clients

async function renderApiClients(req: Request, res: Response, status = 200, values: Body = {}, error?: string) {
  const [clients, bankUsers, orgs] = await Promise.all([
    ApiClient.find().sort({ at: -1 }).limit(500).lean(),
    User.find({ role: 'bank', active: true }).sort({ username: 1 }).lean(),
    OrganisationView.find({ type: 'bank' }).lean(),
  ]);
  const userIds = clients.map((c) => c.userId).filter((id) => OBJECT_ID.test(id));
  const owners = await User.find({ _id: { $in: userIds } }).select('username displayName active').lean();
  const usernames = Object.fromEntries(owners.map((u) => [String(u._id), u]));
  const bankNames = Object.fromEntries(orgs.map((o) => [o._id, o.name]));
  const requests = await RelayRequest.find().sort({ createdAt: -1 }).limit(20).lean();
  res.status(status).render('admin-api-clients', { title: 'admin.apiClients', clients, bankUsers, usernames, bankNames, values, error, requests });
}

export function register(router: Router): void {
  route(router, 'GET', '/admin', ADMIN, async (req, res) => {
    const [users, activeUsers, orgs, activeOrgs, clients, recent] = await Promise.all([
      User.countDocuments(),
      User.countDocuments({ active: true }),
      OrganisationView.countDocuments(),
      OrganisationView.countDocuments({ active: true }),
      ApiClient.countDocuments({ active: true }),
      AuditEntry.find({ role: 'admin' }).sort({ at: -1 }).limit(10).lean(),
    ]);
    let manager: RouteManager | undefined;
    try {
      manager = await routingQuery<RouteManager>(req, 'RouteManager:getManager');
    } catch {
      manager = undefined;
    }
    res.render('admin', { title: 'nav.admin', users, activeUsers, orgs, activeOrgs, clients, manager, recent });
  });

  // --- users ---------------------------------------------------------------------------------

  route(router, 'GET', '/admin/users', ADMIN, async (req, res) => {
    await renderUsers(req, res);
  });

  route(router, 'POST', '/admin/users', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const username = required(body, 'username', 32);
      const displayName = required(body, 'displayName', 50);
      const role = required(body, 'role', 40);
      if (!isRole(role)) throw new FormError(`role: must be one of ${ROLES.join(', ')}`);
      const orgId = required(body, 'orgId', 64);
      const password = typeof body.password === 'string' ? body.password : '';
      if (password.length < 8 || password.length > 128) throw refused('password', '8–128 characters', 'refusal.passwordLength');
      // The certificate's role and org must agree with the registry, or the chain refuses every call.
      const org = await findOrganisation(orgId);
      if (!org) throw new FormError(`orgId: organisation ${orgId} is not registered`);
      if (org.type !== role) throw new FormError(`orgId: ${org.name} (${org._id}) is a ${org.type} organisation; a ${role} user needs a ${role} organisation`);
      if (!org.active) throw new FormError(`orgId: ${org.name} (${org._id}) has left the platform`);
      if (org.mspId !== MSP_OF_ROLE[role]) throw new FormError(`orgId: ${org._id} belongs to ${org.mspId}, but ${role} certificates are issued by ${MSP_OF_ROLE[role]}`);
      const user = await createUser(platformOf(req).chain, { username, displayName, password, role, orgId });
      await audit(req, 'admin:createUser', `${username} (${role}, ${orgId})`);
      flash(req, 'success', res.locals.t('admin.userCreated', { username, msp: user.wallet?.mspId ?? '' }));
      res.redirect(`/admin/users/${user.id}`);
    } catch (err) {
      if (!(err instanceof FormError)) await audit(req, 'admin:createUser', typeof body.username === 'string' ? body.username.slice(0, 32) : '', false, refusal(res, err));
      await renderUsers(req, res, 400, { ...body, password: '' }, refusal(res, err));
    }
  });

  route(router, 'GET', '/admin/users/:id', ADMIN, async (req, res) => {
    await renderUser(req, res, await findUser(req.params.id));
  });

  route(router, 'POST', '/admin/users/:id/active', ADMIN, async (req, res) => {
    const user = await findUser(req.params.id);
    if (!user) return notFound(res);
    const body = req.body as Body;
    const back = body.back === 'detail' ? `/admin/users/${user.id}` : '/admin/users';
    try {
      const active = flag(body, 'active');
      if (user.username === SERVICE_USERNAME) throw new FormError(res.locals.t('admin.serviceAccount'));
      if (user.id === req.user!.id && !active) throw new FormError(res.locals.t('admin.notYourself'));
      if (user.active === active) throw new FormError(res.locals.t(active ? 'admin.alreadyActive' : 'admin.alreadyInactive', { username: user.username }));
      // The account's certificate goes with it: revoked on the chain when it is deactivated (so its key can sign
      // nothing any more, even outside this platform), and a new one issued when it comes back.
      const { chain } = platformOf(req);
      if (active) await renewUserCertificate(chain, req.user!, user, `账户恢复，签发新证书 (account reactivated by ${req.user!.username})`);
      else await revokeUserCertificate(chain, req.user!, user, `账户停用 (account deactivated by ${req.user!.username})`);
      user.active = active;
      await user.save();
      await audit(req, active ? 'admin:reactivateUser' : 'admin:deactivateUser', user.username);
      flash(req, 'success', res.locals.t(active ? 'admin.userReactivated' : 'admin.userDeactivated', { username: user.username }));
      res.redirect(back);
    } catch (err) {
      if (back === '/admin/users') await renderUsers(req, res, 400, {}, refusal(res, err));
      else await renderUser(req, res, user, 400, refusal(res, err));
    }
  });

  /** Rotation: a new certificate for the user (a key that may have leaked, a renewal); the old one revoked on the chain. */
  route(router, 'POST', '/admin/users/:id/certificate', ADMIN, async (req, res) => {
    const user = await findUser(req.params.id);
    if (!user) return notFound(res);
    try {
      if (user.username === SERVICE_USERNAME) throw new FormError(res.locals.t('admin.serviceAccount'));
      if (!user.active) throw new FormError(res.locals.t('admin.renewInactive', { username: user.username }));
      // The reason goes on the chain with the revocation: required, as for every other change of the registry.
      const reason = typeof (req.body as Body).reason === 'string' ? String((req.body as Body).reason).trim() : '';
      if (reason.length < 5 || reason.length > 500) throw new FormError(res.locals.t('admin.renewReasonNeeded'));
      const renewed = await renewUserCertificate(platformOf(req).chain, req.user!, user, reason);
      await audit(req, 'admin:renewCertificate', user.username, true, `revoked ${renewed.revoked ?? '—'}, new ${renewed.fingerprint}`);
      flash(req, 'success', res.locals.t('admin.certRenewed', { username: user.username, fingerprint: renewed.fingerprint.slice(0, 16), revoked: (renewed.revoked ?? '—').slice(0, 16) }));
      res.redirect(`/admin/users/${user.id}`);
    } catch (err) {
      await renderUser(req, res, user, 400, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/users/:id/password', ADMIN, async (req, res) => {
    const user = await findUser(req.params.id);
    if (!user) return notFound(res);
    const body = req.body as Body;
    try {
      if (user.username === SERVICE_USERNAME) throw new FormError(res.locals.t('admin.serviceAccount'));
      const password = typeof body.password === 'string' ? body.password : '';
      if (password.length < 8 || password.length > 128) throw refused('password', '8–128 characters', 'refusal.passwordLength');
      if (body.confirm !== password) throw new FormError(res.locals.t('admin.passwordMismatch'));
      user.passwordHash = hashPassword(password);
      await user.save();
      // Whoever was logged in with the old password is logged out (sessions are stored as JSON text).
      await mongoose.connection.collection('sessions').deleteMany({ session: { $regex: `"userId":"${user.id}"` } });
      await audit(req, 'admin:resetPassword', user.username);
      flash(req, 'success', res.locals.t('admin.passwordReset', { username: user.username }));
      res.redirect(`/admin/users/${user.id}`);
    } catch (err) {
      await renderUser(req, res, user, 400, refusal(res, err));
    }
  });

  // --- organisations -------------------------------------------------------------------------

  route(router, 'GET', '/admin/organisations', ADMIN, async (req, res) => {
    await renderOrganisations(req, res);
  });

  route(router, 'POST', '/admin/organisations', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const id = identifier(body, 'id');
      const name = required(body, 'name', 100);
      const type = required(body, 'type', 40);
      if (!isRole(type)) throw new FormError(`type: must be one of ${ROLES.join(', ')}`);
      const county = text(body, 'county', 40);
      if (COUNTY_ROLES.includes(type) && !county) throw new FormError(`county: a ${type} organisation belongs to a county; name it`);
      if (await findOrganisation(id)) throw new FormError(`id: organisation ${id} is already registered`);
      const organisation = { id, name, type, mspId: MSP_OF_ROLE[type], ...(county ? { county } : {}), accounts: [] };
      const { chain } = platformOf(req);
      const submitted = await act<Organisation>(req, 'Organisation:register', id, () => chain.submit<Organisation>(req.user!, 'Organisation:register', JSON.stringify(organisation)));
      done(req, res, submitted.blockNumber, submitted.txId);
      res.redirect(`/admin/organisations/${id}`);
    } catch (err) {
      await renderOrganisations(req, res, 400, body, refusal(res, err));
    }
  });

  route(router, 'GET', '/admin/organisations/:id', ADMIN, async (req, res) => {
    await renderOrganisation(req, res, String(req.params.id));
  });

  route(router, 'POST', '/admin/organisations/:id/accounts', ADMIN, async (req, res) => {
    const orgId = String(req.params.id);
    const org = await findOrganisation(orgId);
    if (!org) return notFound(res);
    const body = req.body as Body;
    try {
      const accountNo = required(body, 'accountNo', 32);
      if (!/^[0-9]{6,32}$/.test(accountNo)) throw new FormError('accountNo: a bank account number of 6–32 digits');
      const bankId = required(body, 'bankId', 64);
      const bank = await findOrganisation(bankId);
      // A bank's own accounts may name the bank itself; everyone else's must be at a registered, active bank.
      if (!(org.type === 'bank' && bankId === org._id) && (!bank || bank.type !== 'bank' || !bank.active)) throw new FormError(`bankId: ${bankId} is not an active bank on the platform`);
      const name = required(body, 'name', 100);
      const owner = await OrganisationView.findOne({ 'accounts.accountNo': accountNo }).select('_id').lean();
      if (owner) throw new FormError(`accountNo: account ${accountNo} is already registered to ${owner._id}`);
      const { chain } = platformOf(req);
      const submitted = await act(req, 'Organisation:addAccount', `${orgId} ${accountNo}`, () => chain.submit(req.user!, 'Organisation:addAccount', orgId, JSON.stringify({ accountNo, bankId, name })));
      done(req, res, submitted.blockNumber, submitted.txId);
      res.redirect(`/admin/organisations/${orgId}`);
    } catch (err) {
      await renderOrganisation(req, res, orgId, 400, body, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/organisations/:id/active', ADMIN, async (req, res) => {
    const orgId = String(req.params.id);
    if (!(await findOrganisation(orgId))) return notFound(res);
    const body = req.body as Body;
    try {
      const active = flag(body, 'active');
      if (!active && orgId === req.user!.orgId) throw new FormError(res.locals.t('admin.notOwnOrganisation'));
      const { chain } = platformOf(req);
      const submitted = await act(req, active ? 'Organisation:join' : 'Organisation:leave', orgId, () => chain.submit(req.user!, 'Organisation:setActive', orgId, String(active)));
      done(req, res, submitted.blockNumber, submitted.txId);
      res.redirect(`/admin/organisations/${orgId}`);
    } catch (err) {
      await renderOrganisation(req, res, orgId, 400, {}, refusal(res, err));
    }
  });

  // --- ordering service (thesis chapter 3) -----------------------------------------------------

  route(router, 'GET', '/admin/ordering', ADMIN, async (req, res) => {
    const { gateway } = platformOf(req).chain;
    let status: OrderingStatus | undefined;
    let error: string | undefined;
    try {
      status = await gateway.orderingStatus?.();
    } catch (err) {
      error = refusal(res, err);
    }
    res.render('admin-ordering', { title: 'admin.ordering', backend: gateway.backend, status, error });
  });

  // --- routing chain (thesis chapter 4) --------------------------------------------------------

  route(router, 'GET', '/admin/routing', ADMIN, async (req, res) => {
    await renderRouting(req, res);
  });

  route(router, 'POST', '/admin/routing/sets', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const setId = identifier(body, 'setId');
      const channel = required(body, 'channel', 49);
      if (!/^[a-z][a-z0-9.-]{0,48}$/.test(channel)) throw new FormError('channel: a Fabric channel name (lower-case letters, digits, "." or "-", starting with a letter)');
      const maxNum = wholeNumber(body, 'maxNum', 1, 10_000_000);
      const warnNum = wholeNumber(body, 'warnNum', 1, 10_000_000);
      if (warnNum > maxNum) throw new FormError('warnNum: must not exceed maxNum');
      const submitted = await onRouting(req, 'RouteManager:registerSet', setId, 'RouteManager:registerSet', [JSON.stringify({ setId, channel, maxNum, warnNum })]);
      // The new set goes into service at once where the ledger can open its channel (the embedded ledger).
      await serveSet(platformOf(req), channel).then(
        () => flash(req, 'success', res.locals.t('admin.setServed', { setId, channel })),
        (err: Error) => flash(req, 'warning', res.locals.t('admin.setNotServedYet', { setId, channel, reason: err.message })),
      );
      doneOnRouting(req, res, submitted.blockNumber, submitted.txId);
      res.redirect('/admin/routing');
    } catch (err) {
      await renderRouting(req, res, 400, body, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/routing/sets/:id/nodes', ADMIN, async (req, res) => {
    const setId = String(req.params.id);
    const body = req.body as Body;
    try {
      if (!ID_PATTERN.test(setId)) throw new FormError(`setId: no set ${setId.slice(0, 64)}`);
      const nodeId = identifier(body, 'nodeId');
      const listenIp = required(body, 'listenIp', 45);
      if (isIP(listenIp) === 0) throw new FormError('listenIp: an IPv4 or IPv6 address');
      const p2pPort = wholeNumber(body, 'p2pPort', 1, 65535);
      const rpcPort = wholeNumber(body, 'rpcPort', 1, 65535);
      const nodeType = required(body, 'nodeType', 10);
      if (!['peer', 'orderer', 'relay'].includes(nodeType)) throw new FormError('nodeType: peer, orderer or relay');
      const desc = text(body, 'desc', 200);
      const caHash = required(body, 'caHash', 64).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(caHash)) throw new FormError("caHash: the SHA-256 of the node's CA certificate, 64 hex digits");
      const agencyInfo = required(body, 'agencyInfo', 200);
      const node = { nodeId, listenIp, p2pPort, rpcPort, nodeType, desc, caHash, agencyInfo };
      const submitted = await onRouting(req, 'RouteSet:addNode', `${setId} ${nodeId}`, 'RouteSet:addNode', [setId, JSON.stringify(node)]);
      doneOnRouting(req, res, submitted.blockNumber, submitted.txId);
      res.redirect('/admin/routing');
    } catch (err) {
      await renderRouting(req, res, 400, body, refusal(res, err), setId);
    }
  });

  route(router, 'POST', '/admin/routing/sets/:id/nodes/:nodeId/remove', ADMIN, async (req, res) => {
    const setId = String(req.params.id);
    const nodeId = String(req.params.nodeId);
    const body = req.body as Body;
    try {
      if (!ID_PATTERN.test(setId)) throw new FormError(`setId: no set ${setId.slice(0, 64)}`);
      if (!ID_PATTERN.test(nodeId)) throw new FormError(`nodeId: no node ${nodeId.slice(0, 64)}`);
      // The button says which node it removes: an empty or altered form removes nothing.
      if (body.confirm !== nodeId) throw new FormError(res.locals.t('admin.confirmRemove', { nodeId }));
      const submitted = await onRouting(req, 'RouteSet:removeNode', `${setId} ${nodeId}`, 'RouteSet:removeNode', [setId, nodeId]);
      doneOnRouting(req, res, submitted.blockNumber, submitted.txId);
      res.redirect('/admin/routing');
    } catch (err) {
      await renderRouting(req, res, 400, {}, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/routing/routes', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const businessId = identifier(body, 'businessId');
      const submitted = await onRouting<Route & { warning: boolean; existing: boolean }>(req, 'RouteManager:registerRoute', businessId, 'RouteManager:registerRoute', [businessId]);
      const r = submitted.result;
      if (r.existing) flash(req, 'info', res.locals.t('admin.routeExisting', { businessId, setId: r.setId, channel: r.channel }));
      else doneOnRouting(req, res, submitted.blockNumber, submitted.txId);
      if (r.warning) flash(req, 'warning', res.locals.t('admin.setWarning', { setId: r.setId }));
      res.redirect(`/admin/routing?businessId=${encodeURIComponent(businessId)}#lookup`);
    } catch (err) {
      await renderRouting(req, res, 400, body, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/routing/whitelist', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const address = required(body, 'address', 64);
      const cidr = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(address);
      if (isIP(address) === 0 && !(cidr && isIP(cidr[1]) === 4 && Number(cidr[2]) <= 32)) throw new FormError('address: an IP address, or an IPv4 block such as 10.1.0.0/16');
      const description = required(body, 'description', 200);
      const submitted = await onRouting(req, 'Whitelist:add', address, 'Whitelist:add', [JSON.stringify({ address, description })]);
      doneOnRouting(req, res, submitted.blockNumber, submitted.txId);
      res.redirect('/admin/routing#whitelist');
    } catch (err) {
      await renderRouting(req, res, 400, body, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/routing/whitelist/remove', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const address = required(body, 'address', 64);
      const submitted = await onRouting(req, 'Whitelist:remove', address, 'Whitelist:remove', [address]);
      doneOnRouting(req, res, submitted.blockNumber, submitted.txId);
      res.redirect('/admin/routing#whitelist');
    } catch (err) {
      await renderRouting(req, res, 400, {}, refusal(res, err));
    }
  });

  // --- bank API clients ----------------------------------------------------------------------

  route(router, 'GET', '/admin/api-clients', ADMIN, async (req, res) => {
    await renderApiClients(req, res);
  });

  route(router, 'POST', '/admin/api-clients', ADMIN, async (req, res) => {
    const body = req.body as Body;
    try {
      const userId = required(body, 'userId', 24);
      const user = await findUser(userId);
      if (!user || user.role !== 'bank') throw new FormError('userId: choose a user of a bank');
      if (!user.active) throw new FormError(`userId: ${user.username} is deactivated`);
      const label = required(body, 'label', 60);
      // Only the hash is kept: the token is shown once and cannot be recovered, only revoked.
      const token = crypto.randomBytes(24).toString('base64url');
      const client = await ApiClient.create({ bankId: user.orgId, userId: user.id, label, tokenHash: tokenHash(token) });
      await audit(req, 'admin:issueApiToken', `${label} (${user.username}, ${user.orgId})`);
      res.status(201).render('admin-token', { title: 'admin.apiClients', client, token, owner: user, origin: `${req.protocol}://${req.get('host')}` });
    } catch (err) {
      await renderApiClients(req, res, 400, body, refusal(res, err));
    }
  });

  route(router, 'POST', '/admin/api-clients/:id/revoke', ADMIN, async (req, res) => {
    const id = String(req.params.id);
    const client = OBJECT_ID.test(id) ? await ApiClient.findById(id) : null;
    if (!client) return notFound(res);
    try {
      // The button names the token it revokes: an empty or altered form revokes nothing.
      if ((req.body as Body).confirm !== id) throw new FormError(res.locals.t('admin.confirmRevoke'));
      if (!client.active) throw new FormError(res.locals.t('admin.alreadyRevoked', { label: client.label ?? id }));
      client.active = false;
      await client.save();
      await audit(req, 'admin:revokeApiToken', `${client.label} (${client.bankId})`);
      flash(req, 'success', res.locals.t('admin.tokenRevoked', { label: client.label ?? id }));
      res.redirect('/admin/api-clients');
    } catch (err) {
      await renderApiClients(req, res, 400, {}, refusal(res, err));
    }
  });
}
