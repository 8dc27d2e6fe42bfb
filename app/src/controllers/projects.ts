/**
 * Projects (项目): list with statuses and filters, filing and revising (county office), and the detail
 * page with the drafts' planned and actual paths, the fund flow, progress, documents and the full
 * on-chain history.
 */
import type { Request, Response, Router } from 'express';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { FundPolicy } from '@fund/chaincode/dist/policy/policy';
import { PROJECT_STATUSES } from '@fund/chaincode/dist/project/project';
import { DraftView, OrganisationView, ProjectView, TransferView } from '../models/projections';
import { StoredFile } from '../models/activity';
import { projectScope } from '../services/scope';
import { parseYuan } from '../services/money';
import { checkFile, documentRefs, keepFiles, pendingFiles, uploads } from '../services/files';
import { projectHistory } from '../services/project-history';
import { platformOf } from '../platform';
import { act, flash, FormError, refusal } from './act';
import { translateRefusal } from '../i18n/refusals';
import type { Role } from '@fund/chaincode/dist/access/roles';
import { ANY_USER, DOSSIER_READERS, route } from './route';

const PAGE_SIZE = 20;

/** A visible project, or undefined (not found and not allowed look the same to the user). */
export async function visibleProject(req: Request, projectId: string) {
  if (typeof projectId !== 'string' || projectId.length > 64) return undefined;
  return (await ProjectView.findOne({ ...(await projectScope(req.user!)), _id: projectId }).lean()) ?? undefined;
}

/** The filing form's fields → the chaincode's project input (amounts yuan → fen). */
function projectInput(body: Record<string, unknown>, county: string, documents: unknown[]) {
  const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
  const list = (k: string) => {
    const v = body[k];
    return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
  };
  const names = list('milestoneName');
  const dates = list('milestoneDate');
  const milestones = names.map((name, i) => ({ name: name.trim(), dueDate: dates[i] ?? '' })).filter((m) => m.name || m.dueDate);
  const fundingPlan: Array<{ source: string; payerId: string; amount: string }> = [];
  for (const source of ['bank', 'provincialFinance', 'countyFinance']) {
    const amount = str(`amount_${source}`).trim();
    if (!amount) continue;
    const payerId = str(`payer_${source}`);
    if (!payerId) throw new FormError(`payer_${source}: choose who pays the ${source} share`, { key: 'refusal.payer', field: `payer_${source}` });
    fundingPlan.push({ source, payerId, amount: parseYuan(`amount_${source}`, amount) });
  }
  // Payee rows: a row left wholly empty is no payee; a half-filled one is sent as it is for the chain to name the gap.
  const payeeNames = list('payeeName');
  const payeeAccounts = list('payeeAccount');
  const payeeBanks = list('payeeBank');
  const payees = payeeNames
    .map((name, i) => ({ name: name.trim(), accountNo: (payeeAccounts[i] ?? '').trim(), bank: (payeeBanks[i] ?? '').trim() }))
    .filter((p) => p.name || p.accountNo || p.bank);
  const exceptionRequest = str('exceptionRequest').trim();
  return {
    name: str('name'),
    county,
    town: str('town'),
    department: str('department'),
    description: str('description'),
    budget: parseYuan('budget', str('budget')),
    implementingUnitId: str('implementingUnitId'),
    startDate: str('startDate'),
    endDate: str('endDate'),
    milestones,
    fundingPlan,
    documents,
    payees,
    ...(exceptionRequest ? { exceptionRequest } : {}),
  };
}

async function formChoices(county: string) {
  const [units, countyFinance, banks, provincial] = await Promise.all([
    OrganisationView.find({ type: 'implementingUnit', county, active: true }).sort({ _id: 1 }).lean(),
    OrganisationView.find({ type: 'countyFinance', county, active: true }).sort({ _id: 1 }).lean(),
    OrganisationView.find({ type: 'bank', active: true }).sort({ _id: 1 }).lean(),
    OrganisationView.find({ type: 'provincialFinance', active: true }).sort({ _id: 1 }).lean(),
  ]);
  return { units, countyFinance, banks, provincial };
}

