/**
 * What people read must be right (issue 18), on the demo platform in its default Chinese interface:
 * - times in one zone (TIME_ZONE, Asia/Shanghai), labelled, the paid-at time to the second, the same instant on the
 *   project page and in the CSV export (ISO 8601 with the offset); typed times read in that zone;
 * - refusals in the interface's language with the form's field names: a bad amount, a funding plan that does not
 *   add up to the budget, and the chain's other common sentences;
 * - the dashboard's open alerts equal the monitoring centre's after a late hop; an overdue alert acknowledged with a
 *   reason (who, when, audit log) is shown as such and no longer counted;
 * - the project's on-chain history lists the drafts' moves (issue, registration, bank record, move, acceptance);
 * - a tampered evidence file is shown as tampered on the project page;
 * - first-run noise: the bundled MongoDB server takes OP_MSG moreToCome, expected chaincode refusals are logged at
 *   info, and there is a favicon.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import mongoose from 'mongoose';
import { contracts } from '@fund/chaincode';
import type { Draft } from '@fund/chaincode/dist/draft/draft';
import { appConfig } from '@fund/app/dist/config';
import { translator } from '@fund/app/dist/i18n';
import { translateRefusal } from '@fund/app/dist/i18n/refusals';
import { AuditEntry } from '@fund/app/dist/models/activity';
import { ProjectView, TransferView } from '@fund/app/dist/models/projections';
import { demoActors, demoProject } from '@fund/app/dist/services/demo';
import { timeZone } from '@fund/app/dist/services/time';
import { signBytes } from '@fund/app/dist/blockchain/embedded/identity';
import { loadContractChaincode } from '@fund/app/dist/blockchain/embedded/chaincode-support';
import { WebClient, byId, decodeEntities, formError, leishanProjectForm, startTestPlatform, textOf, type TestPlatform } from '../support/platform';

const zh = translator('zh-CN');
const en = translator('en');
const LABELLED_SECONDS = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) \(UTC\+08:00\)$/;

/** The rows of a table body with their attributes and cell texts. */
function rows(html: string, tableId: string): Array<{ attrs: string; cells: string[] }> {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(byId(html, tableId))?.[1] ?? '';
  return [...body.matchAll(/<tr([^>]*)>([\s\S]*?)<\/tr>/g)].map((m) => ({ attrs: m[1], cells: [...m[2].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => textOf(c[1])) }));
}

