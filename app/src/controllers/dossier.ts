/**
 * A project's audit dossier (审计档案) as a JSON download, from the project page and the export page; auditors
 * check it offline with `npm run verify -- --dossier FILE` (services/dossier.ts builds it).
 */
import type { Router } from 'express';
import { NotAvailableError } from '../blockchain';
import { platformOf, zoneOf } from '../platform';
import { projectDossier } from '../services/dossier';
import { audit } from './act';
import { visibleProject } from './projects';
import { DOSSIER_READERS, route } from './route';

export function register(router: Router): void {
  route(router, 'GET', '/export/dossier', DOSSIER_READERS, async (req, res) => {
    const projectId = typeof req.query.project === 'string' ? req.query.project.trim() : '';
    const view = projectId ? await visibleProject(req, projectId) : undefined;
    if (!view) return res.status(404).render('error', { status: 404, message: res.locals.t('error.notFound') });
    const { chain } = platformOf(req);
    const user = req.user!;
    let dossier;
    try {
      dossier = await projectDossier(chain.gateway, await chain.identityOf(user), view.channel ?? chain.channel, projectId, { username: user.username, role: user.role, orgId: user.orgId });
    } catch (err) {
      if (!(err instanceof NotAvailableError)) throw err;
      return res.status(501).render('error', { status: 501, message: res.locals.t('export.dossier.unavailable', { reason: err.message }) });
    }
    await audit(req, 'export:dossier', projectId, true, `${dossier.transactions.length} transactions, blocks ${dossier.headers[0]?.number}–${dossier.tip.number}`);
    res.attachment(`dossier-${projectId}-${zoneOf(req).date(Date.now())}.json`);
    res.type('application/json');
    res.send(JSON.stringify(dossier, null, 1));
  });
}
