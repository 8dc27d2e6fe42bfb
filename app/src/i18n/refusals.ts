/**
 * Refusals in the reader's language. The chaincode answers in English ("project.fundingPlan: the
 * funding plan amounts must add up to the budget": deterministic, language-neutral, the same on every
 * peer), naming fields by their path in the transaction's argument. Here a known path becomes the
 * field's name as the form shows it and a known sentence its translation (messages/refusals.ts); an
 * unknown sentence is kept as the chain said it, behind the translated field name, so nothing is lost.
 */
import type { Translate } from './index';

/** A field path (the chain's or a form's input name) → how the label is made, from the form's own labels. */
const FIELDS: Array<[RegExp, (t: Translate, m: RegExpExecArray) => string]> = [
  [/^(?:project\.|input\.)?name$/, (t) => t('project.name')],
  [/^(?:project\.)?town$/, (t) => t('project.town')],
  [/^(?:project\.)?county$/, (t) => t('project.county')],
  [/^(?:project\.)?department$/, (t) => t('project.department')],
  [/^(?:project\.)?description$/, (t) => t('project.description')],
  [/^(?:project\.)?budget$/, (t) => t('project.budget')],
  [/^(?:project\.)?implementingUnitId$/, (t) => t('project.unit')],
  [/^(?:project\.)?startDate$/, (t) => t('project.startDate')],
  [/^(?:project\.)?endDate$/, (t) => t('project.endDate')],
  [/^(?:project\.)?milestones$/, (t) => t('project.milestones')],
  [/^(?:project\.)?milestones\.(\d+)(?:\.name)?$/, (t, m) => t('refusal.field.milestone', { n: Number(m[1]) + 1 })],
  [/^(?:project\.)?milestones\.(\d+)\.dueDate$/, (t, m) => t('refusal.field.milestoneDate', { n: Number(m[1]) + 1 })],
  [/^milestone(?:Name)?$/, (t) => t('prog.milestone')],
  [/^milestoneDate$/, (t) => t('refusal.field.milestoneDate', { n: '' })],
  [/^(?:project\.)?fundingPlan$/, (t) => t('project.fundingPlan')],
  [/^(?:project\.)?fundingPlan\.(\d+)(?:\.amount)?$/, (t, m) => t('refusal.field.fundingRow', { n: Number(m[1]) + 1, what: t('project.amount') })],
  [/^(?:project\.)?fundingPlan\.(\d+)\.payerId$/, (t, m) => t('refusal.field.fundingRow', { n: Number(m[1]) + 1, what: t('project.payer') })],
  [/^amount_(\w+)$/, (t, m) => `${t(`source.${m[1]}`)} · ${t('project.amount')}`],
  [/^payer_(\w+)$/, (t, m) => `${t(`source.${m[1]}`)} · ${t('project.payer')}`],
  [/^(?:project\.)?payees(?:\.\d+)?(?:\.\w+)?$/, (t) => t('refusal.field.payees')],
  [/^opinion$/, (t) => t('approval.opinion')],
  [/^(?:terms\.)?deadlines?(?:_|\.)(toPartnership|toCountyFund|toUnit)$/, (t, m) => `${t('approval.deadline')} · ${t(`stage.${m[1]}`)}`],
  [/^(?:terms\.)?deadlines$/, (t) => t('approval.deadline')],
  [/^(?:terms\.)?tranches(?:\.\d+)?(?:\.\w+)?$/, (t) => t('refusal.field.tranches')],
  [/^(?:terms\.)?policyException$|^exceptionRequest$/, (t) => t('refusal.field.exception')],
  [/^(?:claim\.|record\.|input\.|payout\.)?serial$/, (t) => t('disb.serial')],
  [/^(?:claim\.|record\.|input\.|payout\.)?amount$/, (t) => t('disb.amount')],
  [/^(?:record\.|input\.)?paidAt$/, (t) => t('disb.paidAt')],
  [/^(?:record\.|input\.)?payerAccount$/, (t) => t('disb.payerAccount')],
  [/^(?:record\.|input\.|payout\.)?payeeAccount$/, (t) => t('disb.payeeAccount')],
  [/^(?:claim\.|input\.)?draftIds(?:\.\d+)?$/, (t) => t('refusal.field.drafts')],
  [/^(?:progress\.|input\.)?percent$/, (t) => t('prog.percent')],
  [/^(?:progress\.|input\.|confirmation\.)?milestone$/, (t) => t('prog.milestone')],
  [/^(?:progress\.|input\.|confirmation\.)?note$/, (t) => t('prog.note')],
  [/^(?:progress\.|input\.)?evidence(?:\.\d+)?(?:\.\w+)?$/, (t) => t('prog.evidence')],
  [/^reason$/, (t) => t('monitor.reason')],
  [/^payout\.purpose$/, (t) => t('payout.purpose')],
  [/^policy\.fiscalShareBp$/, (t) => t('policy.fiscalShare')],
  [/^policy\.provinceShareOfFiscalBp$/, (t) => t('policy.provinceShare')],
  [/^policy\.toleranceBp$/, (t) => t('policy.tolerance')],
  [/^(?:policy|config|revocation)\.reason$/, (t) => t('policy.reason')],
  [/^config\.unmatchedThresholdHours$/, (t) => t('config.unmatchedThreshold')],
  [/^config\.stalledAfterDays$/, (t) => t('config.stalledAfterDays')],
  [/^config\.roleMsps(?:\.\w+)?(?:\.\d+)?$/, (t) => t('config.roleMsps')],
];

