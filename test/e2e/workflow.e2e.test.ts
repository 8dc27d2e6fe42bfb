/**
 * The whole workflow in a real browser (Debian Chromium driven by playwright-core), each role logged
 * in in its own browser context: file, reject with an opinion, revise, approve, register serials and
 * bank records hop by hop (one hop paid late, one bank record with a wrong amount that raises an
 * alert and is then corrected), accept, report progress with a file; then the dashboard figures, the
 * alert list, the on-chain history and the export. Screenshots of the main pages go to
 * dist-test/screenshots (docs/screenshots with UPDATE_SCREENSHOTS=1, for the README).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEMO_PASSWORD } from '@fund/app/dist/services/demo';
import { ProjectView } from '@fund/app/dist/models/projections';
import { startTestPlatform, waitFor, WebClient, type TestPlatform } from '../support/platform';

const ROOT = path.resolve(__dirname, '..', '..');
const TWO_SETS = process.env.TEST_SETS === '2';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' && !TWO_SETS ? path.join(ROOT, 'docs', 'screenshots') : path.join(ROOT, 'dist-test', TWO_SETS ? 'screenshots-two-sets' : 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The instant `ms` from now as a datetime-local value in Beijing time (the platform's zone). */
function beijing(ms: number): string {
  return new Date(Date.now() + ms + 8 * 3600_000).toISOString().slice(0, 19);
}

/** One line of a CSV file as its cells (quoted cells may hold commas and doubled quotes). */
function csvCells(line: string): string[] {
  return [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)].map((m) => m[1].replace(/^"([\s\S]*)"$/, '$1').replace(/""/g, '"')).slice(0, -1);
}

