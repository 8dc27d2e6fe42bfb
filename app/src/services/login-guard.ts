/**
 * Login throttling (登录限制): failed logins are counted per account and per client address with
 * rate-limiter-flexible's MongoDB store, so every process of the platform shares the counts and a
 * restart forgets nothing. N wrong passwords for one account within the window lock that account
 * for the lockout time, even against the right password; a larger number of failures from one
 * address locks every login from it. A successful login clears its account's count, not its
 * address's (one good account must not wash out guessing at the others). The counters are
 * collection `loginFailures`; each lockout that starts is a `loginLockouts` record, which the
 * monitoring centre shows as an alert, and an audit entry (the login controller writes it).
 */
import mongoose from 'mongoose';
import { RateLimiterMongo, type RateLimiterRes } from 'rate-limiter-flexible';
import { envInteger } from '../env';
import { LoginFailure, LoginLockout } from '../models/activity';

export interface LoginLimits {
  /** Wrong passwords for one account within the window that lock it (LOGIN_MAX_FAILURES). */
  maxFailures: number;
  /** Failed logins from one client address within the window that lock the address (LOGIN_MAX_FAILURES_PER_ADDRESS). */
  maxFailuresPerAddress: number;
  /** The window failures are counted in, from the first one (LOGIN_FAILURE_WINDOW_MINUTES). */
  windowMinutes: number;
  /** How long a lockout lasts (LOGIN_LOCKOUT_MINUTES). */
  lockoutMinutes: number;
}

export function loginLimits(env: NodeJS.ProcessEnv): LoginLimits {
  return {
    maxFailures: envInteger(env, 'LOGIN_MAX_FAILURES', 1, 1000) ?? 5,
    maxFailuresPerAddress: envInteger(env, 'LOGIN_MAX_FAILURES_PER_ADDRESS', 1, 100_000) ?? 20,
    windowMinutes: envInteger(env, 'LOGIN_FAILURE_WINDOW_MINUTES', 1, 1440) ?? 15,
    lockoutMinutes: envInteger(env, 'LOGIN_LOCKOUT_MINUTES', 1, 10_080) ?? 15,
  };
}

export type LockoutScope = 'account' | 'address';

export interface Lockout {
  scope: LockoutScope;
  /** the username or the address */
  key: string;
  /** failures that led to it */
  failures: number;
  until: Date;
}

/** The monitoring centre lists the lockouts of this many hours; older lockout records are deleted (the audit log keeps them). */
export const LOCKOUT_ALERT_HOURS = 24;
/** How often expired counters and old lockout records are deleted. */
const SWEEP_MS = 10 * 60_000;

export class LoginGuard {
  private readonly limiters: Record<LockoutScope, { limiter: RateLimiterMongo; max: number }>;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    readonly limits: LoginLimits,
    db: mongoose.mongo.Db,
  ) {
    // The store: the same MongoDB as everything else (checked against the bundled mongo-java-server: atomic $inc upserts,
    // expired counters replaced). Its indexes come from the LoginFailure model (unique key, no TTL), not from the library.
    const limiter = (keyPrefix: string, points: number) =>
      new RateLimiterMongo({ storeClient: db, tableName: LoginFailure.collection.collectionName, keyPrefix, points, duration: limits.windowMinutes * 60, disableIndexesCreation: true });
    this.limiters = {
      account: { limiter: limiter('login-account', limits.maxFailures), max: limits.maxFailures },
      address: { limiter: limiter('login-address', limits.maxFailuresPerAddress), max: limits.maxFailuresPerAddress },
    };
    this.sweep = setInterval(() => void this.deleteExpired().catch(() => undefined), SWEEP_MS);
    this.sweep.unref();
  }

  /** The lockout in force for this account or address, the account's first. */
  async lockoutOf(username: string, address: string): Promise<Lockout | undefined> {
    for (const [scope, key] of this.keys(username, address)) {
      const { limiter, max } = this.limiters[scope];
      const res = await limiter.get(key);
      // A lockout is a counter blocked at max + 1; a counter at max is one whose lockout is being set just now.
      if (res && res.consumedPoints >= max) return this.lockout(scope, key, res);
    }
    return undefined;
  }

  /** Counts a failed login; returns the lockouts it started (recorded for the monitoring centre). */
  async failed(username: string, address: string): Promise<Lockout[]> {
    const started: Lockout[] = [];
    for (const [scope, key] of this.keys(username, address)) {
      const { limiter, max } = this.limiters[scope];
      const res = await limiter.penalty(key);
      // The $inc is atomic: of failures arriving together exactly one reaches max and starts the lockout.
      if (res.consumedPoints !== max) continue;
      const blocked = await limiter.block(key, this.limits.lockoutMinutes * 60);
      const lockout = this.lockout(scope, key, blocked, max);
      await LoginLockout.create({ until: lockout.until, scope, key, failures: max, ip: address, username });
      started.push(lockout);
    }
    return started;
  }

  /** A successful login clears the account's count. */
  async succeeded(username: string): Promise<void> {
    await this.limiters.account.limiter.delete(username);
  }

  /** Lockouts of the last LOCKOUT_ALERT_HOURS, newest first. */
  recentLockouts(now = new Date()) {
    return LoginLockout.find({ at: { $gte: new Date(now.getTime() - LOCKOUT_ALERT_HOURS * 3600_000) } })
      .sort({ at: -1 })
      .lean();
  }

  stop(): void {
    clearInterval(this.sweep);
  }

  async deleteExpired(now = new Date()): Promise<void> {
    await LoginFailure.deleteMany({ expire: { $lt: now } });
    await LoginLockout.deleteMany({ at: { $lt: new Date(now.getTime() - LOCKOUT_ALERT_HOURS * 3600_000) } });
  }

  private keys(username: string, address: string): Array<[LockoutScope, string]> {
    // An empty username (a form posted without one) counts against its address only.
    return username ? [['account', username], ['address', address]] : [['address', address]];
  }

  private lockout(scope: LockoutScope, key: string, res: RateLimiterRes, failures = this.limiters[scope].max): Lockout {
    return { scope, key, failures, until: new Date(Date.now() + res.msBeforeNext) };
  }
}
