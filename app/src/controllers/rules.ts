/**
 * The fund's rules as the chain holds them, on one page: the fund policy (the provincial command or the
 * administrator publishes a new version with its reason) and the channel configuration (the administrator:
 * role admission per MSP, the unmatched threshold, the stalled-after days), each with its history. The relay
 * writes both to every set, so every set checks its projects against the same rules.
 */
import type { Request, Response, Router } from 'express';
import type { FundPolicy } from '@fund/chaincode/dist/policy/policy';
import type { ChannelConfig } from '@fund/chaincode/dist/config/config';
import { ROLES, type Role } from '@fund/chaincode/dist/access/roles';
import type { Translate } from '../i18n';
import { platformOf } from '../platform';
import { act, flash, FormError, formText, refusal } from './act';
import { OVERSIGHT, route } from './route';

const POLICY_EDITORS: readonly Role[] = ['leadingGroup', 'admin'];
const MSP_ID = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;


/** "12.5" (percent, at most two decimals) → 1250 basis points. */
function basisPoints(t: Translate, body: Record<string, unknown>, key: string, label: string): number {
  const text = formText(body, key);
  const m = /^([0-9]{1,3})(?:\.([0-9]{1,2}))?$/.exec(text);
  const bp = m ? Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0')) : NaN;
  if (!m || bp > 10000) throw new FormError(t('policy.err.percent', { field: t(label) }));
  return bp;
}

export function policyInputOf(t: Translate, body: Record<string, unknown>) {
  const reason = formText(body, 'reason');
  if (reason.length < 5) throw new FormError(t('policy.err.reason'));
  return {
    fiscalShareBp: basisPoints(t, body, 'fiscalShare', 'policy.fiscalShare'),
    provinceShareOfFiscalBp: basisPoints(t, body, 'provinceShare', 'policy.provinceShare'),
    toleranceBp: basisPoints(t, body, 'tolerance', 'policy.tolerance'),
    fiscalFirst: body.fiscalFirst === 'on',
    milestoneConfirmation: body.milestoneConfirmation === 'on',
    reason,
  };
}

export function configInputOf(t: Translate, body: Record<string, unknown>, current: ChannelConfig) {
  const roleMsps = Object.fromEntries(
    ROLES.map((role) => {
      const msps = formText(body, `msps_${role}`)
        .split(/[,，\s]+/)
        .filter(Boolean);
      if (msps.length === 0 || !msps.every((m) => MSP_ID.test(m))) throw new FormError(t('config.err.msps', { role: t(`role.${role}`) }));
      return [role, msps];
    }),
  );
  const whole = (key: string, label: string) => {
    const text = formText(body, key);
    if (!/^[0-9]{1,5}$/.test(text)) throw new FormError(t('config.err.number', { field: t(label) }));
    return Number(text);
  };
  return {
    roleMsps,
    unmatchedThresholdHours: whole('unmatchedThresholdHours', 'config.unmatchedThreshold'),
    stalledAfterDays: whole('stalledAfterDays', 'config.stalledAfterDays'),
    ...(current.limitedPartnershipId ? { limitedPartnershipId: current.limitedPartnershipId } : {}),
    reason: formText(body, 'reason'),
  };
}

async function renderPage(req: Request, res: Response, status: number, form?: { name: 'policy' | 'config'; values: Record<string, unknown>; error: string }) {
  const { chain, config: appConfig } = platformOf(req);
  const user = req.user!;
  const [policy, versions, config, history] = await Promise.all([
    chain.evaluate<FundPolicy | null>(user, 'Policy:current'),
    chain.evaluate<FundPolicy[]>(user, 'Policy:list'),
    chain.evaluate<ChannelConfig>(user, 'Config:get'),
    chain.evaluate<Array<{ txId: string; timestamp: string; value: ChannelConfig | null }>>(user, 'Config:history'),
  ]);
  const pct = (bp: number) => (bp / 100).toFixed(2);
  const policyValues = form?.name === 'policy'
    ? form.values
    : policy
      ? { fiscalShare: pct(policy.fiscalShareBp), provinceShare: pct(policy.provinceShareOfFiscalBp), tolerance: pct(policy.toleranceBp), fiscalFirst: policy.fiscalFirst ? 'on' : '', milestoneConfirmation: policy.milestoneConfirmation ? 'on' : '' }
      : { fiscalShare: '10.00', provinceShare: '40.00', tolerance: '0.50', fiscalFirst: 'on', milestoneConfirmation: 'on' };
  const configValues = form?.name === 'config'
    ? form.values
    : {
        ...Object.fromEntries(ROLES.map((r) => [`msps_${r}`, config.roleMsps[r].join(', ')])),
        unmatchedThresholdHours: String(config.unmatchedThresholdHours),
        stalledAfterDays: String(config.stalledAfterDays ?? appConfig.stalledAfterDays),
      };
  res.status(status).render('rules', {
    title: 'nav.rules',
    policy,
    versions: [...versions].reverse(),
    config,
    history: [...history].reverse(),
    roles: ROLES,
    policyValues,
    configValues,
    form,
    canSetPolicy: POLICY_EDITORS.includes(user.role as Role),
    canSetConfig: user.role === 'admin',
    pct,
  });
}

export function register(router: Router): void {
  route(router, 'GET', '/rules', OVERSIGHT, (req, res) => renderPage(req, res, 200));

  route(router, 'POST', '/rules/policy', POLICY_EDITORS, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const t = res.locals.t as Translate;
    try {
      const input = policyInputOf(t, body);
      const done = await act(req, 'Policy:set', 'fund-policy', () => platformOf(req).chain.submit<FundPolicy>(req.user!, 'Policy:set', JSON.stringify(input)));
      flash(req, 'success', t('policy.saved', { version: done.result.version, block: done.blockNumber }));
      res.redirect('/rules');
    } catch (err) {
      const values = Object.fromEntries(['fiscalShare', 'provinceShare', 'tolerance', 'fiscalFirst', 'milestoneConfirmation', 'reason'].map((k) => [k, formText(body, k).slice(0, 1000)]));
      await renderPage(req, res, 400, { name: 'policy', values, error: refusal(res, err) });
    }
  });

  route(router, 'POST', '/rules/config', ['admin'], async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const t = res.locals.t as Translate;
    try {
      const current = await platformOf(req).chain.evaluate<ChannelConfig>(req.user!, 'Config:get');
      const input = configInputOf(t, body, current);
      const done = await act(req, 'Config:update', 'channel-config', () => platformOf(req).chain.submit<ChannelConfig>(req.user!, 'Config:update', JSON.stringify(input)));
      flash(req, 'success', t('config.saved', { block: done.blockNumber }));
      res.redirect('/rules');
    } catch (err) {
      const values = Object.fromEntries([...ROLES.map((r) => `msps_${r}`), 'unmatchedThresholdHours', 'stalledAfterDays', 'reason'].map((k) => [k, formText(body, k).slice(0, 1000)]));
      await renderPage(req, res, 400, { name: 'config', values, error: refusal(res, err) });
    }
  });
}
