/**
 * Acceptance (承兑): the implementing unit accepts each draft that has travelled its whole path (or each
 * tranche of its last leg as it arrives), after checking the path actually taken and the issuer's
 * signature; the last acceptance funds the project.
 */
import type { Request, Response, Router } from 'express';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { DraftView, OrganisationView, ProjectView } from '../models/projections';
import type { Translate } from '../i18n';
import { platformOf } from '../platform';
import { act, flash, FormError, refusal } from './act';
import { route } from './route';

const DRAFT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/;

/** The issuer's signature as the chain checks it; a failed check reads as invalid, never as valid. */
async function signatureValid(req: Request, draftId: string): Promise<boolean> {
  const { chain } = platformOf(req);
  try {
    return (await chain.evaluate<{ valid: boolean }>(req.user!, 'Draft:verifyIssuerSignature', draftId)).valid === true;
  } catch {
    return false;
  }
}

/**
 * Drafts listed at most, the longest-waiting first: each listed draft's issuer signature is checked on the chain, so
 * a unit with hundreds waiting would wait for hundreds of checks (34 s under the load benchmark).
 */
const AWAITING_SHOWN = 40;

async function renderPage(req: Request, res: Response, status: number, error?: string) {
  const org = req.user!.orgId;
  const waiting = { holderId: org, status: 'AWAITING_ACCEPTANCE' };
  const [awaiting, accepted, orgs, awaitingTotal] = await Promise.all([
    DraftView.find(waiting).sort({ updatedAt: 1, _id: 1 }).limit(AWAITING_SHOWN).lean(),
    DraftView.find({ holderId: org, status: { $in: ['ACCEPTED', 'PARTLY_ACCEPTED'] } }).sort({ updatedAt: -1 }).limit(50).lean(),
    OrganisationView.find().select('name').lean(),
    DraftView.countDocuments(waiting),
  ]);
  const signatures = Object.fromEntries(await Promise.all(awaiting.map(async (d) => [String(d._id), await signatureValid(req, String(d._id))] as const)));
  const projectIds = [...new Set([...awaiting, ...accepted].map((d) => d.projectId ?? ''))];
  const projects = await ProjectView.find({ _id: { $in: projectIds } }).select('name status').lean();
  res.status(status).render('acceptance', {
    title: 'nav.acceptance',
    awaiting: awaiting.map((d) => ({ ...d, doc: d.doc as Draft })),
    awaitingTotal,
    accepted: accepted.map((d) => ({ ...d, doc: d.doc as Draft })),
    signatures,
    projects: Object.fromEntries(projects.map((p) => [p._id, p])),
    orgNames: Object.fromEntries(orgs.map((o) => [o._id, o.name])),
    error,
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/acceptance', ['implementingUnit'], async (req, res) => {
    await renderPage(req, res, 200);
  });

  route(router, 'POST', '/acceptance/:draftId', ['implementingUnit'], async (req, res) => {
    const t = res.locals.t as Translate;
    const draftId = String(req.params.draftId);
    try {
      const view = DRAFT_ID.test(draftId) ? await DraftView.findOne({ _id: draftId, holderId: req.user!.orgId, status: 'AWAITING_ACCEPTANCE' }).lean() : null;
      if (!view) throw new FormError(t('accept.err.notAwaiting', { draft: draftId.slice(0, 64) }));
      const { chain } = platformOf(req);
      const done = await act(req, 'Draft:accept', draftId, () => chain.submit<Draft>(req.user!, 'Draft:accept', draftId));
      flash(req, 'success', t('accept.done', { draft: draftId, block: done.blockNumber }));
      const project = await ProjectView.findById(done.result.projectId).select('name status').lean();
      if (project?.status === 'FUNDED') flash(req, 'success', t('accept.funded', { project: project.name }));
      res.redirect('/acceptance');
    } catch (err) {
      await renderPage(req, res, 400, refusal(res, err));
    }
  });
}