/** A small CSV reader (quotes, doubled quotes) for the export. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell.replace(/\r$/, ''));
      out.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell || row.length) out.push([...row, cell]);
  return out;
}

const openAlertsOnDashboard = async (c: WebClient) => Number(/data-figure="open-alerts">(\d+)</.exec((await c.get('/')).text)?.[1]);
const openAlertsInMonitoring = (html: string) => Number(/(\d+)\s*$/.exec(textOf(byId(html, 'tab-alerts')))?.[1]);

test('one zone for showing and typing times, validated in the configuration', () => {
  const zone = timeZone('Asia/Shanghai');
  assert.equal(zone.time('2026-12-03T06:05:09.400Z', { seconds: true }), '2026-12-03 14:05:09 (UTC+08:00)');
  assert.equal(zone.iso('2026-12-03T06:05:09Z'), '2026-12-03T14:05:09+08:00');
  // A datetime-local value is Beijing wall-clock time; one with its own offset keeps it; a day means its end when asked.
  assert.equal(zone.parse('2026-11-20T10:15:30')?.toISOString(), '2026-11-20T02:15:30.000Z');
  assert.equal(zone.parse('2026-11-20T10:15:30Z')?.toISOString(), '2026-11-20T10:15:30.000Z');
  assert.equal(zone.parse('2026-11-20', { endOfDay: true })?.toISOString(), '2026-11-20T15:59:59.000Z');
  assert.equal(zone.parse('2026-02-30T10:00'), undefined, 'no rolling over into March');
  assert.equal(timeZone('Europe/Berlin').parse('2026-03-29T02:30'), undefined, 'an hour skipped by summer time is refused');
  assert.equal(timeZone('UTC').time('2026-12-03T06:05:09Z'), '2026-12-03 06:05 (UTC+00:00)');
  assert.equal(appConfig({}).timeZone, 'Asia/Shanghai');
  assert.equal(appConfig({ TIME_ZONE: 'UTC' }).timeZone, 'UTC');
  assert.throws(() => appConfig({ TIME_ZONE: 'Beijing' }), /TIME_ZONE must be an IANA time zone/);
});

test("the chain's common refusals in both languages, fields named as the forms name them", () => {
  const cases: Array<[string, RegExp, RegExp]> = [
    ['project.fundingPlan: the funding plan amounts must add up to the budget', /^资金计划：各资金来源金额之和必须等于预算$/, /^Funding plan: the funding plan amounts must add up to the budget$/],
    ['project.fundingPlan.1.amount: amount must be greater than zero', /^资金计划第 2 行 · 金额：金额必须大于零$/, /^Funding plan row 2 · Amount: /],
    ['project.name: name must be at most 100 characters', /^项目名称：最多 100 个字$/, /^Name: at most 100 characters$/],
    ['project.endDate: endDate must not be before startDate', /^结束日期：结束日期不能早于开始日期$/, /^End: /],
    ['deadlines.toUnit must be after deadlines.toCountyFund', / · 拨付至项目实施单位：必须晚于上一段的期限$/, /To the implementing unit: must be after the previous leg's deadline/],
    ['claim.serial: serial must be a bank serial number of 6–40 letters, digits or \'-\'', /：银行流水号应为 6–40 位/, /: a bank serial number is 6–40/],
    ['paidAt: a transfer cannot be recorded before it happens', /：转账时间不能晚于现在$/, /: a transfer cannot be recorded before it happens$/],
    ['percent: progress cannot go back from 60% to 30%', /：进度不能从 60% 回退到 30%$/, /: progress cannot go back from 60% to 30%$/],
    ['payerAccount: 600000000999 is not a registered account', /：600000000999 不是已登记的账户$/, /: 600000000999 is not a registered account$/],
    // An unknown sentence keeps the chain's words, behind the field's translated name.
    ['project.town: something new the chain says', /^乡（镇）：something new the chain says$/, /^Town: something new the chain says$/],
  ];
  for (const [message, inChinese, inEnglish] of cases) {
    assert.match(translateRefusal(zh, message), inChinese, message);
    assert.match(translateRefusal(en, message), inEnglish, message);
  }
  assert.equal(translateRefusal(zh, 'draft PRJ-X-D1 is not payable now'), 'draft PRJ-X-D1 is not payable now', 'nothing known: said as the chain said it');
});

test("expected chaincode refusals are logged at info, not as errors (fabric-shim's chaincode logger)", () => {
  loadContractChaincode(contracts, 'quiet-refusals', '1');
  const logger = createRequire(require.resolve('@fund/app/package.json'))('fabric-shim/lib/logger').getLogger('contracts-spi/chaincodefromcontract.js') as {
    error(message: string): void;
    info(message: string): void;
  };
  const info = logger.info;
  const said: string[] = [];
  logger.info = (message: string) => void said.push(message);
  try {
    logger.error('[business-1a2b3c4d] ContractError: NOT_INITIALISED: this channel has not been initialised by the platform administrator (Config:initialise)');
    logger.error('[business-1a2b3c4d] ContractError: VALIDATION: project.budget: budget must be greater than zero');
  } finally {
    logger.info = info;
  }
  assert.deepEqual(said, [
    '[business-1a2b3c4d] refused by the chaincode (NOT_INITIALISED), nothing written: this channel has not been initialised by the platform administrator (Config:initialise)',
    '[business-1a2b3c4d] refused by the chaincode (VALIDATION), nothing written: project.budget: budget must be greater than zero',
  ]);
});

describe('what people read on the platform', () => {
  let p: TestPlatform;
  let lgo: WebClient;
  let county: WebClient;
  let auditor: WebClient;
  let funded: { _id: string };

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    [lgo, county, auditor] = await Promise.all(['lgo', 'county', 'auditor'].map((u) => WebClient.loggedIn(p.url, u)));
    const project = await ProjectView.findOne({ status: { $in: ['FUNDED', 'COMPLETED'] } }).sort({ _id: 1 }).lean();
    assert.ok(project, 'the demo has a funded project');
    funded = { _id: String(project._id) };
  });

  after(async () => {
    await p?.stop();
  });

  test('a paid-at time is shown to the second with its zone, and the CSV export says the same instant with the offset', async () => {
    const transfer = await TransferView.findOne({ projectId: funded._id, 'record.paidAt': { $exists: true } }).lean();
    assert.ok(transfer, 'the funded project has a recorded transfer');
    const paidAt = new Date((transfer.record as { paidAt: string }).paidAt);

    const page = await auditor.get(`/projects/${funded._id}`);
    const row = rows(page.text, 'transfers').find((r) => r.cells[0] === transfer._id);
    assert.ok(row, `the fund flow lists ${transfer._id}`);
    const shown = row.cells.find((c) => LABELLED_SECONDS.test(c));
    assert.ok(shown, `a labelled paid-at time in ${JSON.stringify(row.cells)}`);
    const [, day, clock] = LABELLED_SECONDS.exec(shown)!;
    const onPage = Date.parse(`${day}T${clock}+08:00`);
    assert.equal(onPage, Math.floor(paidAt.getTime() / 1000) * 1000, 'the page shows the recorded instant in Beijing time');

    const csv = parseCsv((await auditor.get('/export/transfers.csv')).text.replace(/^\uFEFF/, ''));
    const column = csv[0].indexOf(zh('export.col.paidAt'));
    assert.ok(column >= 0, `the CSV has a ${zh('export.col.paidAt')} column`);
    const cell = csv.find((r) => r[0] === transfer._id)?.[column];
    assert.match(cell ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/, 'ISO 8601 with the offset');
    assert.equal(Date.parse(cell!), onPage, 'page and CSV: the same instant');
    assert.equal(cell!.slice(0, 19).replace('T', ' '), `${day} ${clock}`, 'and the same wall-clock time');

    // Other pages label their times too, and the bank's form says which zone it reads.
    assert.match(textOf(byId(page.text, 'history')), /\d{2}:\d{2}:\d{2} \(UTC\+08:00\)/);
    const bank = await WebClient.loggedIn(p.url, 'bank');
    assert.match(textOf((await bank.get('/disbursement')).text), new RegExp(`${zh('disb.paidAt')} \\(UTC\\+08:00\\)`));
  });

  test('a bad amount and a funding plan that does not add up are refused in Chinese, with the fields as the form names them', async () => {
    const badAmount = await county.postMultipart('/projects', leishanProjectForm({ amount_bank: '269999.999' }));
    assert.equal(badAmount.status, 400);
    assert.equal(formError(badAmount.text), `${zh('source.bank')} · ${zh('project.amount')}：${zh('refusal.yuan')}`);
    assert.doesNotMatch(formError(badAmount.text), /amount_bank|enter an amount/);

    const notAddingUp = await county.postMultipart('/projects', leishanProjectForm({ amount_bank: '260000' }));
    assert.equal(notAddingUp.status, 400);
    const message = formError(notAddingUp.text);
    assert.match(message, /^数据校验未通过：资金计划：各资金来源金额之和必须等于预算/, message);
    assert.doesNotMatch(message, /fundingPlan|must add up/);
  });

  test('after a late hop the dashboard counts the open alerts the monitoring centre shows; an overdue alert is acknowledged with a reason', async () => {
    const { chain } = p.running.platform;
    const as = demoActors(chain);
    const office = await as('LS-OFFICE', 'countyOffice');
    const leadingGroup = await as('LGO', 'leadingGroup');
    const filed = await chain.submitAs<{ id: string }>(office, 'Project:file', [JSON.stringify(demoProject(14 + 20 * 700))]);
    const projectId = filed.result.id;
    // The first leg due in four seconds, so paying it after that is late.
    const soon = new Date(Date.now() + 4000).toISOString();
    const terms = { deadlines: { toPartnership: soon, toCountyFund: new Date(Date.now() + 20 * 86400_000).toISOString(), toUnit: new Date(Date.now() + 30 * 86400_000).toISOString() } };
    const preview = await chain.evaluateAs<Array<{ draftId: string; content: string }>>(leadingGroup, 'Draft:previewIssue', [projectId, JSON.stringify(terms)]);
    const signatures = Object.fromEntries(preview.map((d) => [d.draftId, signBytes(leadingGroup, Buffer.from(d.content, 'utf8')).toString('base64')]));
    await chain.submitAs(leadingGroup, 'Project:approve', [projectId, '同意。', JSON.stringify(terms), JSON.stringify(signatures)]);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(soon) - Date.now()) + 500));

    const drafts = await chain.evaluateAs<Draft[]>(leadingGroup, 'Draft:listByProject', [projectId]);
    // The provincial fiscal share: fiscal money moves first under the fund policy.
    const fiscal = drafts.find((d) => d.source === 'provincialFinance')!;
    const hop = fiscal.plannedPath[0];
    const serial = `LATE${Date.now()}`;
    await chain.submitAs(await as(hop.from.orgId, 'provincialFinance'), 'Reconciliation:registerSerial', [JSON.stringify({ serial, draftIds: [fiscal.draftId], stage: hop.stage })]);
    const record = { serial, payerAccount: hop.from.accountNo, payeeAccount: hop.to.accountNo, amount: fiscal.amount, paidAt: new Date().toISOString() };
    const matched = await chain.submitAs<{ outcome: string }>(await as(hop.from.bankId, 'bank'), 'Reconciliation:recordBankTransfer', [JSON.stringify(record)]);
    assert.equal(matched.result.outcome, 'MATCHED_LATE');
    await p.settled();

    const monitoring = await lgo.get('/monitoring');
    assert.match(monitoring.text, new RegExp(`data-kind="overdue" data-ref="${serial}"`), 'the monitoring centre shows the late hop');
    const total = openAlertsInMonitoring(monitoring.text);
    assert.ok(total >= 1);
    assert.equal(await openAlertsOnDashboard(lgo), total, 'the dashboard counts what the monitoring centre shows');

    // Acknowledge it: the key is the one the row's form carries.
    const rowHtml = new RegExp(`<tr[^>]*data-ref="${serial}"[^>]*>([\\s\\S]*?)</tr>`).exec(monitoring.text)?.[1] ?? '';
    const key = decodeEntities(/name="key" value="([^"]+)"/.exec(rowHtml)?.[1] ?? '');
    assert.match(key, new RegExp(`^overdue:${serial}:`), 'the late hop can be acknowledged');
    const short = await lgo.post('/monitoring/alerts/acknowledge', { key, reason: '好' });
    assert.equal(short.status, 400);
    assert.match(formError(short.text), /至少 5/);
    const reason = '银行已确认：节假日顺延一天到账';
    const done = await lgo.post('/monitoring/alerts/acknowledge', { key, reason });
    assert.equal(done.status, 302, formError(done.text));

    const after = await lgo.get('/monitoring?kind=overdue');
    const acknowledged = new RegExp(`<tr[^>]*data-ref="${serial}"[^>]*data-acknowledged="yes"[^>]*>([\\s\\S]*?)</tr>`).exec(after.text)?.[1];
    assert.ok(acknowledged, 'shown as acknowledged');
    assert.match(textOf(acknowledged), new RegExp(`${zh('monitor.acknowledgedBadge')} lgo · \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2} \\(UTC\\+08:00\\) · ${reason}`));
    assert.equal(openAlertsInMonitoring((await lgo.get('/monitoring')).text), total - 1, 'no longer counted as open');
    assert.equal(await openAlertsOnDashboard(lgo), total - 1, 'nor on the dashboard');
    const entry = await AuditEntry.findOne({ action: 'alert:acknowledge', target: key }).lean();
    assert.equal(entry?.username, 'lgo');
    assert.equal(entry?.message, reason);
    const again = await lgo.post('/monitoring/alerts/acknowledge', { key, reason });
    assert.equal(again.status, 400, 'acknowledged once');
  });

  test("the project's on-chain history lists each draft's moves: issue, registration, bank record, move, acceptance", async () => {
    const page = await auditor.get(`/projects/${funded._id}`);
    const history = rows(page.text, 'history');
    const project = (await ProjectView.findById(funded._id).lean())!.doc as { draftIds: string[] };
    const of = (kind: string) => history.filter((r) => r.attrs.includes(`data-kind="${kind}"`));
    const fcns = (kind: string) => new Set(of(kind).map((r) => r.cells[3]));
    assert.ok(of('project').length >= 2, 'the project record itself (filing, approval…)');
    for (const draftId of project.draftIds) {
      const moves = of('draft').filter((r) => r.cells[4] === draftId);
      assert.ok(moves.some((r) => r.cells[3] === 'Project:approve' && r.cells[5] === zh('history.draftIssued')), `${draftId} issued`);
      assert.ok(moves.some((r) => /^Reconciliation:/.test(r.cells[3]) && r.cells[5].startsWith('汇票流转')), `${draftId} moved along its path`);
      assert.ok(moves.some((r) => r.cells[3] === 'Draft:accept' && r.cells[5] === zh('history.draftAccepted')), `${draftId} accepted`);
    }
    assert.ok(fcns('transfer').has('Reconciliation:registerSerial'), 'serial registrations');
    assert.ok(fcns('transfer').has('Reconciliation:recordBankTransfer'), 'bank records');
    const blocks = history.map((r) => Number(r.cells[1]));
    assert.deepEqual(blocks, [...blocks].sort((a, b) => a - b), 'in ledger order');
  });

  test('a stored file whose hash no longer matches the chain is shown as tampered on the project page', async () => {
    const content = Buffer.from('%PDF-1.4\n% 实施方案\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');
    const filed = await county.postMultipart('/projects', leishanProjectForm({ name: '证据篡改测试项目' }), [{ field: 'documents', name: '实施方案.pdf', type: 'application/pdf', content }]);
    assert.equal(filed.status, 302, formError(filed.text));
    const page = async () => (await county.get(filed.location)).text;
    const sha = /data-sha256="([0-9a-f]{64})" data-intact="yes"/.exec(await page())?.[1];
    assert.ok(sha, 'the stored document is shown intact');
    assert.doesNotMatch(await page(), new RegExp(zh('file.tampered')));

    fs.writeFileSync(path.join(p.config.uploadDir, sha), Buffer.concat([content, Buffer.from('changed')]));
    const tampered = await page();
    assert.match(tampered, new RegExp(`data-sha256="${sha}" data-intact="no"`));
    assert.match(textOf(tampered), new RegExp(`实施方案.pdf SHA-256 ${sha.slice(0, 16)}… ${zh('file.tampered')}`));
  });

  test('the bundled MongoDB server takes an OP_MSG with moreToCome (as endSessions and w:0 writes send it) without dropping the connection', async () => {
    const client = await mongoose.mongo.MongoClient.connect(p.mongoUri, { maxPoolSize: 1 });
    try {
      const scratch = client.db().collection('moreToComeCheck');
      await scratch.insertOne({ n: 1 }, { writeConcern: { w: 0 } });
      await scratch.insertOne({ n: 2 });
      assert.equal(await scratch.countDocuments(), 2, 'the unacknowledged write was applied and the connection kept');
    } finally {
      await client.close();
    }
  });

  test('a favicon', async () => {
    const icon = await fetch(new URL('/static/favicon.svg', p.url));
    assert.equal(icon.status, 200);
    assert.match(icon.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.match(await icon.text(), /^<svg /);
    assert.match((await auditor.get('/')).text, /<link rel="icon" type="image\/svg\+xml" href="\/static\/favicon.svg">/);
    const legacy = await fetch(new URL('/favicon.ico', p.url), { redirect: 'manual' });
    assert.equal(legacy.status, 301);
    assert.equal(legacy.headers.get('location'), '/static/favicon.svg');
  });
});