// On Fabric every submit waits for a block from three Raft orderers and every peer: the same steps take longer.
describe('the workflow in the browser', { timeout: process.env.TEST_LEDGER === 'fabric' ? 1_500_000 : 600_000 }, () => {
  let platform: TestPlatform;
  let browser: Browser;
  const pages = new Map<string, Page>();
  /** What the Content-Security-Policy refused on any page (nothing should be). */
  const cspViolations: string[] = [];

  before(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    // TEST_SETS=2 (test/e2e/two-sets.e2e.test.ts): two sets of 14 projects at most, so the demo's 21 fill set 1 and
    // spill onto set 2, where this test's own projects land too.
    platform = await startTestPlatform({ demo: true, env: TWO_SETS ? { LEDGER_SETS: '2', SET_MAX_NUM: '14', SET_WARN_NUM: '13' } : {} });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  });
  after(async () => {
    await browser?.close();
    await platform?.stop();
  });

  /** The page of a demo user, logged in through the login form on first use. */
  async function as(username: string): Promise<Page> {
    let page = pages.get(username);
    if (!page) {
      const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'zh-CN' });
      page = await context.newPage();
      const own = page;
      own.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${username} ${own.url()}: ${m.text()}`);
      });
      await page.goto(`${platform.url}/login`);
      await page.fill('#username', username);
      await page.fill('#password', DEMO_PASSWORD);
      await page.click('form[action="/login"] button');
      await page.waitForURL(`${platform.url}/`);
      pages.set(username, page);
    }
    return page;
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }

  /** The flash or error text now on the page. */
  async function messages(page: Page): Promise<string> {
    return (await page.locator('.alert').allInnerTexts()).join(' | ');
  }

  let projectId = '';
  let firstDeadline = 0;

  it('a county office files a project with a document; the provincial command rejects it with an opinion', async () => {
    const county = await as('county');
    await county.goto(`${platform.url}/projects/new`);
    await county.fill('#name', '雷山县大塘镇茶旅融合产业路项目');
    await county.fill('#town', '大塘镇');
    await county.fill('#department', '雷山县交通运输局');
    await county.selectOption('#implementingUnitId', 'LS-UNIT');
    await county.fill('#description', '修建通往茶园的产业路 6.5 公里。');
    await county.fill('#budget', '1000000');
    await county.fill('#startDate', '2027-01-01');
    await county.fill('#endDate', '2027-12-31');
    await county.selectOption('#payer_bank', 'BANK-GZ');
    await county.fill('#amount_bank', '900000');
    await county.fill('#amount_provincialFinance', '40000');
    await county.fill('#amount_countyFinance', '60000');
    const names = county.locator('input[name="milestoneName"]');
    const dates = county.locator('input[name="milestoneDate"]');
    for (const [i, [name, date]] of [['路基', '2027-04-30'], ['路面', '2027-09-30'], ['验收', '2027-12-31']].entries()) {
      await names.nth(i).fill(name);
      await dates.nth(i).fill(date);
    }
    await county.setInputFiles('#documents', { name: '可行性研究报告.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n% feasibility study\n') });
    await shot(county, 'project-form');
    await county.click('#submit-project');
    await county.waitForURL(/\/projects\/PRJ-/);
    projectId = county.url().split('/').pop()!;
    assert.match(await county.innerText('#project-status'), /待审批/);
    if (TWO_SETS) {
      assert.equal((await ProjectView.findById(projectId).lean())?.channel, 'business2', 'the new project is on set 2');
      assert.ok(await ProjectView.exists({ channel: 'business' }), 'the demo projects of set 1 are there too');
    }

    const lgo = await as('lgo');
    await lgo.goto(`${platform.url}/approvals`);
    await shot(lgo, 'approvals');
    await lgo.goto(`${platform.url}/approvals/${projectId}`);
    await lgo.fill('#opinion', '县级配套资金来源说明不足，请补充后重新申报。');
    await lgo.click('#reject');
    await lgo.waitForURL(new RegExp(`/projects/${projectId}$`));
    assert.match(await lgo.innerText('#project-status'), /已驳回/);
  });

  it('the county office sees the opinion, revises and resubmits; the command approves and the drafts are issued', async () => {
    const county = await as('county');
    await county.goto(`${platform.url}/projects/${projectId}/revise`);
    assert.match(await county.innerText('#last-opinion'), /县级配套资金来源说明不足/);
    await county.fill('#description', '修建通往茶园的产业路 6.5 公里；县级配套 6 万元由县财政预算安排。');
    await county.click('#submit-project');
    await county.waitForURL(new RegExp(`/projects/${projectId}$`));
    assert.match(await county.innerText('#project-status'), /待审批/);

    const lgo = await as('lgo');
    await lgo.goto(`${platform.url}/approvals/${projectId}`);
    await lgo.fill('#opinion', '同意立项，按资金计划拨付。');
    // The first leg falls due in 20 seconds, so its transfer can be paid late in this test.
    firstDeadline = Date.now() + 20_000;
    await lgo.fill('#deadline_toPartnership', beijing(20_000));
    await lgo.fill('#deadline_toCountyFund', beijing(10 * 86400_000));
    await lgo.fill('#deadline_toUnit', beijing(20 * 86400_000));
    await shot(lgo, 'approval');
    await lgo.click('#approve');
    await lgo.waitForURL(new RegExp(`/projects/${projectId}$`));
    assert.match(await lgo.innerText('#project-status'), /已批准/);
    assert.equal(await lgo.locator('.draft').count(), 3, 'one draft per funding source');
  });

  /** A payer registers the serial of its transfer for the project's hop on the disbursement page. */
  async function register(username: string, stage: string, serial: string): Promise<string> {
    const page = await as(username);
    await page.goto(`${platform.url}/disbursement`);
    const group = page.locator(`.hop-group[data-project="${projectId}"][data-stage="${stage}"]`);
    await group.locator('input[name="serial"]').fill(serial);
    await group.locator('button[type="submit"]').click();
    await page.waitForLoadState('load');
    return messages(page);
  }

  /** The bank records the transfer it executed, from the serials awaiting its record. */
  async function record(username: string, serial: string, opts: { amountYuan?: string; paidAt?: string } = {}): Promise<string> {
    const page = await as(username);
    await page.goto(`${platform.url}/disbursement`);
    await page.locator(`.fill-in[data-serial="${serial}"]`).first().click();
    await page.waitForLoadState('load');
    if (opts.amountYuan) await page.fill('#rec-amount', opts.amountYuan);
    await page.fill('#rec-paidAt', opts.paidAt ?? beijing(-60_000));
    await page.click('#record-submit');
    await page.waitForLoadState('load');
    return messages(page);
  }

  it('pays every hop: the fiscal share first (the provincial share late), then the bank share with a wrong amount (alert) and correctly', async () => {
    // The fund policy moves bank money only once the fiscal money is in place: the bank's hop is held back, with the reason.
    const bank = await as('bank');
    await bank.goto(`${platform.url}/disbursement`);
    const held = bank.locator(`.hop-group[data-project="${projectId}"][data-stage="toPartnership"] .held-back`);
    assert.match(await held.first().innerText(), /暂不能拨付/);
    assert.equal(await bank.locator(`.hop-group[data-project="${projectId}"][data-stage="toPartnership"] input[name="serial"]`).count(), 0, 'no serial can be registered for a held-back hop');

    // Provincial finance pays after the first leg's deadline; the county finance bureau pays its share.
    await waitFor('the first leg\'s deadline to pass', () => Date.now() > firstDeadline + 1000, 60_000, 250);
    await register('provfin', 'toPartnership', 'GZB-E2E-0003');
    const late = await record('bank', 'GZB-E2E-0003', { paidAt: beijing(-1_000) });
    assert.match(late, /超过拨付期限/);
    await register('countyfin', 'toCountyFund', 'RCC-E2E-0005');
    assert.match(await record('bank2', 'RCC-E2E-0005'), /对账一致/);

    // Bank financing: the bank's own record says 899,000 instead of 900,000.
    assert.match(await register('bank', 'toPartnership', 'GZB-E2E-0001'), /等待银行录入/);
    const mismatch = await record('bank', 'GZB-E2E-0001', { amountYuan: '899000' });
    assert.match(mismatch, /对账不一致/);
    const lgo = await as('lgo');
    await lgo.goto(`${platform.url}/monitoring?kind=mismatch`);
    assert.match(await lgo.innerText('#alerts'), /GZB-E2E-0001/);
    await shot(lgo, 'monitoring');
    // Corrected: a new transfer of the right amount under a new serial.
    await register('bank', 'toPartnership', 'GZB-E2E-0002');
    assert.match(await record('bank', 'GZB-E2E-0002'), /GZB-E2E-0002 对账一致/);
    await shot(bank, 'disbursement');

    // Second leg: the partnership forwards both provincial-level drafts in one transfer.
    await register('lp', 'toCountyFund', 'GZB-E2E-0004');
    assert.match(await record('bank', 'GZB-E2E-0004'), /对账一致/);
    // Third leg: the county fund company pays the unit for all three drafts at once.
    await register('countyfund', 'toUnit', 'GZB-E2E-0006');
    assert.match(await record('bank', 'GZB-E2E-0006'), /对账一致/);
  });

  it('the implementing unit accepts the three drafts and reports progress with evidence', async () => {
    const unit = await as('unit');
    await unit.goto(`${platform.url}/acceptance`);
    await shot(unit, 'acceptance');
    for (let i = 0; i < 3; i++) {
      let asked = '';
      unit.once('dialog', (d) => {
        asked = d.message();
        void d.accept();
      });
      await unit.locator(`#awaiting .accept-button`).first().click();
      await unit.waitForLoadState('load');
      assert.match(asked, /^确认承兑汇票 /, 'the form asked before accepting (public/forms.js)');
    }
    assert.match(await messages(unit), /到位|funded/i);
    await unit.goto(`${platform.url}/progress/${projectId}`);
    await unit.selectOption('#milestone', '路基');
    await unit.fill('#percent', '35');
    await unit.fill('#note', '路基完成 2.3 公里，附现场照片。');
    await unit.setInputFiles('#evidence', { name: '路基现场.png', mimeType: 'image/png', buffer: Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex') });
    await shot(unit, 'progress');
    await unit.click('#submit-progress');
    await unit.waitForURL(new RegExp(`/projects/${projectId}$`));
    assert.match(await unit.innerText('#percent'), /35%/);
    await shot(unit, 'project-detail');
  });

  it('the dashboard, the alerts, the history and the export show what happened', async () => {
    const auditor = await as('auditor');
    await auditor.goto(`${platform.url}/`);
    await shot(auditor, 'home');
    const released = await auditor.innerText('[data-figure="released"]');
    const client = await WebClient.loggedIn(platform.url, 'auditor');
    const csv = await client.get('/export/projects.csv');
    assert.equal(csv.status, 200);
    const rows = csv.text.replace(/^\uFEFF/, '').trim().split('\n');
    const ours = rows.find((r) => r.includes(projectId));
    assert.ok(ours, 'the export lists the project');
    assert.match(ours, /1000000\.00/);
    // The released figure is the sum of accepted drafts over every visible project, ours included.
    const releasedFen = Math.round(Number(released.replace(/[^0-9.]/g, '')) * 100);
    assert.ok(releasedFen >= 100_000_000, `released ${released} includes this project's 1,000,000.00`);

    // Times: the paid-at time the project page shows (to the second, with its zone) is the instant the CSV export
    // writes with its offset.
    await auditor.goto(`${platform.url}/projects/${projectId}`);
    const shown = await auditor.locator('#transfers tr', { hasText: 'GZB-E2E-0002' }).locator('.paid-at').innerText();
    const onPage = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) \(UTC([+-]\d{2}:\d{2})\)$/.exec(shown.trim());
    assert.ok(onPage, `a paid-at time with its zone: ${shown}`);
    assert.equal(onPage[3], '+08:00', 'shown in Beijing time, labelled');
    const transfersCsv = (await client.get('/export/transfers.csv')).text.replace(/^\uFEFF/, '').trim().split('\n').map(csvCells);
    const paidColumn = transfersCsv[0].indexOf('付款时间');
    const exported = transfersCsv.find((cells) => cells.includes('GZB-E2E-0002'))?.[paidColumn];
    assert.equal(exported, `${onPage[1]}T${onPage[2]}${onPage[3]}`, 'page and CSV give the same instant in the same zone');

    await auditor.goto(`${platform.url}/monitoring`);
    const alerts = await auditor.innerText('#alerts');
    assert.match(alerts, /GZB-E2E-0003/, 'the late transfer is an alert');
    await auditor.goto(`${platform.url}/monitoring?tab=resolved`);
    assert.match(await auditor.innerText('#resolved'), /GZB-E2E-0001/, 'the mismatch was closed by the corrected transfer');

    await auditor.goto(`${platform.url}/projects/${projectId}`);
    const history = await auditor.innerText('#history');
    for (const fcn of ['Project:file', 'Project:reject', 'Project:revise', 'Project:approve', 'Draft:accept', 'Project:reportProgress']) assert.match(history, new RegExp(fcn));
    assert.match(await auditor.innerText('#transfers'), /GZB-E2E-0001[\s\S]*不一致/);
    const evidence = auditor.locator('#progress-reports a').first();
    const href = await evidence.getAttribute('href');
    const file = await client.get(href!);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('x-content-intact'), 'true');
    await auditor.goto(`${platform.url}/projects`);
    await shot(auditor, 'projects');
    await auditor.goto(`${platform.url}/export`);
    await shot(auditor, 'export');
    const admin = await as('admin');
    await admin.goto(`${platform.url}/admin/users`);
    await shot(admin, 'admin-users');
    await (await as('lgo')).goto(`${platform.url}/notifications`);
    await shot(await as('lgo'), 'notifications');
  });

  let trancheProject = '';

  /** The county office fills the filing form for a 雷山县 project of 500,000 yuan with the given shares (yuan). */
  async function fillProject(name: string, shares: { bank: string; province: string; county: string }): Promise<Page> {
    const county = await as('county');
    await county.goto(`${platform.url}/projects/new`);
    await county.fill('#name', name);
    await county.fill('#town', '大塘镇');
    await county.fill('#department', '雷山县农业农村局');
    await county.selectOption('#implementingUnitId', 'LS-UNIT');
    await county.fill('#budget', '500000');
    await county.fill('#startDate', '2027-01-01');
    await county.fill('#endDate', '2027-12-31');
    await county.selectOption('#payer_bank', 'BANK-GZ');
    await county.fill('#amount_bank', shares.bank);
    await county.fill('#amount_provincialFinance', shares.province);
    await county.fill('#amount_countyFinance', shares.county);
    const names = county.locator('input[name="milestoneName"]');
    const dates = county.locator('input[name="milestoneDate"]');
    for (const [i, [milestone, date]] of [['茶苗定植', '2027-03-31'], ['加工厂房封顶', '2027-08-31'], ['竣工验收', '2027-12-31']].entries()) {
      await names.nth(i).fill(milestone);
      await dates.nth(i).fill(date);
    }
    const payees = [['雷山县苗岭建设工程有限公司', '620000009001', '贵州银行雷山支行'], ['大塘镇茶叶种植专业合作社', '720000009002', '农信社大塘分社']];
    for (const [i, [payee, account, bankName]] of payees.entries()) {
      await county.locator('input[name="payeeName"]').nth(i).fill(payee);
      await county.locator('input[name="payeeAccount"]').nth(i).fill(account);
      await county.locator('input[name="payeeBank"]').nth(i).fill(bankName);
    }
    return county;
  }

  it('the fund policy: shown on its page, and a plan off the policy is refused at filing with its reason', async () => {
    const lgo = await as('lgo');
    await lgo.goto(`${platform.url}/rules`);
    assert.match(await lgo.innerText('#policy-current'), /v1[\s\S]*10\.00/);
    assert.match(await lgo.innerText('#policy-history'), /贵州省脱贫攻坚投资基金管理办法/);
    await shot(lgo, 'rules');

    // Fiscal money at 20 % of the budget: the chain refuses the filing and the form says why, keeping what was typed.
    const county = await fillProject('雷山县茶叶加工厂（超比例配套）', { bank: '400000', province: '40000', county: '60000' });
    await county.click('#submit-project');
    await county.waitForLoadState('load');
    const refusal = await county.innerText('#form-error');
    assert.match(refusal, /财政资金（省级 \+ 县级）占预算 20\.00%/);
    assert.match(refusal, /要求财政资金 10\.00%/);
    assert.equal(await county.inputValue('#amount_bank'), '400000');
    assert.match(county.url(), /\/projects(\?|$)/, 'still on the form');
  });

  it('a project paid in tranches: filed with payees, approved in three tranches, each released by a confirmed milestone, then paid out', async () => {
    const county = await fillProject('雷山县大塘镇茶叶加工厂项目', { bank: '450000', province: '20000', county: '30000' });
    await county.click('#submit-project');
    await county.waitForURL(/\/projects\/PRJ-/);
    trancheProject = county.url().split('/').pop()!;

    const lgo = await as('lgo');
    await lgo.goto(`${platform.url}/approvals/${trancheProject}`);
    assert.match(await lgo.innerText('#policy-check'), /符合第 1 版资金政策/);
    await lgo.check('#split-tranches');
    await lgo.fill('#opinion', '同意，按里程碑分三期拨付。');
    await lgo.fill('#deadline_toPartnership', beijing(5 * 86400_000));
    await lgo.fill('#deadline_toCountyFund', beijing(10 * 86400_000));
    await lgo.fill('#deadline_toUnit', beijing(20 * 86400_000));
    // The default rows: 30 % on arrival, 40 % at the middle milestone, 30 % at the last.
    assert.equal(await lgo.inputValue('#tranche_percent_1'), '40');
    assert.equal(await lgo.inputValue('#tranche_milestone_2'), '竣工验收');
    await lgo.click('#approve');
    await lgo.waitForURL(new RegExp(`/projects/${trancheProject}$`));
    assert.equal(await lgo.locator('.draft .tranches').count(), 3, 'every draft shows its tranches');

    /** Registers on the payer's page and records at the bank, for this project's hop. */
    const pay = async (payer: string, stage: string, serial: string, recorder = 'bank') => {
      const page = await as(payer);
      await page.goto(`${platform.url}/disbursement?project=${trancheProject}`);
      const group = page.locator(`.hop-group[data-project="${trancheProject}"][data-stage="${stage}"]`);
      await group.locator('input[name="serial"]').fill(serial);
      await group.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
      assert.match(await record(recorder, serial), new RegExp(`${serial} 对账一致`));
    };
    await pay('provfin', 'toPartnership', 'GZB-TR-0001');
    await pay('countyfin', 'toCountyFund', 'RCC-TR-0002', 'bank2');
    await pay('bank', 'toPartnership', 'GZB-TR-0003');
    await pay('lp', 'toCountyFund', 'GZB-TR-0004');
    await pay('countyfund', 'toUnit', 'GZB-TR-0005');

    /** The unit accepts every tranche awaiting acceptance on its page. */
    const acceptAll = async () => {
      const unit = await as('unit');
      await unit.goto(`${platform.url}/acceptance`);
      unit.on('dialog', (d) => void d.accept());
      for (let n = await unit.locator(`#awaiting tr[data-draft^="${trancheProject}"] .accept-button`).count(); n > 0; n--) {
        await unit.locator(`#awaiting tr[data-draft^="${trancheProject}"] .accept-button`).first().click();
        await unit.waitForLoadState('load');
      }
      unit.removeAllListeners('dialog');
      return unit;
    };
    const unit = await acceptAll();
    await shot(unit, 'acceptance-tranche');

    // The second tranche waits for its milestone: the county fund company sees why.
    const fund = await as('countyfund');
    await fund.goto(`${platform.url}/disbursement?project=${trancheProject}`);
    assert.match(await fund.locator('.held-back').first().innerText(), /加工厂房封顶/);

    /** The unit reports a milestone with evidence; the county office confirms it on the project page. */
    const reach = async (milestone: string, percent: string) => {
      await unit.goto(`${platform.url}/progress/${trancheProject}`);
      await unit.selectOption('#milestone', milestone);
      await unit.fill('#percent', percent);
      await unit.fill('#note', `${milestone}已完成。`);
      await unit.setInputFiles('#evidence', { name: `${milestone}.png`, mimeType: 'image/png', buffer: Buffer.from(`89504e470d0a1a0a${percent}`, 'hex') });
      await unit.click('#submit-progress');
      await unit.waitForURL(new RegExp(`/projects/${trancheProject}$`));
      const office = await as('county');
      await office.goto(`${platform.url}/projects/${trancheProject}`);
      const row = office.locator(`#milestones tr[data-milestone="${milestone}"]`);
      await row.locator('input[name="note"]').fill('现场核实无误');
      await row.locator('button[type="submit"]').click();
      await office.waitForURL(new RegExp(`/projects/${trancheProject}$`));
      assert.match(await office.locator(`#milestones tr[data-milestone="${milestone}"]`).innerText(), /已确认/);
      return office;
    };
    const office = await reach('加工厂房封顶', '60');
    await shot(office, 'milestones');
    await pay('countyfund', 'toUnit', 'GZB-TR-0006');
    await acceptAll();
    await reach('竣工验收', '100');
    await pay('countyfund', 'toUnit', 'GZB-TR-0007');
    await acceptAll();
    await unit.goto(`${platform.url}/projects/${trancheProject}`);
    assert.match(await unit.innerText('#project-status'), /已完成/);
    assert.equal(await unit.locator('.tranche-state .bg-success').count(), 9, 'three tranches of three drafts, each accepted once');

    // Payout to the contractor, reconciled against the bank's record.
    await unit.selectOption('#payout-payee', '620000009001');
    await unit.fill('#payout-amount', '150000');
    await unit.fill('#payout-serial', 'GZB-PAY-0001');
    await unit.fill('#payout-purpose', '厂房主体工程款');
    await unit.click('#payout-submit');
    await unit.waitForURL(new RegExp(`/projects/${trancheProject}$`));
    assert.match(await record('bank', 'GZB-PAY-0001'), /GZB-PAY-0001 对账一致/);
    await unit.goto(`${platform.url}/projects/${trancheProject}`);
    assert.match(await unit.innerText('#payout-figures'), /已支付 150,000\.00 元/);
    assert.match(await unit.innerText('#payouts'), /GZB-PAY-0001[\s\S]*已对账/);
    await shot(unit, 'payouts');
  });

  it('no page broke the Content-Security-Policy', () => {
    assert.deepEqual(cspViolations, []);
  });
});
