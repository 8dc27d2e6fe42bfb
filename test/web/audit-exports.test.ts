/**
 * Exports auditors can use (issue 18): the Excel workbook opens with exceljs and holds number cells for amounts and
 * date cells for times, agreeing with the CSV; a project's audit dossier, downloaded from a demo project that went
 * through approval, payments and acceptance, passes the offline verifier (verify-cli --dossier), which catches a
 * changed amount, a forged signature and a missing block header, each with exit code 1 and the item named.
 */
import './quiet';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import ExcelJS from 'exceljs';
import { peer } from '@hyperledger/fabric-protos';
import type { AuditDossier } from '@fund/app/dist/blockchain/embedded/ledger/dossier';
import { translator } from '@fund/app/dist/i18n';
import { DiscrepancyView, ProjectView } from '@fund/app/dist/models/projections';
import { WebClient, startTestPlatform, type TestPlatform } from '../support/platform';

const CLI = require.resolve('@fund/app/dist/blockchain/embedded/ledger/verify-cli.js');
const zh = translator('zh-CN');

async function download(client: WebClient, base: string, urlPath: string): Promise<{ status: number; type: string; body: Buffer }> {
  const res = await fetch(new URL(urlPath, base), { headers: { cookie: client.cookieHeader() }, redirect: 'manual' });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: Buffer.from(await res.arrayBuffer()) };
}

