/**
 * Data export (数据导出) for oversight: projects, drafts and transfers as CSV, limited to what the
 * user may see. CSV in UTF-8 with a byte-order mark is what Excel opens with Chinese intact, so it
 * serves the "CSV/Excel" without a spreadsheet library. Money is given twice: yuan with two
 * decimals for reading, and the exact integer fen the chain holds for checking sums.
 */
import type { Request, Response, Router } from 'express';
import { stringify } from 'csv-stringify/sync';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import type { Project } from '@fund/chaincode/dist/project/project';
import { DiscrepancyView, DraftView, OrganisationView, ProjectView, TransferView } from '../models/projections';
import { projectScope } from '../services/scope';
import { Money } from '../services/money';
import { workbookOf, type Cell } from '../services/workbook';
import type { Translate } from '../i18n';
import { audit } from './act';
import { problemText } from './monitoring';
import { zoneOf } from '../platform';
import type { Role } from '@fund/chaincode/dist/access/roles';
import { DOSSIER_READERS, OVERSIGHT, route } from './route';

/** A time cell: the instant, which the CSV writes in ISO 8601 with the platform zone's offset and the workbook as a date cell. */
const time = (d: Date | string | null | undefined) => (d ? new Date(d) : '');

/** An amount cell in yuan: the CSV writes "1234.56" (exact, no thousands separators), the workbook a number cell. */
const yuan = (fen: string | number | null | undefined) => Money.of(fen);
const fenText = (fen: string | number | null | undefined) => (fen === null || fen === undefined || fen === '' ? '' : BigInt(typeof fen === 'number' ? Math.round(fen) : fen).toString());

/** csv-stringify writes null and undefined as empty cells. */
/**
 * Text people typed (project names, departments) must not run as a spreadsheet formula when the file
 * is opened (CSV injection): a cell starting with = + - @ or a control character is prefixed with '.
 */
const defuse = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

export type Row = Cell[];
export interface Sheet {
  header: string[];
  rows: Row[];
}

async function orgNames(): Promise<(id?: string | null) => string> {
  const names = new Map((await OrganisationView.find().select('name').lean()).map((o) => [o._id, o.name ?? o._id]));
  return (id) => (id ? (names.get(id) ?? id) : '');
}

async function projectsSheet(req: Request, t: Translate): Promise<Sheet> {
  const org = await orgNames();
  const projects = await ProjectView.find(await projectScope(req.user!)).sort({ _id: 1 }).lean();
  return {
    header: [
      t('project.id'), t('project.name'), t('project.county'), t('project.town'), t('project.department'), t('project.unit'), t('export.col.unitId'), t('common.status'),
      t('export.col.revision'), t('export.col.budgetYuan'), t('export.col.budgetFen'), t('export.col.releasedYuan'), t('export.col.releasedFen'), t('export.col.percent'),
      t('export.col.drafts'), t('project.filedAt'), t('export.col.approvedAt'), t('export.col.fundedAt'), t('export.col.lastProgressAt'), t('project.updatedAt'),
    ],
    rows: projects.map((p) => {
      const doc = p.doc as Project | undefined;
      return [
        p._id, p.name, p.county, p.town ?? '', doc?.department ?? '', org(p.implementingUnitId), p.implementingUnitId ?? '', t(`status.${p.status}`),
        doc?.revision ?? '', yuan(p.budget), fenText(p.budget), yuan(p.releasedFen ?? 0), fenText(p.releasedFen ?? 0), p.percentComplete ?? 0,
        (doc?.draftIds ?? []).join(' '), time(p.filedAt), time(p.approvedAt), time(p.fundedAt), time(p.lastProgressAt), time(p.updatedAt),
      ];
    }),
  };
}

