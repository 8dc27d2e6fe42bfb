/** The web platform's configuration: environment variables with safe defaults (README, "Configuration"). */
import * as path from 'node:path';
import { envInteger } from './env';
import { ledgerConfig, type LedgerConfig } from './blockchain';
import { securityConfig, type SecurityConfig } from './security';
import { timeZone } from './services/time';

export interface AppConfig {
  port: number;
  /** Where the platform keeps its own data (ledger, uploads, secrets) unless told otherwise. */
  dataDir: string;
  /** Empty: the start script runs the project's MongoDB-protocol server and fills this in. */
  mongodbUri: string;
  uploadDir: string;
  maxUploadBytes: number;
  /** Interface language for a visitor who has not chosen one. */
  defaultLang: 'zh-CN' | 'en';
  /** IANA zone every time is shown and typed in (services/time.ts); deadlines and payments are Beijing time. */
  timeZone: string;
  /** Set 1's business channel (projects, drafts, reconciliation), every set's channel, and the routing channel. */
  businessChannel: string;
  businessChannels: string[];
  routingChannel: string;
  /** The platform's own address as a client of the relay, checked against the whitelist like any client. */
  platformAddress: string;
  /** A new set's capacity on the routing chain: business ids at most, and the count that raises a warning. */
  setCapacity: { maxNum: number; warnNum: number };
  /** The first retry of a callback the receiver did not take; each next waits twice as long, up to ten minutes. */
  callbackRetryMs: number;
  /** A funded project with no progress report for this many days is flagged as stalled. */
  stalledAfterDays: number;
  ledger: LedgerConfig;
  /** Login limits (LOGIN_*) and HTTPS (TLS_CERT_FILE, TLS_KEY_FILE): security.ts. */
  security: SecurityConfig;
}

export function appConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const dataDir = path.resolve(env.DATA_DIR ?? 'data');
  const lang = env.DEFAULT_LANG ?? 'zh-CN';
  if (lang !== 'zh-CN' && lang !== 'en') throw new Error(`DEFAULT_LANG must be "zh-CN" or "en", not ${JSON.stringify(lang)}`);
  const ledger = ledgerConfig({ LEDGER_DATA_DIR: path.join(dataDir, 'ledger'), ...env });
  return {
    port: envInteger(env, 'PORT', 0, 65535) ?? 3000,
    dataDir,
    mongodbUri: env.MONGODB_URI ?? '',
    uploadDir: path.resolve(env.UPLOAD_DIR ?? path.join(dataDir, 'uploads')),
    maxUploadBytes: (envInteger(env, 'MAX_UPLOAD_MB', 1, 1024) ?? 20) * 1024 * 1024,
    defaultLang: lang,
    timeZone: zoneName(env),
    businessChannel: ledger.sets[0],
    businessChannels: ledger.sets,
    routingChannel: ledger.routingChannel,
    platformAddress: env.PLATFORM_ADDRESS?.trim() || '127.0.0.1',
    setCapacity: setCapacity(env),
    callbackRetryMs: envInteger(env, 'RELAY_CALLBACK_RETRY_MS', 10, 600_000) ?? 1000,
    stalledAfterDays: envInteger(env, 'STALLED_AFTER_DAYS', 1, 3650) ?? 30,
    ledger,
    security: securityConfig(env),
  };
}

function zoneName(env: NodeJS.ProcessEnv): string {
  const name = env.TIME_ZONE?.trim() || 'Asia/Shanghai';
  try {
    return timeZone(name).name;
  } catch {
    throw new Error(`TIME_ZONE must be an IANA time zone such as Asia/Shanghai or UTC, not ${JSON.stringify(env.TIME_ZONE)}`);
  }
}

function setCapacity(env: NodeJS.ProcessEnv): { maxNum: number; warnNum: number } {
  const maxNum = envInteger(env, 'SET_MAX_NUM', 1, 10_000_000) ?? 100_000;
  const warnNum = envInteger(env, 'SET_WARN_NUM', 1, 10_000_000) ?? Math.ceil(maxNum * 0.8);
  if (warnNum > maxNum) throw new Error(`SET_WARN_NUM (${warnNum}) must not exceed SET_MAX_NUM (${maxNum})`);
  return { maxNum, warnNum };
}