/** The field's name as its form shows it, or undefined for a path nobody has named. */
export function fieldLabel(t: Translate, path: string): string | undefined {
  for (const [pattern, label] of FIELDS) {
    const m = pattern.exec(path);
    if (m) return label(t, m);
  }
  return undefined;
}

/**
 * The chain's sentences (chaincode/src: ledger/validation.ts and the contracts' own checks) → a key of
 * messages/refusals.ts, with what the sentence carries. Order matters: the first match wins.
 */
const SENTENCES: Array<[RegExp, string, (m: RegExpExecArray) => Record<string, string | number>]> = [
  [/^\S+ must not be empty$/, 'refusal.empty', () => ({})],
  [/^\S+ is required$/, 'refusal.required', () => ({})],
  [/^\S+(?: [a-z]+)? must be at most (\d+) characters$/, 'refusal.tooLong', (m) => ({ max: m[1] })],
  [/^\S+(?: [a-z]+)? must be at least (\d+) characters$/, 'refusal.tooShort', (m) => ({ min: m[1] })],
  [/must be a whole number of fen/, 'refusal.fen', () => ({})],
  [/must be greater than zero$/, 'refusal.positive', () => ({})],
  [/must be a date written YYYY-MM-DD$/, 'refusal.day', () => ({})],
  [/is not a real date$/, 'refusal.realDate', () => ({})],
  [/must be an ISO 8601 date-time/, 'refusal.instant', () => ({})],
  [/^the funding plan amounts must add up to the budget$/, 'refusal.planSum', () => ({})],
  [/^each payer may appear once per source$/, 'refusal.payerTwice', () => ({})],
  [/^endDate must not be before startDate$/, 'refusal.endBeforeStart', () => ({})],
  [/^every milestone must fall between startDate and endDate$/, 'refusal.milestoneOutside', () => ({})],
  [/^a payee account is listed twice$/, 'refusal.payeeTwice', () => ({})],
  [/^(\S+) is in (\S+), not (\S+)$/, 'refusal.otherCounty', (m) => ({ id: m[1], county: m[2], expected: m[3] })],
  [/^(\S+) is the finance bureau of (\S+), not (\S+)$/, 'refusal.otherFinance', (m) => ({ id: m[1], county: m[2], expected: m[3] })],
  [/^a project cannot move to another county$/, 'refusal.countyMove', () => ({})],
  [/^(?:deadlines\.)?toPartnership must be after the approval time$/, 'refusal.deadlinePast', () => ({})],
  [/^(?:deadlines\.)?(\w+) must be after deadlines\.(\w+)$/, 'refusal.deadlineOrder', () => ({})],
  [/^the percentages must add up to 100$/, 'refusal.tranchesSum', () => ({})],
  [/^a transfer cannot be recorded before it happens$/, 'refusal.paidFuture', () => ({})],
  [/^(\S+) is not a registered account$/, 'refusal.noAccount', (m) => ({ account: m[1] })],
  [/must be a bank serial number of 6–40 letters/, 'refusal.serial', () => ({})],
  [/must be a bank account number of 6–32 digits$/, 'refusal.account', () => ({})],
  [/^progress cannot go back from (\d+)% to (\d+)%$/, 'refusal.progressBack', (m) => ({ from: m[1], to: m[2] })],
  [/^project (\S+) has no milestone "(.*)"$/, 'refusal.noMilestone', (m) => ({ milestone: m[2] })],
  [/^a draft is listed twice$/, 'refusal.draftTwice', () => ({})],
  [/^(\S+) belongs to (\S+); one transfer carries drafts of one project only$/, 'refusal.otherProject', (m) => ({ draft: m[1] })],
  [/^(\S+) does not travel the same hop as (\S+)/, 'refusal.otherHop', (m) => ({ draft: m[1], other: m[2] })],
  [/^unknown field\(s\) (.*)$/, 'refusal.unknownField', (m) => ({ fields: m[1] })],
  [/^enter an amount in yuan/, 'refusal.yuan', () => ({})],
  // The fund's rules (policy/, draft/release.ts, reconciliation/payout.ts, access/revocation.ts).
  [/^only the first tranche may be released without a milestone$/, 'refusal.trancheFirstOnly', () => ({})],
  [/^a milestone releases one tranche$/, 'refusal.trancheMilestoneTwice', () => ({})],
  [/^at least one tranche$/, 'refusal.trancheNone', () => ({})],
  [/^project (\S+) has no milestone "(.*)" \(its milestones: (.*)\)$/, 'refusal.noMilestoneOf', (m) => ({ milestone: m[2], milestones: m[3] })],
  [/^the plan complies with fund policy v(\d+); no exception is needed$/, 'refusal.policy.noException', (m) => ({ version: m[1] })],
  [/^no fund policy is in force, so there is nothing to make an exception to$/, 'refusal.policy.noPolicy', () => ({})],
  [/^draft (\S+): bank money moves only once the fiscal share is in place \(fund policy v(\d+)\); (.*)$/, 'refusal.held.fiscalFirst', (m) => ({ draft: m[1], version: m[2], waiting: m[3].replace(/ \((\w+)\) has not made its first transfer/g, '') })],
  [/^draft (\S+): tranche (\d+) of (\d+) must be accepted by the implementing unit before the next tranche is paid$/, 'refusal.held.acceptFirst', (m) => ({ draft: m[1], n: m[2], of: m[3] })],
  [/^draft (\S+): tranche (\d+) of (\d+) \((\d+) %\) is released by milestone "(.*)", which has not been reported with evidence yet$/, 'refusal.held.notReported', (m) => ({ draft: m[1], n: m[2], of: m[3], percent: m[4], milestone: m[5] })],
  [/^draft (\S+): tranche (\d+) of (\d+) \((\d+) %\) is released by milestone "(.*)", which the county office has not confirmed yet \(fund policy v(\d+)\)$/, 'refusal.held.notConfirmed', (m) => ({ draft: m[1], n: m[2], of: m[3], percent: m[4], milestone: m[5], version: m[6] })],
  [/^milestone "(.*)" has not been reported with evidence yet; it cannot be confirmed$/, 'refusal.milestoneNotReported', (m) => ({ milestone: m[1] })],
  [/^milestone "(.*)" is already confirmed$/, 'refusal.milestoneConfirmed', (m) => ({ milestone: m[1] })],
  [/^(\S+) is outside the payee scope of project (\S+)'s drafts \((.*)\)$/, 'refusal.payeeOutside', (m) => ({ account: m[1], scope: m[3] })],
  [/^paying out ([\d.]+) yuan would exceed what the implementing unit has accepted for project (\S+): accepted ([\d.]+) yuan, paid out ([\d.]+) yuan, awaiting the bank's record ([\d.]+) yuan$/, 'refusal.payoutExceeds', (m) => ({ amount: m[1], accepted: m[3], paidOut: m[4], pending: m[5] })],
  [/^the caller's certificate (\S+) was revoked at (\S+) by (\S+): (.*)$/, 'refusal.revoked', (m) => ({ fingerprint: m[1], at: m[2], by: m[3], reason: m[4] })],
  [/^the amount must be more than zero$/, 'refusal.positive', () => ({})],
];

/** The fund policy's check (policy/policy.ts planProblems, then what to do about it): each part in the reader's language. */
const POLICY_PARTS: Array<[RegExp, string, (m: RegExpExecArray) => Record<string, string>]> = [
  [
    /^fiscal money \(provincialFinance \+ countyFinance\) is ([\d.]+) % of the budget and bank money ([\d.]+) %; fund policy v(\d+) requires fiscal ([\d.]+) % and bank ([\d.]+) % ± ([\d.]+) %$/,
    'refusal.policy.fiscal',
    (m) => ({ fiscal: m[1], bank: m[2], version: m[3], wantFiscal: m[4], wantBank: m[5], tolerance: m[6] }),
  ],
  [
    /^within the fiscal money, the province carries ([\d.]+) % and the county ([\d.]+) %; fund policy v(\d+) requires province ([\d.]+) % and county ([\d.]+) % ± ([\d.]+) %$/,
    'refusal.policy.province',
    (m) => ({ province: m[1], county: m[2], version: m[3], wantProvince: m[4], wantCounty: m[5], tolerance: m[6] }),
  ],
  [/^Change the funding plan, or file it with an exceptionRequest/, 'refusal.policy.fileHint', () => ({})],
  [/^Reject it for the county to revise, or approve it with a policyException/, 'refusal.policy.approveHint', () => ({})],
];

function policyRefusal(t: Translate, sentence: string): string | undefined {
  const parts = sentence.split(/; fundingPlan: |\. (?=Change the funding plan|Reject it for the county)/);
  const out: string[] = [];
  for (const part of parts) {
    const found = POLICY_PARTS.map(([pattern, key, vars]) => [pattern.exec(part), key, vars] as const).find(([m]) => m);
    if (!found) return undefined;
    out.push(t(found[1], found[2](found[0]!)));
  }
  return out.join(t('refusal.policy.sep'));
}

/** The chain's words for a refusal, in the reader's language where they are known. */
export function translateRefusal(t: Translate, message: string): string {
  // "path: sentence" (parseArg), or "path sentence" for the few checks that start with the field itself.
  const colon = /^([A-Za-z_][\w.]*): ([\s\S]+)$/.exec(message);
  const path = colon?.[1];
  const sentence = colon ? colon[2] : message;
  const field = path ? fieldLabel(t, path) : leadingField(t, sentence);
  const policy = policyRefusal(t, sentence);
  if (policy) return field ? t('refusal.withField', { field, text: policy }) : policy;
  for (const [pattern, key, vars] of SENTENCES) {
    const m = pattern.exec(sentence);
    if (m) return field ? t('refusal.withField', { field, text: t(key, vars(m)) }) : t(key, vars(m));
  }
  // An unknown sentence stays as the chain said it, its field named the form's way.
  return field && path ? t('refusal.withField', { field, text: sentence }) : message;
}

/** "deadlines.toUnit must be after …": the sentence's first word is the field. */
function leadingField(t: Translate, sentence: string): string | undefined {
  const first = /^([A-Za-z_][\w.]*) /.exec(sentence)?.[1];
  return first && first.includes('.') ? fieldLabel(t, first) : undefined;
}