async function ownCounty(req: Request): Promise<string> {
  const org = await OrganisationView.findById(req.user!.orgId).lean();
  if (!org?.county) throw new FormError(`organisation ${req.user!.orgId} has no county`);
  return org.county;
}

async function renderForm(req: Request, res: Response, status: number, values: Record<string, unknown>, error?: string, project?: Project) {
  const county = await ownCounty(req);
  // The policy in force, so the county sees the shares its plan must meet before filing it.
  const policy = await platformOf(req)
    .chain.evaluate<FundPolicy | null>(req.user!, 'Policy:current')
    .catch(() => null);
  res.status(status).render('project-form', { title: project ? 'project.revise' : 'nav.apply', county, values, error, project, policy, ...(await formChoices(county)) });
}

/** Form values for a revision: the project as filed, amounts back in yuan. */
function valuesOf(p: Project): Record<string, unknown> {
  const yuan = (fen: string) => (Number(BigInt(fen)) / 100).toFixed(2);
  const values: Record<string, unknown> = {
    ...p,
    budget: yuan(p.budget),
    milestoneName: p.milestones.map((m) => m.name),
    milestoneDate: p.milestones.map((m) => m.dueDate),
    payeeName: (p.payees ?? []).map((x) => x.name),
    payeeAccount: (p.payees ?? []).map((x) => x.accountNo),
    payeeBank: (p.payees ?? []).map((x) => x.bank),
  };
  for (const f of p.fundingPlan) {
    values[`amount_${f.source}`] = yuan(f.amount);
    values[`payer_${f.source}`] = f.payerId;
  }
  return values;
}

/**
 * The project page; `form` carries a refused form on it (a milestone confirmation, a payout) back with its error so
 * the person sees what they typed and why it was refused.
 */
