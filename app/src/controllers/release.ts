/**
 * Money released against work (按需拨付) and its last step (承兑后支付): the county office confirms a milestone the
 * unit reported, which releases the tranches tied to it; the implementing unit registers each payout to a payee the
 * project names, which the bank's record then reconciles like any hop. Both are forms on the project page.
 */
import type { Request, Response, Router } from 'express';
import type { Project } from '@fund/chaincode/dist/project/project';
import type { CheckResult } from '@fund/chaincode/dist/reconciliation/reconciliation';
import { platformOf } from '../platform';
import { parseYuan } from '../services/money';
import type { Translate } from '../i18n';
import { act, flash, FormError, formText, refusal } from './act';
import { parseSerial } from './disbursement';
import { renderProject, visibleProject } from './projects';
import { route } from './route';


/** Runs a form's work; a refusal shows the project page again with the form's values and the reason. */
async function onProject(req: Request, res: Response, form: string, fields: string[], work: (project: Project, t: Translate) => Promise<void>) {
  const projectId = String(req.params.id);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const view = await visibleProject(req, projectId);
  if (!view) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
  try {
    await work(view.doc as Project, res.locals.t as Translate);
    res.redirect(`/projects/${encodeURIComponent(projectId)}`);
  } catch (err) {
    const values = Object.fromEntries(fields.map((k) => [k, formText(body, k).slice(0, 200)]));
    await renderProject(req, res, 400, projectId, { name: form, values, error: refusal(res, err) });
  }
}

export function register(router: Router): void {
  route(router, 'POST', '/projects/:id/milestones/confirm', ['countyOffice'], (req, res) =>
    onProject(req, res, 'confirm', ['milestone', 'note'], async (project, t) => {
      const body = req.body as Record<string, unknown>;
      const milestone = formText(body, 'milestone');
      if (!project.milestones.some((m) => m.name === milestone)) throw new FormError(t('prog.err.milestone'));
      const input = { milestone, note: formText(body, 'note') };
      const done = await act(req, 'Project:confirmMilestone', project.id, () => platformOf(req).chain.submit<Project>(req.user!, 'Project:confirmMilestone', project.id, JSON.stringify(input)));
      flash(req, 'success', t('milestone.confirmed', { milestone, block: done.blockNumber }));
    }),
  );

  route(router, 'POST', '/projects/:id/payouts', ['implementingUnit'], (req, res) =>
    onProject(req, res, 'payout', ['serial', 'payeeAccount', 'amount', 'purpose'], async (project, t) => {
      const body = req.body as Record<string, unknown>;
      const serial = parseSerial(t, formText(body, 'serial'));
      const payeeAccount = formText(body, 'payeeAccount');
      if (!(project.payees ?? []).some((p) => p.accountNo === payeeAccount)) throw new FormError(t('payout.err.payee'));
      const amount = parseYuan('amount', formText(body, 'amount'));
      const purpose = formText(body, 'purpose');
      if (!purpose) throw new FormError(t('payout.err.purpose'));
      const input = { serial, projectId: project.id, payeeAccount, amount, purpose };
      const done = await act(req, 'Reconciliation:registerPayout', serial, () => platformOf(req).chain.submit<CheckResult>(req.user!, 'Reconciliation:registerPayout', JSON.stringify(input)));
      flash(req, done.result.outcome === 'MATCHED' ? 'success' : 'info', t(`payout.outcome.${done.result.outcome === 'MATCHED' ? 'MATCHED' : 'PENDING'}`, { serial, block: done.blockNumber }));
    }),
  );
}