async function draftsSheet(req: Request, t: Translate): Promise<Sheet> {
  const org = await orgNames();
  const drafts = await DraftView.find(await projectScope(req.user!)).sort({ _id: 1 }).lean();
  const now = Date.now();
  return {
    header: [
      t('export.col.draftId'), t('project.id'), t('project.county'), t('project.source'), t('common.status'), t('export.col.amountYuan'), t('export.col.amountFen'),
      t('export.col.issuer'), t('export.col.issuedAt'), t('export.col.plannedHops'), t('export.col.actualHops'), t('export.col.lateHops'), t('export.col.holderId'), t('export.col.holder'),
      t('export.col.nextStage'), t('export.col.nextPayer'), t('export.col.nextDeadline'), t('export.col.overdue'), t('export.col.acceptedAt'), t('export.col.serials'),
    ],
    rows: drafts.map((d) => {
      const doc = d.doc as Draft | undefined;
      const overdue = !!d.nextDeadline && (d.status === 'ISSUED' || d.status === 'IN_TRANSIT') && d.nextDeadline.getTime() < now;
      return [
        d._id, d.projectId ?? '', d.county ?? '', t(`source.${d.source}`), t(`draft.${d.status}`), yuan(d.amount), fenText(d.amount),
        org(doc?.issuerId), time(doc?.createdAt), doc?.plannedPath.length ?? '', doc?.actualPath.length ?? '', doc?.actualPath.filter((h) => h.overdue).length ?? '', d.holderId ?? '', org(d.holderId),
        d.nextStage ? t(`stage.${d.nextStage}`) : '', org(d.nextPayerId), time(d.nextDeadline), overdue ? t('export.yes') : t('export.no'), time(doc?.acceptedAt), (doc?.actualPath ?? []).map((h) => h.serial).join(' '),
      ];
    }),
  };
}

async function transfersSheet(req: Request, t: Translate): Promise<Sheet> {
  const org = await orgNames();
  const transfers = await TransferView.find(await projectScope(req.user!)).sort({ updatedAt: 1, _id: 1 }).lean();
  return {
    header: [
      t('transfer.serial'), t('project.id'), t('transfer.stage'), t('export.col.payerId'), t('transfer.payer'), t('export.col.payeeId'), t('transfer.payee'), t('export.col.bank'),
      t('export.col.expectedYuan'), t('export.col.expectedFen'), t('export.col.recordedYuan'), t('export.col.recordedFen'), t('common.status'),
      t('export.col.registeredAt'), t('export.col.paidAt'), t('export.col.deadline'), t('export.col.draftIds'),
    ],
    rows: transfers.map((x) => {
      const claim = x.claim as { registeredAt?: string; deadline?: string } | undefined;
      const record = x.record as { paidAt?: string } | undefined;
      return [
        x._id, x.projectId ?? '', x.stage ? t(`stage.${x.stage}`) : '', x.payerId ?? '', org(x.payerId), x.payeeId ?? '', org(x.payeeId), org(x.bankId),
        yuan(x.expectedAmount), fenText(x.expectedAmount), yuan(x.recordedAmount), fenText(x.recordedAmount), t(`transfer.${x.status}`),
        time(claim?.registeredAt), time(record?.paidAt), time(claim?.deadline), (x.draftIds ?? []).join(' '),
      ];
    }),
  };
}

/** Reconciliation discrepancies (对账差异), open and closed: what went wrong with a transfer and how it was settled. */
async function discrepanciesSheet(req: Request, t: Translate): Promise<Sheet> {
  const found = await DiscrepancyView.find(await projectScope(req.user!)).sort({ raisedAt: 1, _id: 1 }).lean();
  return {
    header: [
      t('monitor.col.discrepancy'), t('project.id'), t('project.county'), t('monitor.col.kind'), t('transfer.serial'), t('export.col.hops'), t('monitor.col.what'),
      t('monitor.col.raised'), t('export.col.raisedTx'), t('monitor.col.resolution'), t('export.col.reason'), t('export.col.resolvedBy'), t('export.col.resolvedAt'),
    ],
    rows: found.map((d) => {
      const doc = d.doc as { hops?: Array<{ draftId: string; seq: number }>; raisedTxId?: string } | undefined;
      const resolution = d.resolution as { kind: string; reason: string; by: string; at: string } | undefined;
      return [
        d._id, d.projectId ?? '', d.county ?? '', t(`monitor.dkind.${d.kind}`), d.serial ?? '', (doc?.hops ?? []).map((h) => `${h.draftId}#${h.seq + 1}`).join(' '), problemText(t, d.problems),
        time(d.raisedAt), doc?.raisedTxId ?? '', resolution ? t(`monitor.resolution.${resolution.kind}`) : '', resolution?.reason ?? '', resolution?.by ?? '', time(resolution?.at),
      ];
    }),
  };
}