describe('exports auditors can use', () => {
  let p: TestPlatform;
  let auditor: WebClient;
  let tmp: string;

  before(async () => {
    p = await startTestPlatform({ demo: true });
    await p.settled();
    auditor = await WebClient.loggedIn(p.url, 'auditor');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dossier-test-'));
  });

  after(async () => {
    await p?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the Excel workbook: one sheet per table, number cells for amounts, date cells for times, as in the CSV', async () => {
    const page = await auditor.get('/export');
    assert.match(page.text, /id="download-workbook"/, 'the export page links the workbook');
    const res = await download(auditor, p.url, '/export/workbook.xlsx');
    assert.equal(res.status, 200);
    assert.match(res.type, /spreadsheetml/);
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(res.body as unknown as ArrayBuffer);
    assert.deepEqual(book.worksheets.map((s) => s.name), [zh('export.file.projects'), zh('export.file.drafts'), zh('export.file.transfers'), zh('export.file.discrepancies')]);
    assert.equal(book.getWorksheet(zh('export.file.discrepancies'))!.rowCount - 1, await DiscrepancyView.countDocuments(), 'one row per discrepancy');

    const sheet = book.getWorksheet(zh('export.file.projects'))!;
    const headers = (sheet.getRow(1).values as unknown[]).slice(1).map(String);
    const col = (key: string) => headers.findIndex((h) => h.startsWith(zh(key))) + 1;
    assert.equal(sheet.rowCount - 1, await ProjectView.countDocuments(), 'one row per project');
    const csv = (await auditor.get('/export/projects.csv')).text.replace(/^\uFEFF/, '').split('\r\n').map((line) => line.split(','));
    const funded = await ProjectView.findOne({ fundedAt: { $ne: null } }).lean();
    assert.ok(funded, 'the demo has a funded project');
    const rowNumber = (sheet.getColumn(1).values as unknown[]).indexOf(funded._id);
    const row = sheet.getRow(rowNumber);
    const csvRow = csv.find((r) => r[0] === funded._id)!;

    const budget = row.getCell(col('export.col.budgetYuan'));
    assert.equal(budget.type, ExcelJS.ValueType.Number, 'the budget is a number cell');
    assert.equal(budget.value, Number(BigInt(funded.budgetFen!)) / 100);
    assert.equal(budget.numFmt, '#,##0.00', 'shown with two decimals');
    assert.equal((budget.value as number).toFixed(2), csvRow[col('export.col.budgetYuan') - 1], 'the same amount as the CSV');

    const fundedAt = row.getCell(col('export.col.fundedAt'));
    assert.equal(fundedAt.type, ExcelJS.ValueType.Date, 'the funding time is a date cell');
    assert.ok(fundedAt.value instanceof Date);
    assert.match(headers[col('export.col.fundedAt') - 1], /UTC\+08:00/, 'a date column names its zone');
    // Excel dates have no zone: the cell holds the wall-clock time the CSV writes (ISO 8601 with the zone's offset).
    assert.match(csvRow[col('export.col.fundedAt') - 1], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    assert.equal((fundedAt.value as Date).toISOString().slice(0, 19), csvRow[col('export.col.fundedAt') - 1].slice(0, 19));
  });

  test('the audit dossier of a funded project verifies offline; a changed amount, a forged signature and a missing header are caught', async (t) => {
    const funded = await ProjectView.findOne({ fundedAt: { $ne: null } }).sort({ _id: 1 }).lean();
    assert.ok(funded);
    const projectPage = await auditor.get(`/projects/${funded._id}`);
    assert.match(projectPage.text, /id="download-dossier"/, 'the project page offers the dossier');
    const res = await download(auditor, p.url, `/export/dossier?project=${encodeURIComponent(funded._id!)}`);
    assert.equal(res.status, 200);
    const dossier = JSON.parse(res.body.toString('utf8')) as AuditDossier;
    const fcns = dossier.transactions.map((t) => t.fcn);
    for (const fcn of ['Project:approve', 'Draft:accept']) assert.ok(fcns.includes(fcn), `the dossier holds ${fcn} (it has ${fcns.join(', ')})`);
    assert.ok(fcns.some((f) => f.startsWith('Reconciliation:')), 'and the payments that moved the drafts');
    assert.ok(dossier.drafts.length > 0 && dossier.drafts.every((d) => d.actualPath.length > 0), 'drafts that moved');

    const verify = (name: string, d: AuditDossier) => {
      const file = path.join(tmp, `${name}.json`);
      fs.writeFileSync(file, JSON.stringify(d));
      const r = spawnSync(process.execPath, [CLI, '--dossier', file], { encoding: 'utf8' });
      t.diagnostic(`${name}: exit ${r.status}, ${r.stdout.trim().split('\n').at(-1)}`);
      return r;
    };
    const clean = verify('clean', dossier);
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /all \d+ checks passed/);
    assert.doesNotMatch(clean.stdout, /^FAIL/m);
    for (const t of dossier.transactions) assert.match(clean.stdout, new RegExp(`^ok   tx ${t.txId}: .*signature and txId binding verify`, 'm'));
    for (const d of dossier.drafts) assert.match(clean.stdout, new RegExp(`^ok   draft ${d.draftId}: issuer .* signature verifies`, 'm'));
    assert.match(clean.stdout, /^ok {3}header chain: blocks \d+ to \d+ link by previous-hash/m);

    // (a) A changed amount: the issuer's signature no longer covers the draft, nor is it what the chain wrote.
    const draft = dossier.drafts[0];
    const changed = structuredClone(dossier);
    changed.drafts[0].amount = (BigInt(draft.amount) + 100n).toString();
    const a = verify('changed-amount', changed);
    assert.equal(a.status, 1, a.stdout);
    assert.match(a.stdout, new RegExp(`^FAIL draft ${draft.draftId}: the issuer's signature does not verify`, 'm'));
    assert.match(a.stdout, new RegExp(`^FAIL Draft ${draft.draftId}: the dossier's state differs .*amount is "${BigInt(draft.amount) + 100n}" in the dossier, "${draft.amount}" on the chain`, 'm'));
    // … and changed in the block's write set too, so that state and write agree: the block's data hash gives it away.
    const approve = dossier.transactions.find((t) => t.fcn === 'Project:approve')!;
    const rewritten = structuredClone(changed);
    const block = rewritten.blocks.find((b) => b.number === approve.blockNumber)!;
    for (const w of block.transactions[approve.txNum].results.writes) {
      const value = Buffer.from(w.value, 'base64').toString('utf8');
      if (value.includes(`"draftId":"${draft.draftId}"`) && value.includes(`"amount":"${draft.amount}"`)) {
        w.value = Buffer.from(value.replace(`"amount":"${draft.amount}"`, `"amount":"${BigInt(draft.amount) + 100n}"`)).toString('base64');
      }
    }
    const a2 = verify('changed-amount-in-block', rewritten);
    assert.equal(a2.status, 1, a2.stdout);
    assert.match(a2.stdout, new RegExp(`^FAIL block ${approve.blockNumber}: the hash of its \\d+ transactions .* a transaction in it was changed`, 'm'));

    // (b) A forged signature: the approval's proposal signed by a key that is not its creator's.
    const forged = structuredClone(dossier);
    const tx = forged.blocks.find((b) => b.number === approve.blockNumber)!.transactions[approve.txNum];
    const signed = peer.SignedProposal.deserializeBinary(Buffer.from(tx.signedProposal, 'base64'));
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    signed.setSignature(crypto.sign('sha256', signed.getProposalBytes_asU8(), privateKey));
    tx.signedProposal = Buffer.from(signed.serializeBinary()).toString('base64');
    const b = verify('forged-signature', forged);
    assert.equal(b.status, 1, b.stdout);
    assert.match(b.stdout, new RegExp(`^FAIL tx ${approve.txId}: signature does not verify against the creator certificate`, 'm'));

    // (c) A missing block header between the transactions' blocks and the tip.
    const gap = structuredClone(dossier);
    const missing = gap.headers[Math.floor(gap.headers.length / 2)].number;
    gap.headers = gap.headers.filter((h) => h.number !== missing);
    const c = verify('missing-header', gap);
    assert.equal(c.status, 1, c.stdout);
    assert.match(c.stdout, new RegExp(`^FAIL block ${missing}: the header of block ${missing} is missing`, 'm'));
    assert.match(c.stdout, /checks FAILED \(first: block \d+\)/);
  });

  test('only roles that may read every project get a dossier; the verifier refuses a file that is not one', async () => {
    const county = await WebClient.loggedIn(p.url, 'county');
    const project = await ProjectView.findOne({ county: '雷山县' }).sort({ filedAt: 1 }).lean();
    const res = await download(county, p.url, `/export/dossier?project=${encodeURIComponent(project!._id!)}`);
    assert.equal(res.status, 403);
    assert.doesNotMatch((await county.get(`/projects/${project!._id}`)).text, /id="download-dossier"/);
    assert.equal((await download(auditor, p.url, '/export/dossier?project=PRJ-NONE')).status, 404);
    const file = path.join(tmp, 'not-a-dossier.json');
    fs.writeFileSync(file, '{"hello":1}');
    const r = spawnSync(process.execPath, [CLI, '--dossier', file], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /not an audit dossier/);
  });
});
