/**
 * One way for a controller to do something on the chain on a user's behalf: run it, record the
 * action in the audit log (业务监控) whether or not it succeeded, wait until the projections show
 * it, and flash the outcome. A refusal comes back as a ChainError with a readable message.
 */
import mongoose from 'mongoose';
import type { Request, Response } from 'express';
import { AuditEntry } from '../models/activity';
import { ChainError, type Submitted } from '../services/chain';
import { platformOf } from '../platform';
import type { Translate } from '../i18n';
import { fieldLabel, translateRefusal } from '../i18n/refusals';

export async function act<T>(req: Request, action: string, target: string, work: () => Promise<Submitted<T>>): Promise<Submitted<T>> {
  const user = req.user!;
  const entry = { userId: user.id, username: user.username, role: user.role, orgId: user.orgId, action, target, ip: req.ip };
  let done: Submitted<T>;
  try {
    done = await work();
  } catch (err) {
    // The platform's own faults (its database unreachable, say) are not the chain's refusal: they reach the
    // error handler as a server error instead of being shown as "the chaincode failed".
    if (err instanceof mongoose.mongo.MongoError) throw err;
    const chainError = ChainError.from(err);
    await AuditEntry.create({ ...entry, ok: false, message: chainError.message, txId: chainError.txId });
    throw chainError;
  }
  // Committed: whatever fails from here on, the transaction stands and is projected from the chain anyway. The
  // error page then says so (app.ts): "not completed" would send the user to do it a second time.
  if (req.res) req.res.locals.committed = { block: done.blockNumber, txId: done.txId };
  await AuditEntry.create({ ...entry, ok: true, txId: done.txId });
  // Only the sets have projections to wait for (a registry write: set 1's stands for all).
  const { projector } = platformOf(req);
  if (projector.bySet.has(done.channel)) await projector.settled(done.txId, done.blockNumber, undefined, done.channel);
  return done;
}

/** Record an off-chain action (user management, uploads, reports) in the same audit log. */
export async function audit(req: Request, action: string, target: string, ok = true, message?: string): Promise<void> {
  const user = req.user;
  await AuditEntry.create({ userId: user?.id, username: user?.username, role: user?.role, orgId: user?.orgId, action, target, ok, message, ip: req.ip });
}

/** A form field's text, trimmed; '' when it is missing or not a single value. */
export function formText(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  return typeof v === 'string' ? v.trim() : '';
}

export function flash(req: Request, kind: 'success' | 'danger' | 'warning' | 'info', text: string): void {
  req.session.flash = [...(req.session.flash ?? []), { kind, text }];
}

/** The message a person sees for a refused action: what kind of refusal, then the chain's own words. */
export function refusal(res: Response, err: unknown): string {
  const t = res.locals.t as Translate;
  if (err instanceof FormError) return err.translated(t);
  // Not a refusal but the platform's own fault: the error page (500), not a form message.
  if (err instanceof mongoose.mongo.MongoError) throw err;
  const e = ChainError.from(err);
  // The chain answers in English with field paths; the reader gets the form's field names in their language.
  return t('refusal.withField', { field: t(`error.chain.${e.code}`), text: translateRefusal(t, e.message) });
}

/**
 * Bad form input caught before anything is sent to the chain. Thrown where no translator is at hand (money.ts,
 * files.ts) it carries a message key and the form field it is about, and refusal() words it for the reader.
 */
export class FormError extends Error {
  override name = 'FormError';

  constructor(
    message: string,
    /** field: a form input's name (mapped by i18n/refusals.ts); label: the key of its label; name: shown as it is */
    readonly detail?: { key: string; field?: string; label?: string; name?: string; vars?: Record<string, string | number> },
  ) {
    super(message);
  }

  translated(t: Translate): string {
    if (!this.detail) return this.message;
    const text = t(this.detail.key, this.detail.vars);
    const { field: input, label, name } = this.detail;
    const field = label ? t(label) : input ? (fieldLabel(t, input) ?? input) : name;
    return field ? t('refusal.withField', { field, text }) : text;
  }
}
