/**
 * Documents and evidence (thesis 6.3.1.1 storage centre): the bytes stay off-chain under the upload
 * folder, named by their SHA-256, which is what goes on the chain. Files are hashed in memory first
 * and written only after the chain has accepted the transaction that references them, so a refused
 * form leaves nothing behind.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import multer from 'multer';
import type { Request, Response, NextFunction } from 'express';
import { StoredFile } from '../models/activity';
import { FormError } from '../controllers/act';
import { platformOf } from '../platform';

/** What may be uploaded: documents, images and short videos (thesis: 文档、图片、视频). */
const ALLOWED = new Map<string, string[]>([
  ['.pdf', ['application/pdf']],
  ['.jpg', ['image/jpeg']],
  ['.jpeg', ['image/jpeg']],
  ['.png', ['image/png']],
  ['.doc', ['application/msword']],
  ['.docx', ['application/vnd.openxmlformats-officedocument.wordprocessingml.document']],
  ['.xls', ['application/vnd.ms-excel']],
  ['.xlsx', ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet']],
  ['.mp4', ['video/mp4']],
  ['.txt', ['text/plain']],
]);

export interface PendingFile {
  name: string;
  sha256: string;
  size: number;
  mediaType: string;
  buffer: Buffer;
}

/** Multer in memory with the size and type limits; its errors become form errors on req. */
export function uploads(field: string, maxCount: number) {
  return (req: Request, res: Response, next: NextFunction) => {
    const upload = multer({
      storage: multer.memoryStorage(),
      limits: { fileSize: platformOf(req).config.maxUploadBytes, files: maxCount, fields: 200 },
      fileFilter: (_req, file, accept) => {
        const ext = path.extname(file.originalname).toLowerCase();
        const types = ALLOWED.get(ext);
        if (!types || !types.includes(file.mimetype)) {
          const allowed = [...ALLOWED.keys()].join(' ');
          return accept(new FormError(`${file.originalname}: files of this type are not accepted (allowed: ${allowed})`, { key: 'refusal.upload.type', vars: { name: file.originalname, allowed } }));
        }
        accept(null, true);
      },
    }).array(field, maxCount);
    upload(req, res, (err: unknown) => {
      if (err instanceof multer.MulterError) {
        const limit = Math.round(platformOf(req).config.maxUploadBytes / 1024 / 1024);
        res.locals.uploadError =
          err.code === 'LIMIT_FILE_SIZE'
            ? new FormError(`a file is larger than ${limit} MB`, { key: 'refusal.upload.size', vars: { limit } })
            : err.code === 'LIMIT_FILE_COUNT'
              ? new FormError(`at most ${maxCount} files`, { key: 'refusal.upload.count', vars: { max: maxCount } })
              : new FormError(err.message);
      } else if (err) {
        res.locals.uploadError = err instanceof FormError ? err : new FormError((err as Error).message);
      }
      next();
    });
  };
}

/** The uploaded files of a request, hashed, or the upload's error as a FormError. */
export function pendingFiles(req: Request, res: Response): PendingFile[] {
  if (res.locals.uploadError) throw res.locals.uploadError as FormError;
  const files = (req.files as Express.Multer.File[] | undefined) ?? [];
  return files
    .filter((f) => f.size > 0)
    .map((f) => ({
      // multer reads names as latin1; browsers send UTF-8.
      name: Buffer.from(f.originalname, 'latin1').toString('utf8').slice(0, 200),
      sha256: crypto.createHash('sha256').update(f.buffer).digest('hex'),
      size: f.size,
      mediaType: f.mimetype,
      buffer: f.buffer,
    }));
}

export function documentRefs(files: PendingFile[]) {
  return files.map(({ name, sha256, size, mediaType }) => ({ name, sha256, size, mediaType }));
}

/** Keep the files once the chain has their hashes. Content-addressed: the same file twice is stored once. */
export async function keepFiles(req: Request, files: PendingFile[]): Promise<void> {
  const dir = platformOf(req).config.uploadDir;
  await fs.promises.mkdir(dir, { recursive: true });
  for (const f of files) {
    const target = path.join(dir, f.sha256);
    if (!fs.existsSync(target)) {
      // A temporary name of its own: two users keeping the same file at once must not rename one temporary file
      // twice (the second rename failed with ENOENT). Renaming over a copy that landed meanwhile is harmless: same bytes.
      const tmp = `${target}.${crypto.randomUUID()}.tmp`;
      await fs.promises.writeFile(tmp, f.buffer);
      await fs.promises.rename(tmp, target);
    }
    await StoredFile.updateOne(
      { _id: f.sha256 },
      { $setOnInsert: { name: f.name, size: f.size, mime: f.mediaType, path: target, uploadedBy: req.user?.username } },
      { upsert: true },
    );
  }
}

/** Re-hash a stored file: does it still match the hash on the chain? */
export async function checkFile(sha256: string): Promise<{ stored: boolean; intact: boolean }> {
  const file = await StoredFile.findById(sha256).lean();
  if (!file?.path || !fs.existsSync(file.path)) return { stored: false, intact: false };
  const actual = crypto.createHash('sha256').update(await fs.promises.readFile(file.path)).digest('hex');
  return { stored: true, intact: actual === sha256 };
}