export const SHEETS = { projects: projectsSheet, drafts: draftsSheet, transfers: transfersSheet, discrepancies: discrepanciesSheet } as const;
export type SheetName = keyof typeof SHEETS;

async function send(req: Request, res: Response, name: SheetName): Promise<void> {
  const t = res.locals.t as Translate;
  const sheet = await SHEETS[name](req, t);
  // bom: Excel takes a BOM-less CSV for the local ANSI code page and garbles the Chinese.
  const csv = stringify([sheet.header, ...sheet.rows], { bom: true, record_delimiter: 'windows', cast: { string: defuse, date: (d: Date) => zoneOf(req).iso(d), object: String } });
  await audit(req, `export:${name}`, `${sheet.rows.length} rows`);
  res.attachment(`${name}-${zoneOf(req).date(Date.now())}.csv`);
  res.type('text/csv; charset=utf-8');
  res.send(csv);
}

export function register(router: Router): void {
  route(router, 'GET', '/export', OVERSIGHT, async (req, res) => {
    const scope = await projectScope(req.user!);
      const [projects, drafts, transfers, discrepancies] = await Promise.all([
      ProjectView.find(scope).select('budgetFen releasedFen').lean(),
      DraftView.find(scope).select('amountFen').lean(),
      TransferView.find(scope).select('expectedAmount recordedAmount').lean(),
      DiscrepancyView.countDocuments(scope),
    ]);
    // The totals let whoever opens a file check its sums against these.
    const sum = (values: Array<string | number | null | undefined>) => values.reduce<bigint>((s, v) => s + (v === null || v === undefined || v === '' ? 0n : BigInt(v)), 0n);
    const files = [
      { name: 'projects', rows: projects.length, totals: [['export.total.budget', sum(projects.map((p) => p.budgetFen))], ['export.total.released', sum(projects.map((p) => p.releasedFen))]] },
      { name: 'drafts', rows: drafts.length, totals: [['export.total.drafts', sum(drafts.map((d) => d.amountFen))]] },
      { name: 'transfers', rows: transfers.length, totals: [['export.total.expected', sum(transfers.map((x) => x.expectedAmount))], ['export.total.recorded', sum(transfers.map((x) => x.recordedAmount))]] },
      { name: 'discrepancies', rows: discrepancies, totals: [] },
    ];
    const dossier = DOSSIER_READERS.includes(req.user!.role as Role);
    res.render('export', { title: 'nav.export', files, date: zoneOf(req).date(Date.now()), dossier });
  });

  for (const name of Object.keys(SHEETS) as SheetName[]) {
    route(router, 'GET', `/export/${name}.csv`, OVERSIGHT, async (req, res) => send(req, res, name));
  }

  // The same tables as one workbook, one worksheet each, with number and date cells (services/workbook.ts).
  route(router, 'GET', '/export/workbook.xlsx', OVERSIGHT, async (req, res) => {
    const t = res.locals.t as Translate;
    const names = Object.keys(SHEETS) as SheetName[];
    const sheets = await Promise.all(names.map((name) => SHEETS[name](req, t)));
    const offsetMinutes = zoneOf(req).offsetMinutes(new Date());
    const book = await workbookOf(names.map((name, i) => ({ name: t(`export.file.${name}`), ...sheets[i] })), offsetMinutes, zoneOf(req).label());
    await audit(req, 'export:workbook', names.map((name, i) => `${name} ${sheets[i].rows.length} rows`).join(', '));
    res.attachment(`fund-export-${zoneOf(req).date(Date.now())}.xlsx`);
    res.type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    res.send(book);
  });
}
