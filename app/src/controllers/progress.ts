/**
 * Progress (进度上报): a funded project's money is released as the work needs it (按需拨付), so the
 * implementing unit reports progress by milestone with evidence; the evidence's SHA-256 goes on
 * the chain, the files stay here.
 */
import type { Request, Response, Router } from 'express';
import type { Project } from '@fund/chaincode/dist/project/project';
import { ProjectView } from '../models/projections';
import { documentRefs, keepFiles, pendingFiles, uploads } from '../services/files';
import type { Translate } from '../i18n';
import { platformOf } from '../platform';
import { act, flash, FormError, formText, refusal } from './act';
import { route } from './route';
import { visibleProject } from './projects';

/**
 * Projects whose work is under way: funded, or paid in tranches with a first tranche accepted (the next tranches
 * are released by the milestones reported here). The chain decides; this only lists what it will take.
 */
const UNDERWAY = { $or: [{ status: 'FUNDED' }, { status: 'APPROVED', releasedFen: { $gt: 0 } }] };

/** The unit's own project under way, or undefined: only these take progress reports. */
async function fundedProject(req: Request, projectId: string): Promise<Project | undefined> {
  const view = await visibleProject(req, projectId);
  const underway = view?.status === 'FUNDED' || (view?.status === 'APPROVED' && (view.releasedFen ?? 0) > 0);
  if (!view || view.implementingUnitId !== req.user!.orgId || !underway) return undefined;
  return view.doc as Project;
}

function renderForm(res: Response, status: number, project: Project, values: Record<string, unknown>, error?: string) {
  res.status(status).render('progress-form', { title: 'nav.progress', project, values, error });
}

function reportInput(t: Translate, project: Project, body: Record<string, unknown>) {
  const str = (k: string) => formText(body, k);
  const milestone = str('milestone');
  if (!project.milestones.some((m) => m.name === milestone)) throw new FormError(t('prog.err.milestone'));
  const percentText = str('percent');
  if (!/^[0-9]{1,3}$/.test(percentText) || Number(percentText) > 100) throw new FormError(t('prog.err.percent'));
  const percent = Number(percentText);
  if (percent < project.percentComplete) throw new FormError(t('prog.err.percentBack', { current: project.percentComplete }));
  const note = str('note');
  if (!note || note.length > 2000) throw new FormError(t('prog.err.note'));
  return { milestone, percent, note };
}

export function register(router: Router): void {
  route(router, 'GET', '/progress', ['implementingUnit'], async (req, res) => {
    const projects = await ProjectView.find({ implementingUnitId: req.user!.orgId, ...UNDERWAY }).sort({ updatedAt: -1 }).lean();
    res.render('progress', { title: 'nav.progress', projects });
  });

  route(router, 'GET', '/progress/:projectId', ['implementingUnit'], async (req, res) => {
    const t = res.locals.t as Translate;
    const projectId = String(req.params.projectId);
    const project = await fundedProject(req, projectId);
    if (!project) return res.status(404).render('error', { status: 404, message: t('prog.err.notFunded', { project: projectId.slice(0, 64) }) });
    const next = project.milestones.find((m) => !project.progress.some((p) => p.milestone === m.name));
    renderForm(res, 200, project, { milestone: next?.name ?? project.milestones.at(-1)?.name, percent: String(project.percentComplete) });
  });

  route(router, 'POST', '/progress/:projectId', ['implementingUnit'], uploads('evidence', 10), async (req, res) => {
    const t = res.locals.t as Translate;
    const projectId = String(req.params.projectId);
    const project = await fundedProject(req, projectId);
    if (!project) return res.status(404).render('error', { status: 404, message: t('prog.err.notFunded', { project: projectId.slice(0, 64) }) });
    const body = req.body as Record<string, unknown>;
    try {
      const files = pendingFiles(req, res);
      const input = reportInput(t, project, body);
      if (files.length === 0) throw new FormError(t('prog.err.evidence'));
      const report = { ...input, evidence: documentRefs(files) };
      const { chain } = platformOf(req);
      const done = await act(req, 'Project:reportProgress', project.id, () => chain.submit<Project>(req.user!, 'Project:reportProgress', project.id, JSON.stringify(report)));
      // Only now that the chain holds their hashes are the files kept.
      await keepFiles(req, files);
      flash(req, 'success', t('prog.done', { block: done.blockNumber }));
      if (done.result.status === 'COMPLETED') flash(req, 'success', t('prog.completed'));
      res.redirect(`/projects/${project.id}`);
    } catch (err) {
      renderForm(res, 400, project, body, refusal(res, err));
    }
  });
}
