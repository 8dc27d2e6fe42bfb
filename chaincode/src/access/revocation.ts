import { createHash } from 'crypto';
import { z } from 'zod';
import { FundContext } from '../ledger/context';
import { conflict, denied, invalid } from '../ledger/errors';
import { text } from '../ledger/validation';

/**
 * Certificate revocation (证书吊销), held on the chain so every peer of both ledgers refuses a revoked certificate the
 * same way: a user who leaves, or whose key may have leaked, is revoked by the administrator; a user who stays gets a
 * new certificate (rotation) and the old one is revoked. A revoked certificate is refused by every transaction's
 * access check, whatever its MSP still says about it.
 */
export interface Revocation {
  fingerprint: string;
  reason: string;
  revokedBy: string;
  at: string;
  txId: string;
}

const revocations = (ctx: FundContext) => ctx.store<Revocation>('RevokedCertificate');

const FINGERPRINT = /^[0-9a-f]{64}$/;

export const revocationSchema = z
  .strictObject({
    /** The certificate in PEM, or its SHA-256 fingerprint (of the DER) in lower-case hex. */
    certificate: z.string('certificate must be a PEM string').max(8192, 'certificate must be at most 8192 characters').optional(),
    fingerprint: z.string('fingerprint must be a string').regex(FINGERPRINT, 'fingerprint must be a SHA-256 digest in lower-case hex (64 characters)').optional(),
    reason: text('reason', 1000, 5),
  })
  .refine((r) => (r.certificate === undefined) !== (r.fingerprint === undefined), { message: 'give either the certificate or its fingerprint', path: ['certificate'] });

/** Fingerprints by PEM text: the same few certificates sign almost every transaction. A pure function of its key. */
const fingerprints = new Map<string, string>();

/** SHA-256 of the certificate's DER, as `openssl x509 -fingerprint -sha256` shows it (without colons, lower case). */
export function certificateFingerprint(pem: string): string {
  let fingerprint = fingerprints.get(pem);
  if (fingerprint === undefined) {
    const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
    if (!body) throw invalid('certificate: not a PEM-encoded X.509 certificate');
    fingerprint = createHash('sha256').update(Buffer.from(body.replace(/\s+/g, ''), 'base64')).digest('hex');
    if (fingerprints.size >= 1024) fingerprints.clear();
    fingerprints.set(pem, fingerprint);
  }
  return fingerprint;
}

export function callerFingerprint(ctx: FundContext): string {
  return certificateFingerprint(Buffer.from(ctx.clientIdentity.getIDBytes()).toString('utf8'));
}

/** Refuse the caller when its certificate was revoked. Read on every transaction, so a revocation also fails the calls in flight. */
export async function requireNotRevoked(ctx: FundContext): Promise<void> {
  const revoked = await revocations(ctx).get(callerFingerprint(ctx));
  if (revoked) throw denied(`the caller's certificate ${revoked.fingerprint.slice(0, 16)}… was revoked at ${revoked.at} by ${revoked.revokedBy}: ${revoked.reason}`);
}

export async function revokeCertificate(ctx: FundContext, by: string, input: z.output<typeof revocationSchema>): Promise<Revocation> {
  const fingerprint = input.fingerprint ?? certificateFingerprint(input.certificate!);
  if (fingerprint === callerFingerprint(ctx)) throw invalid('certificate: the administrator cannot revoke the certificate it is calling with');
  const existing = await revocations(ctx).get(fingerprint);
  if (existing) throw conflict(`certificate ${fingerprint.slice(0, 16)}… was already revoked at ${existing.at}`);
  const revocation: Revocation = { fingerprint, reason: input.reason, revokedBy: by, at: ctx.nowIso, txId: ctx.txId };
  await revocations(ctx).put(revocation, fingerprint);
  ctx.emit('CertificateRevoked', { fingerprint, reason: input.reason, by });
  return revocation;
}

export async function revocationOf(ctx: FundContext, fingerprint: string): Promise<Revocation | undefined> {
  return revocations(ctx).get(fingerprint);
}

export async function listRevocations(ctx: FundContext): Promise<Revocation[]> {
  return revocations(ctx).list();
}
