/**
 * Secrets with safe defaults: SESSION_SECRET and WALLET_KEY from the environment, otherwise random
 * values generated once and kept in <dataDir>/secrets.json (mode 0600), so sessions and wallets
 * survive a restart without anyone having to invent a password.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Secrets {
  sessionSecret: string;
  /** 32 bytes for AES-256-GCM over users' private keys */
  walletKey: Buffer;
}

export function loadSecrets(dataDir: string, env: NodeJS.ProcessEnv = process.env): Secrets {
  const file = path.join(dataDir, 'secrets.json');
  let stored: { sessionSecret?: string; walletKey?: string } = {};
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!stored.sessionSecret || !stored.walletKey) {
    stored = { sessionSecret: crypto.randomBytes(32).toString('hex'), walletKey: crypto.randomBytes(32).toString('hex'), ...stored };
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(stored), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  }
  const walletKey = env.WALLET_KEY ? crypto.createHash('sha256').update(env.WALLET_KEY).digest() : Buffer.from(stored.walletKey!, 'hex');
  return { sessionSecret: env.SESSION_SECRET || stored.sessionSecret!, walletKey };
}

/** AES-256-GCM: iv.tag.ciphertext, base64. */
export function seal(key: Buffer, plaintext: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64')).join('.');
}

export function unseal(key: Buffer, sealed: string): string {
  const [iv, tag, body] = sealed.split('.').map((p) => Buffer.from(p, 'base64'));
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
}

/** Passwords: scrypt with a random salt, compared in constant time. */
export function hashPassword(password: string): string {
  const salt = crypto.randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${crypto.scryptSync(password, salt, 32).toString('base64')}`;
}

export function checkPassword(password: string, stored: string): boolean {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = crypto.scryptSync(password, Buffer.from(salt, 'base64'), expected.length);
  return crypto.timingSafeEqual(actual, expected);
}

/** A bank API token's stored form. */
export function tokenHash(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
