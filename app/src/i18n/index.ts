/**
 * Interface text, zh-CN first and English second, one module per area of the platform under
 * messages/. Pages call t('key'); a key missing in English falls back to Chinese, and a key missing
 * everywhere shows the key itself, which the i18n test catches.
 */
import { common } from './messages/common';
import { admin } from './messages/admin';
import { projects } from './messages/projects';
import { payments } from './messages/payments';
import { oversight } from './messages/oversight';
import { refusals } from './messages/refusals';
import { fundRules } from './messages/fund-rules';

export type Lang = 'zh-CN' | 'en';
export const LANGS: readonly Lang[] = ['zh-CN', 'en'];
export type Messages = Record<Lang, Record<string, string>>;

/** Every area's messages; add a module here when an area gets its own. */
const AREAS: Messages[] = [common, projects, payments, admin, oversight, refusals, fundRules];

export const CATALOGUES: Messages = {
  'zh-CN': Object.assign({}, ...AREAS.map((a) => a['zh-CN'])),
  en: Object.assign({}, ...AREAS.map((a) => a.en)),
};

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const own = CATALOGUES[lang];
  const fallback = CATALOGUES['zh-CN'];
  return (key, vars) => {
    const text = own[key] ?? fallback[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m)) : text;
  };
}

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}
