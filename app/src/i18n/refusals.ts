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
  [/^(?:claim\.|record\.|input\.)?serial$/, (t) => t('disb.serial')],
  [/^(?:claim\.|record\.|input\.)?amount$/, (t) => t('disb.amount')],
  [/^(?:record\.|input\.)?paidAt$/, (t) => t('disb.paidAt')],
  [/^(?:record\.|input\.)?payerAccount$/, (t) => t('disb.payerAccount')],
  [/^(?:record\.|input\.)?payeeAccount$/, (t) => t('disb.payeeAccount')],
  [/^(?:claim\.|input\.)?draftIds(?:\.\d+)?$/, (t) => t('refusal.field.drafts')],
  [/^(?:progress\.|input\.)?percent$/, (t) => t('prog.percent')],
  [/^(?:progress\.|input\.|confirmation\.)?milestone$/, (t) => t('prog.milestone')],
  [/^(?:progress\.|input\.|confirmation\.)?note$/, (t) => t('prog.note')],
  [/^(?:progress\.|input\.)?evidence(?:\.\d+)?(?:\.\w+)?$/, (t) => t('prog.evidence')],
  [/^reason$/, (t) => t('monitor.reason')],
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
  [/^the amount must be more than zero$/, 'refusal.positive', () => ({})],
];

/** The chain's words for a refusal, in the reader's language where they are known. */
export function translateRefusal(t: Translate, message: string): string {
  // "path: sentence" (parseArg), or "path sentence" for the few checks that start with the field itself.
  const colon = /^([A-Za-z_][\w.]*): ([\s\S]+)$/.exec(message);
  const path = colon?.[1];
  const sentence = colon ? colon[2] : message;
  const field = path ? fieldLabel(t, path) : leadingField(t, sentence);
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