export async function renderProject(req: Request, res: Response, status: number, projectId: string, form?: { name: string; values: Record<string, string>; error: string }) {
  const view = await visibleProject(req, projectId);
  if (!view) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
  const project = view.doc as Project;
  const { chain } = platformOf(req);
  const [drafts, transfers, orgs] = await Promise.all([
    DraftView.find({ projectId: project.id }).sort({ _id: 1 }).lean(),
    TransferView.find({ projectId: project.id }).sort({ updatedAt: 1 }).lean(),
    OrganisationView.find().select('name').lean(),
  ]);
  const history = await projectHistory(chain.gateway, await chain.identityOf(req.user!), view.channel ?? chain.channel, project, transfers);
  const orgNames = Object.fromEntries(orgs.map((o) => [o._id, o.name]));
  const fileIds = [...project.documents, ...project.progress.flatMap((p) => p.evidence)].map((d) => d.sha256);
  const stored = new Set((await StoredFile.find({ _id: { $in: fileIds } }).select('_id').lean()).map((f) => String(f._id)));
  // A stored file whose bytes no longer hash to what the chain holds is shown as tampered, not only said in a header.
  const tampered = new Set((await Promise.all([...stored].map(async (sha) => ((await checkFile(sha)).intact ? '' : sha)))).filter(Boolean));
  const dossier = DOSSIER_READERS.includes(req.user!.role as Role);
  res.status(status).render('project', {
    title: 'project.detail',
    project,
    drafts,
    transfers,
    orgNames,
    history,
    stored,
    tampered,
    channel: view.channel ?? chain.channel,
    dossier,
    payouts: view.payouts ?? null,
    releasedFen: view.releasedFen ?? 0,
    form,
    translateRefusal: (text: string) => translateRefusal(res.locals.t, text),
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/projects', ANY_USER, async (req, res) => {
    const scope = await projectScope(req.user!);
    const filter: Record<string, unknown> = { ...scope };
    const status = typeof req.query.status === 'string' && (PROJECT_STATUSES as readonly string[]).includes(req.query.status) ? req.query.status : '';
    const county = typeof req.query.county === 'string' ? req.query.county.slice(0, 40) : '';
    const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 60) : '';
    if (status) filter.status = status;
    if (county && !scope.county) filter.county = county;
    if (q) filter.$or = [{ _id: q.toUpperCase() }, { name: { $regex: q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') } }];
    const page = Math.max(1, Math.min(10_000, Number.parseInt(String(req.query.page ?? '1'), 10) || 1));
    const [projects, total, counties] = await Promise.all([
      ProjectView.find(filter).select('-doc').sort({ updatedAt: -1 }).skip((page - 1) * PAGE_SIZE).limit(PAGE_SIZE).lean(),
      ProjectView.countDocuments(filter),
      // The counties of the registry (a small collection), not of 10,000 projects.
      scope.county ? Promise.resolve([scope.county as string]) : OrganisationView.distinct('county', { county: { $nin: [null, ''] } }),
    ]);
    res.render('projects', { title: 'nav.projects', projects, total, page, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)), status, county, q, counties: counties.sort(), statuses: PROJECT_STATUSES });
  });

  route(router, 'GET', '/projects/new', ['countyOffice'], async (req, res) => {
    await renderForm(req, res, 200, { milestoneName: ['', '', ''], milestoneDate: ['', '', ''] });
  });

  route(router, 'POST', '/projects', ['countyOffice'], uploads('documents', 20), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    try {
      const files = pendingFiles(req, res);
      const input = projectInput(body, await ownCounty(req), documentRefs(files));
      const { chain } = platformOf(req);
      const done = await act(req, 'Project:file', input.name, () => chain.submit<Project>(req.user!, 'Project:file', JSON.stringify(input)));
      await keepFiles(req, files);
      flash(req, 'success', res.locals.t('common.done', { block: done.blockNumber, txId: done.txId }));
      if (done.route) flash(req, 'info', res.locals.t('project.routedTo', { setId: done.route.setId, channel: done.route.channel }));
      res.redirect(`/projects/${done.result.id}`);
    } catch (err) {
      await renderForm(req, res, 400, body, refusal(res, err));
    }
  });

  route(router, 'GET', '/projects/:id/revise', ['countyOffice'], async (req, res) => {
    const view = await visibleProject(req, String(req.params.id));
    if (!view) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    const project = view.doc as Project;
    await renderForm(req, res, 200, valuesOf(project), undefined, project);
  });

  route(router, 'POST', '/projects/:id/revise', ['countyOffice'], uploads('documents', 20), async (req, res) => {
    const view = await visibleProject(req, String(req.params.id));
    if (!view) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    const project = view.doc as Project;
    const body = req.body as Record<string, unknown>;
    try {
      const files = pendingFiles(req, res);
      // Documents already on the project stay unless the form drops them.
      const kept = project.documents.filter((d) => ([] as unknown[]).concat(body.keepDocument ?? []).includes(d.sha256));
      const input = projectInput(body, project.county, [...kept, ...documentRefs(files)]);
      const { chain } = platformOf(req);
      const done = await act(req, 'Project:revise', project.id, () => chain.submit<Project>(req.user!, 'Project:revise', project.id, JSON.stringify(input)));
      await keepFiles(req, files);
      flash(req, 'success', res.locals.t('common.done', { block: done.blockNumber, txId: done.txId }));
      res.redirect(`/projects/${project.id}`);
    } catch (err) {
      await renderForm(req, res, 400, { ...body, documents: project.documents }, refusal(res, err), project);
    }
  });

  route(router, 'GET', '/projects/:id', ANY_USER, async (req, res) => {
    await renderProject(req, res, 200, String(req.params.id));
  });

  route(router, 'GET', '/files/:sha256', ANY_USER, async (req, res) => {
    const sha = String(req.params.sha256);
    if (!/^[0-9a-f]{64}$/.test(sha)) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    // A file is readable by whoever may see a project that references it.
    const scope = await projectScope(req.user!);
    const referenced = await ProjectView.exists({ ...scope, $or: [{ 'doc.documents.sha256': sha }, { 'doc.progress.evidence.sha256': sha }] });
    const file = referenced ? await StoredFile.findById(sha).lean() : null;
    if (!file?.path) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    const check = await checkFile(sha);
    res.setHeader('X-Content-SHA256', sha);
    res.setHeader('X-Content-Intact', String(check.intact));
    res.download(file.path, file.name ?? sha, { headers: { 'Content-Type': file.mime ?? 'application/octet-stream' } });
  });
}
